package serial

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// split feeds data to a fresh splitter in chunks of size chunk and returns the lines and
// the number of over-long lines reported.
func split(sep []byte, limit int, data []byte, chunk int) (lines []string, long int, maxPending int) {
	s := splitter{sep: sep, max: limit}
	for len(data) > 0 {
		n := min(chunk, len(data))
		s.feed(data[:n], func(l []byte) { lines = append(lines, string(l)) }, func(int) { long++ })
		data = data[n:]
		maxPending = max(maxPending, s.pending())
	}
	return lines, long, maxPending
}

func TestSplitterChunkingDoesNotMatter(t *testing.T) {
	data := []byte("ab;;cdef;;" + string(bytes.Repeat([]byte("x"), 25)) + ";;gh;ij;;k")
	want, wantLong := []string{"ab", "cdef", "gh;ij"}, 1
	for chunk := 1; chunk <= len(data); chunk++ {
		got, long, pending := split([]byte(";;"), 10, data, chunk)
		if !slices.Equal(got, want) || long != wantLong || pending > 10+1 {
			t.Errorf("chunk %d: %q (%d long, %d pending), want %q (%d long)", chunk, got, long, pending, want, wantLong)
		}
	}
}

func TestSplitter(t *testing.T) {
	for _, tc := range []struct {
		sep, data string
		max       int
		want      string
		long      int
	}{
		{"\n", "a\nbb\n\nccc", 10, "[a bb ]", 0},
		{"\n", "0123456789\n01234567890\nok\n", 10, "[0123456789 ok]", 1},
		{"\r\n", "a\rb\r\nc\r\n", 10, "[a\rb c]", 0},
		{"END", "xENDyEN", 10, "[x]", 0},
	} {
		for chunk := 1; chunk <= len(tc.data); chunk++ {
			got, long, _ := split([]byte(tc.sep), tc.max, []byte(tc.data), chunk)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", splitWant(tc.want)) || long != tc.long {
				t.Errorf("%q by %d: %q, %d long; want %s, %d long", tc.data, chunk, got, long, tc.want, tc.long)
			}
		}
	}
}

func splitWant(s string) []string {
	s = s[1 : len(s)-1]
	if s == "" {
		return nil
	}
	return bytes2str(bytes.Split([]byte(s), []byte(" ")))
}

func bytes2str(b [][]byte) []string {
	var out []string
	for _, x := range b {
		out = append(out, string(x))
	}
	return out
}

// discardEmitter takes records without keeping them.
type discardEmitter struct{ n int }

func (d *discardEmitter) Emit(string, event.Event) error    { d.n++; return nil }
func (d *discardEmitter) EmitRaw(string, []byte, int) error { return nil }
func (d *discardEmitter) Paused() bool                      { return false }

// FuzzLines feeds arbitrary bytes, in arbitrary chunks, through the splitter and the line
// handling of both formats: no panic, no line with the separator or over the limit, memory
// bounded, the same lines however the bytes are chunked.
func FuzzLines(f *testing.F) {
	f.Add([]byte("one\ntwo\r\n{\"a\":1}\n\xff\xfe\n"), []byte("\n"), uint8(3), uint8(16))
	f.Add([]byte(`{"a":[1,{"b":null}]};{"c":"\u00e9"};x`), []byte(";"), uint8(1), uint8(64))
	f.Add(bytes.Repeat([]byte("z"), 300), []byte("\r\n"), uint8(7), uint8(20))
	f.Fuzz(func(t *testing.T, data, sep []byte, chunk, limit uint8) {
		if len(sep) == 0 || len(sep) > 4 || chunk == 0 || limit == 0 {
			return
		}
		max := int(limit)
		whole, wholeLong, _ := split(sep, max, data, len(data)+1)
		got, long, pending := split(sep, max, data, int(chunk))
		if !slices.Equal(got, whole) || long != wholeLong {
			t.Fatalf("chunks of %d: %q (%d long); whole: %q (%d long)", chunk, got, long, whole, wholeLong)
		}
		if pending > max+len(sep) {
			t.Fatalf("held %d bytes, limit %d", pending, max)
		}
		for _, l := range got {
			if len(l) > max || bytes.Contains([]byte(l), sep) {
				t.Fatalf("line %q: over %d or holding the separator %q", l, max, sep)
			}
		}
		for _, json := range []bool{false, true} {
			in := &Input{sep: sep, json: json, rep: reporter{log: slog.New(slog.DiscardHandler)}}
			var d discardEmitter
			for _, l := range got {
				if err := in.line(&d, []byte(l)); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
