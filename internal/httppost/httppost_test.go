package httppost

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// How answers become outcomes: this checks our reading of status codes and Retry-After, so
// a net/http server that answers a given status is all it needs.
func TestAnswers(t *testing.T) {
	var status int
	var retryAfter string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		w.Write([]byte("because"))
	}))
	defer srv.Close()
	c := New(srv.URL, http.Header{}, nil, time.Second, 5*time.Second)
	defer c.CloseIdle()
	hint := func(code int) string {
		if code == 404 {
			return "check database"
		}
		return ""
	}
	for _, tc := range []struct {
		status      int
		retryAfter  string
		retry, fail bool
		contains    string
	}{
		{204, "", false, false, ""},
		{429, "7", true, true, "429"},
		{503, "", true, true, "because"},
		{408, "", true, true, "408"},
		{404, "", false, true, "check database"},
		{400, "", false, true, "because"},
		{301, "", false, true, "301"},
	} {
		status, retryAfter = tc.status, tc.retryAfter
		err := c.Post(context.Background(), "x", []byte("body"), hint)
		if (err != nil) != tc.fail || pipeline.IsRetry(err) != tc.retry || (err != nil && !strings.Contains(err.Error(), tc.contains)) {
			t.Errorf("%d: got %v (retry %v), want fail %v retry %v containing %q", tc.status, err, pipeline.IsRetry(err), tc.fail, tc.retry, tc.contains)
		}
	}
	// A dead port is a retry.
	dead := New("http://127.0.0.1:1/", nil, nil, time.Second, time.Second)
	if err := dead.Post(context.Background(), "x", nil, nil); !pipeline.IsRetry(err) || errors.Unwrap(err) == nil {
		t.Errorf("dead port: %v, want a retry", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v  string
		d  time.Duration
		ok bool
	}{
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{"99999999999", 30 * 24 * time.Hour, true},
		{"Sat, 05 Dec 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sat, 05 Dec 2026 11:00:00 GMT", 0, true},
	} {
		d, ok := RetryAfter(tc.v, now)
		if d != tc.d || ok != tc.ok {
			t.Errorf("%q: got %v %v, want %v %v", tc.v, d, ok, tc.d, tc.ok)
		}
	}
}
