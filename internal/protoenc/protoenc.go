// Package protoenc appends protocol buffer wire-format fields to a byte slice: the few
// primitives the outputs that hand-encode a server's messages (loki's PushRequest,
// opentelemetry's OTLP requests) need. It knows no schema and does not decode; messages
// are built inside out (a nested message is encoded into a scratch slice, then appended
// as a length-delimited field).
package protoenc

import (
	"encoding/binary"
	"math"
)

// Wire types.
const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

// Tag appends a field's key.
func Tag(dst []byte, field, wire int) []byte {
	return binary.AppendUvarint(dst, uint64(field)<<3|uint64(wire))
}

// Bytes appends a length-delimited field (bytes, or an encoded message).
func Bytes(dst []byte, field int, b []byte) []byte {
	dst = Tag(dst, field, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// String appends a string field.
func String(dst []byte, field int, s string) []byte {
	dst = Tag(dst, field, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Uvarint appends a varint field (uint32, uint64, bool, enum, and int32/int64 that are
// never negative).
func Uvarint(dst []byte, field int, v uint64) []byte {
	dst = Tag(dst, field, wireVarint)
	return binary.AppendUvarint(dst, v)
}

// Int64 appends an int64 (or int32) field as protobuf does: a negative number is ten bytes.
func Int64(dst []byte, field int, v int64) []byte {
	return Uvarint(dst, field, uint64(v))
}

// Bool appends a bool field.
func Bool(dst []byte, field int, v bool) []byte {
	b := uint64(0)
	if v {
		b = 1
	}
	return Uvarint(dst, field, b)
}

// Fixed64 appends a fixed64 (or sfixed64) field.
func Fixed64(dst []byte, field int, v uint64) []byte {
	dst = Tag(dst, field, wire64)
	return binary.LittleEndian.AppendUint64(dst, v)
}

// Fixed32 appends a fixed32 field.
func Fixed32(dst []byte, field int, v uint32) []byte {
	dst = Tag(dst, field, wire32)
	return binary.LittleEndian.AppendUint32(dst, v)
}

// Double appends a double field.
func Double(dst []byte, field int, v float64) []byte {
	return Fixed64(dst, field, math.Float64bits(v))
}

// Message appends field as a length-delimited message whose body build appends to its
// argument; scratch is reused as the body's buffer and returned for the next call.
func Message(dst []byte, field int, scratch []byte, build func([]byte) []byte) (_, _ []byte) {
	scratch = build(scratch[:0])
	return Bytes(dst, field, scratch), scratch
}

// Begin starts a length-delimited field whose body the caller appends next, in place:
// it appends the field's key and returns the mark End needs. Nested messages are written
// straight into one buffer this way, without a scratch slice per level.
func Begin(dst []byte, field int) ([]byte, int) {
	dst = Tag(dst, field, wireBytes)
	return dst, len(dst)
}

// End closes the field Begin opened at mark: it moves the body up to put its length
// before it (one copy of the body; a body under 128 bytes moves by one byte).
func End(dst []byte, mark int) []byte {
	n := len(dst) - mark
	var lb [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lb[:], uint64(n))
	dst = append(dst, lb[:k]...)
	copy(dst[mark+k:], dst[mark:mark+n])
	copy(dst[mark:], lb[:k])
	return dst
}
