package http

import (
	"testing"
	"time"
)

// FuzzRetryAfter: any Retry-After value gives a non-negative delay or none, never a panic.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"7", "0", "-1", "Mon, 01 Jan 2024 00:00:30 GMT", "soon", "99999999999999999999", " 3 "} {
		f.Add(s)
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := retryAfter(v, now); d < 0 || (!ok && d != 0) {
			t.Fatalf("retryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
