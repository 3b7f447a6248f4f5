package multiline

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// FuzzStream: whatever the lines, every line comes out once, in order, in some message
// (empty lines aside: Fluent Bit's joining may fold them).
func FuzzStream(f *testing.F) {
	f.Add([]byte("Traceback (most recent call last):\n  File \"x\", line 1\n    f()\n    ^^^\nValueError: x\nnext"))
	f.Add([]byte("panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:1\n"))
	f.Add([]byte("a.B: Exception: x\n\tat a(B.java:1)\nCaused by: x.YError: y\n\t... 3 more\n\nafter"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps := []*Parser{}
		for _, n := range []string{"go", "python", "java"} {
			p, _ := Builtin(n)
			ps = append(ps, p)
		}
		s := NewStream(ps, 1<<10)
		lines := bytes.Split(data, []byte("\n"))
		var out [][]byte
		for i, ln := range lines {
			for _, m := range s.Feed(ln, int64(i), time.Time{}) {
				out = append(out, m.Text)
			}
		}
		if m, ok := s.Flush(time.Time{}, true); ok {
			out = append(out, m.Text)
		}
		var got, want [][]byte
		for _, m := range out {
			for _, l := range bytes.Split(m, []byte("\n")) {
				if len(l) > 0 {
					got = append(got, l)
				}
			}
		}
		for _, l := range lines {
			if len(l) > 0 {
				want = append(want, l)
			}
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("lines %q\nmessages %q", lines, out)
		}
	})
}
