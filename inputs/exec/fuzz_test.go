package exec

import (
	"bytes"
	"testing"
)

// FuzzReadLines: the command's output, cut into lines of at most buf_size-1 bytes as
// fgets cuts it, loses and adds nothing, and a "\n" only ends a line.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a\nb\n\nlast"), uint16(4096))
	f.Add([]byte("abcdefgh\nxy\n"), uint16(5))
	f.Add([]byte("\n\n\n"), uint16(2))
	f.Fuzz(func(t *testing.T, out []byte, bufSize uint16) {
		limit := int(bufSize%8192) + 1
		var got [][]byte
		err := readLines(bytes.NewReader(out), limit, func(l []byte) error {
			got = append(got, bytes.Clone(l))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if joined := bytes.Join(got, nil); !bytes.Equal(joined, out) {
			t.Fatalf("lines %q joined are %q, want %q", got, joined, out)
		}
		for i, l := range got {
			if len(l) == 0 || len(l) > limit {
				t.Fatalf("line %d %q: length %d, want 1 to %d", i, l, len(l), limit)
			}
			if k := bytes.IndexByte(l, '\n'); k >= 0 && k != len(l)-1 {
				t.Fatalf("line %d %q has a newline inside", i, l)
			}
			if i < len(got)-1 && l[len(l)-1] != '\n' && len(l) != limit {
				t.Fatalf("line %d %q ends without a newline before the limit", i, l)
			}
		}
	})
}
