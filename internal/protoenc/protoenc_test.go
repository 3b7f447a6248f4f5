package protoenc

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Every primitive decodes with the protobuf module's own wire reader.
func TestAgreesWithProtowire(t *testing.T) {
	var b []byte
	b = String(b, 1, "héllo")
	b = Uvarint(b, 2, 300)
	b = Int64(b, 3, -5)
	b = Bool(b, 4, true)
	b = Fixed64(b, 5, 1<<60)
	b = Fixed32(b, 6, 7)
	b = Double(b, 7, 2.5)
	b, _ = Message(b, 8, nil, func(m []byte) []byte { return String(m, 1, "in") })
	var mark int
	b, mark = Begin(b, 9)
	b = String(b, 1, strings.Repeat("x", 200)) // a body over 127 bytes: a 2-byte length
	b = End(b, mark)
	type field struct {
		num protowire.Number
		typ protowire.Type
	}
	var got []any
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal(protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.BytesType:
			s, m := protowire.ConsumeBytes(b)
			v, n = string(s), m
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			v, n = protowire.ConsumeFixed32(b)
		}
		if n < 0 {
			t.Fatal(protowire.ParseError(n))
		}
		b = b[n:]
		got = append(got, field{num, typ}, v)
	}
	want := []any{
		field{1, protowire.BytesType}, "héllo",
		field{2, protowire.VarintType}, uint64(300),
		field{3, protowire.VarintType}, uint64(math.MaxUint64 - 4),
		field{4, protowire.VarintType}, uint64(1),
		field{5, protowire.Fixed64Type}, uint64(1 << 60),
		field{6, protowire.Fixed32Type}, uint32(7),
		field{7, protowire.Fixed64Type}, math.Float64bits(2.5),
		field{8, protowire.BytesType}, "\x0a\x02in",
		field{9, protowire.BytesType}, "\x0a\xc8\x01" + strings.Repeat("x", 200),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
