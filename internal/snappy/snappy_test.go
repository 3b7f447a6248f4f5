package snappy

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	cases := [][]byte{
		nil, []byte("a"), []byte("abcd"), []byte("abcdabcdabcdabcdabcdabcd"),
		[]byte(strings.Repeat("cpu_local_cpu_p{host=\"pi\"} 12.5\n", 5000)),
		bytes.Repeat([]byte{0}, 200000),
	}
	r := uint32(1)
	rnd := make([]byte, 150000)
	for i := range rnd {
		r = r*1664525 + 1013904223
		rnd[i] = byte(r >> 24)
	}
	cases = append(cases, rnd)
	for _, c := range cases {
		enc := Encode(nil, c)
		if len(enc) > MaxEncodedLen(len(c)) {
			t.Errorf("len %d: encoded %d bytes, over MaxEncodedLen %d", len(c), len(enc), MaxEncodedLen(len(c)))
		}
		dec, err := Decode(enc, len(c))
		if err != nil || !bytes.Equal(dec, c) {
			t.Fatalf("len %d: round trip failed: %v", len(c), err)
		}
	}
	// Repetitive text must actually shrink.
	text := []byte(strings.Repeat("cpu_local_cpu_p{host=\"pi\"} 12.5\n", 5000))
	if n := len(Encode(nil, text)); n > len(text)/10 {
		t.Errorf("repetitive %d bytes encoded to %d: no compression", len(text), n)
	}
}

// A known vector from the reference implementation's format description: a literal then a
// copy with a 1-byte offset must decode.
func TestDecodeCopy1(t *testing.T) {
	// "abcd" literal then copy length 4 offset 4 (tag 1): "abcdabcd".
	src := []byte{8, 3 << 2, 'a', 'b', 'c', 'd', 0<<5 | 0<<2 | 1, 4}
	got, err := Decode(src, 100)
	if err != nil || string(got) != "abcdabcd" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := Decode(src, 4); err == nil {
		t.Error("a block over maxLen decoded")
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello hello hello hello"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := Decode(Encode(nil, b), len(b))
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("round trip of %d bytes: %v", len(b), err)
		}
		_, _ = Decode(b, 1<<20) // never panics on arbitrary input
	})
}
