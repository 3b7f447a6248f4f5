// Package event is the record that flows through the agent: a timestamp, an optional metadata
// map and a record map, with its msgpack wire form (the Fluentd forward protocol's entry).
//
// An entry is encoded as [EventTime, record] (the classic form) or, when the event carries
// metadata, as [[EventTime, metadata], record] (Fluent Bit's v2 event format). Chunks are
// concatenations of entries, so a chunk's bytes go out on the wire as they are. This package
// does not know about tags, routing or buffering.
package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Event is one record with its time. Metadata is nil for classic entries. Record and Metadata
// keep their keys in the order they came (see Map).
type Event struct {
	Time     time.Time
	Metadata Map
	Record   Map
}

// Ext is a msgpack extension value other than EventTime, kept as it came.
type Ext struct {
	Type int8
	Data []byte
}

// EventTimeExtType is the msgpack extension type of the forward protocol's EventTime.
const EventTimeExtType = 0

// maxDepth bounds nesting when decoding, so hostile input cannot exhaust the stack.
const maxDepth = 64

// ErrShort means the buffer ended inside a value.
var ErrShort = errors.New("event: truncated msgpack")

// AppendTime appends t as an EventTime (fixext8, type 0: big-endian seconds and nanoseconds).
func AppendTime(dst []byte, t time.Time) []byte {
	var b [10]byte
	b[0] = 0xd7
	b[1] = EventTimeExtType
	sec := min(max(t.Unix(), 0), math.MaxUint32) // EventTime holds 1970 to 2106; clamp, never wrap
	binary.BigEndian.PutUint32(b[2:], uint32(sec))
	binary.BigEndian.PutUint32(b[6:], uint32(t.Nanosecond()))
	return append(dst, b[:]...)
}

// AppendEntry appends ev as one forward-protocol entry.
func AppendEntry(dst []byte, ev *Event) ([]byte, error) {
	dst = msgp.AppendArrayHeader(dst, 2)
	if ev.Metadata != nil {
		dst = msgp.AppendArrayHeader(dst, 2)
		dst = AppendTime(dst, ev.Time)
		var err error
		if dst, err = AppendOrderedMap(dst, ev.Metadata); err != nil {
			return dst, err
		}
	} else {
		dst = AppendTime(dst, ev.Time)
	}
	return AppendOrderedMap(dst, ev.Record)
}

// AppendMap appends a Go map (in Go's map order: use a Map where order matters).
func AppendMap(dst []byte, m map[string]any) ([]byte, error) {
	dst = msgp.AppendMapHeader(dst, uint32(len(m)))
	var err error
	for k, v := range m {
		dst = msgp.AppendString(dst, k)
		if dst, err = AppendValue(dst, v); err != nil {
			return dst, fmt.Errorf("key %q: %w", k, err)
		}
	}
	return dst, nil
}

// AppendValue appends one value. It takes the types ReadValue returns plus the other Go
// integer, float and slice types a plugin is likely to build.
func AppendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return msgp.AppendNil(dst), nil
	case string:
		return msgp.AppendString(dst, x), nil
	case []byte:
		return msgp.AppendBytes(dst, x), nil
	case bool:
		return msgp.AppendBool(dst, x), nil
	case int64:
		return msgp.AppendInt64(dst, x), nil
	case int:
		return msgp.AppendInt64(dst, int64(x)), nil
	case int32:
		return msgp.AppendInt64(dst, int64(x)), nil
	case int16:
		return msgp.AppendInt64(dst, int64(x)), nil
	case int8:
		return msgp.AppendInt64(dst, int64(x)), nil
	case uint64:
		return msgp.AppendUint64(dst, x), nil
	case uint:
		return msgp.AppendUint64(dst, uint64(x)), nil
	case uint32:
		return msgp.AppendUint64(dst, uint64(x)), nil
	case uint16:
		return msgp.AppendUint64(dst, uint64(x)), nil
	case uint8:
		return msgp.AppendUint64(dst, uint64(x)), nil
	case float64:
		return msgp.AppendFloat64(dst, x), nil
	case float32:
		return msgp.AppendFloat64(dst, float64(x)), nil
	case time.Time:
		return AppendTime(dst, x), nil
	case Ext:
		return msgp.AppendExtension(dst, &rawExt{x})
	case Map:
		return AppendOrderedMap(dst, x)
	case map[string]any:
		return AppendMap(dst, x)
	case map[string]string:
		dst = msgp.AppendMapHeader(dst, uint32(len(x)))
		for k, s := range x {
			dst = msgp.AppendString(msgp.AppendString(dst, k), s)
		}
		return dst, nil
	case []any:
		dst = msgp.AppendArrayHeader(dst, uint32(len(x)))
		var err error
		for i := range x {
			if dst, err = AppendValue(dst, x[i]); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []string:
		dst = msgp.AppendArrayHeader(dst, uint32(len(x)))
		for _, s := range x {
			dst = msgp.AppendString(dst, s)
		}
		return dst, nil
	case []map[string]any:
		dst = msgp.AppendArrayHeader(dst, uint32(len(x)))
		var err error
		for _, m := range x {
			if dst, err = AppendMap(dst, m); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case []Map:
		dst = msgp.AppendArrayHeader(dst, uint32(len(x)))
		var err error
		for _, m := range x {
			if dst, err = AppendOrderedMap(dst, m); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case fmt.Stringer:
		return msgp.AppendString(dst, x.String()), nil
	default:
		return dst, fmt.Errorf("event: cannot encode %T", v)
	}
}

type rawExt struct{ Ext }

func (r *rawExt) ExtensionType() int8            { return r.Type }
func (r *rawExt) Len() int                       { return len(r.Data) }
func (r *rawExt) MarshalBinaryTo(b []byte) error { copy(b, r.Data); return nil }
func (r *rawExt) UnmarshalBinary(b []byte) error { r.Data = append([]byte(nil), b...); return nil }

// ReadTime reads an entry time: EventTime (fixext8 or ext8 of type 0), an integer of
// seconds, or a float of seconds. Integer and float times must fit EventTime: 0 to 2^32-1
// seconds (before 2106); others are errors rather than silently wrapped.
func ReadTime(b []byte) (time.Time, []byte, error) {
	if len(b) == 0 {
		return time.Time{}, b, ErrShort
	}
	switch b[0] {
	case 0xd7: // fixext8
		if len(b) < 10 {
			return time.Time{}, b, ErrShort
		}
		if int8(b[1]) != EventTimeExtType {
			return time.Time{}, b, fmt.Errorf("event: time is an extension of type %d, want 0", int8(b[1]))
		}
		t, err := eventTime(b[2:10])
		if err != nil {
			return t, b, err
		}
		return t, b[10:], nil
	case 0xc7: // ext8
		if len(b) < 3 {
			return time.Time{}, b, ErrShort
		}
		if b[1] != 8 || int8(b[2]) != EventTimeExtType {
			return time.Time{}, b, fmt.Errorf("event: time is an extension of type %d size %d", int8(b[2]), b[1])
		}
		if len(b) < 11 {
			return time.Time{}, b, ErrShort
		}
		t, err := eventTime(b[3:11])
		if err != nil {
			return t, b, err
		}
		return t, b[11:], nil
	}
	switch nextType(b) {
	case msgp.IntType:
		s, rest, err := msgp.ReadInt64Bytes(b)
		if err != nil {
			return time.Time{}, b, wrapMsgp(err)
		}
		if s < 0 || s > math.MaxUint32 {
			return time.Time{}, b, fmt.Errorf("event: time %d out of range (0 to %d seconds)", s, uint32(math.MaxUint32))
		}
		return time.Unix(s, 0), rest, nil
	case msgp.UintType:
		s, rest, err := msgp.ReadUint64Bytes(b)
		if err != nil {
			return time.Time{}, b, wrapMsgp(err)
		}
		if s > math.MaxUint32 {
			return time.Time{}, b, fmt.Errorf("event: time %d out of range (0 to %d seconds)", s, uint32(math.MaxUint32))
		}
		return time.Unix(int64(s), 0), rest, nil
	case msgp.Float64Type, msgp.Float32Type:
		f, rest, err := msgp.ReadFloat64Bytes(b)
		if err != nil {
			return time.Time{}, b, wrapMsgp(err)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= math.MaxUint32 {
			return time.Time{}, b, fmt.Errorf("event: time %v out of range (0 to %d seconds)", f, uint32(math.MaxUint32))
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))), rest, nil
	}
	return time.Time{}, b, fmt.Errorf("event: time has msgpack type %s", nextType(b))
}

func eventTime(b []byte) (time.Time, error) {
	ns := binary.BigEndian.Uint32(b[4:])
	if ns > 999_999_999 {
		return time.Time{}, fmt.Errorf("event: EventTime nanoseconds %d out of range (0 to 999999999)", ns)
	}
	return time.Unix(int64(binary.BigEndian.Uint32(b)), int64(ns)), nil
}

// ReadEntry decodes one entry from the front of b: [time, record] or [[time, metadata], record].
func ReadEntry(b []byte) (Event, []byte, error) {
	var ev Event
	n, rest, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return ev, b, fmt.Errorf("event: entry: %w", wrapMsgp(err))
	}
	if n != 2 {
		return ev, b, fmt.Errorf("event: entry is an array of %d, want 2", n)
	}
	if nextType(rest) == msgp.ArrayType {
		m, r, err := msgp.ReadArrayHeaderBytes(rest)
		if err != nil {
			return ev, b, wrapMsgp(err)
		}
		if m != 2 {
			return ev, b, fmt.Errorf("event: entry header is an array of %d, want 2", m)
		}
		if ev.Time, r, err = ReadTime(r); err != nil {
			return ev, b, err
		}
		var md any
		if md, r, err = readValue(r, 1); err != nil {
			return ev, b, fmt.Errorf("event: metadata: %w", err)
		}
		if ev.Metadata, err = asMap(md); err != nil {
			return ev, b, fmt.Errorf("event: metadata: %w", err)
		}
		rest = r
	} else if ev.Time, rest, err = ReadTime(rest); err != nil {
		return ev, b, err
	}
	if nextType(rest) == msgp.MapType {
		if ev.Record, rest, err = readMap(rest, 1); err != nil {
			return ev, b, fmt.Errorf("event: record: %w", err)
		}
		return ev, rest, nil
	}
	var rec any
	if rec, rest, err = readValue(rest, 1); err != nil {
		return ev, b, fmt.Errorf("event: record: %w", err)
	}
	if ev.Record, err = asMap(rec); err != nil {
		return ev, b, fmt.Errorf("event: record: %w", err)
	}
	return ev, rest, nil
}

// skipEntrySlow is SkipEntry as a plain recursive walk over msgp's readers. SkipEntry
// asks it about every entry its fast walk does not accept outright, so it is the one that
// decides those and words their errors; the fast walk must never accept an entry this
// rejects (FuzzSkipEntry checks the two agree).
func skipEntrySlow(b []byte) ([]byte, error) {
	n, rest, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return b, fmt.Errorf("event: entry: %w", wrapMsgp(err))
	}
	if n != 2 {
		return b, fmt.Errorf("event: entry is an array of %d, want 2", n)
	}
	if nextType(rest) == msgp.ArrayType {
		m, r, err := msgp.ReadArrayHeaderBytes(rest)
		if err != nil || m != 2 {
			return b, fmt.Errorf("event: bad entry header")
		}
		if _, r, err = ReadTime(r); err != nil {
			return b, err
		}
		if nextType(r) != msgp.MapType {
			return b, errors.New("event: metadata is not a map")
		}
		if r, err = skip(r, 1); err != nil {
			return b, err
		}
		rest = r
	} else if _, rest, err = ReadTime(rest); err != nil {
		return b, err
	}
	if nextType(rest) != msgp.MapType {
		return b, errors.New("event: record is not a map")
	}
	return skip(rest, 1)
}

// skip is msgp.Skip with a depth bound and our errors.
func skip(b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, errors.New("event: nesting too deep")
	}
	switch nextType(b) {
	case msgp.MapType:
		n, rest, err := msgp.ReadMapHeaderBytes(b)
		if err != nil {
			return b, wrapMsgp(err)
		}
		if uint64(n)*2 > uint64(len(rest)) {
			return b, ErrShort
		}
		for i := uint32(0); i < 2*n; i++ {
			if rest, err = skip(rest, depth+1); err != nil {
				return b, err
			}
		}
		return rest, nil
	case msgp.ArrayType:
		n, rest, err := msgp.ReadArrayHeaderBytes(b)
		if err != nil {
			return b, wrapMsgp(err)
		}
		if uint64(n) > uint64(len(rest)) {
			return b, ErrShort
		}
		for i := uint32(0); i < n; i++ {
			if rest, err = skip(rest, depth+1); err != nil {
				return b, err
			}
		}
		return rest, nil
	case msgp.InvalidType:
		if len(b) == 0 {
			return b, ErrShort
		}
		return b, fmt.Errorf("event: invalid msgpack byte 0x%02x", b[0])
	}
	rest, err := msgp.Skip(b)
	if err != nil {
		return b, wrapMsgp(err)
	}
	return rest, nil
}

// ReadValue decodes one msgpack value: nil, bool, int64 (uint64 above MaxInt64), float64,
// string, []byte, []any, Map in wire order (non-string keys are formatted, a repeated key
// kept as it came), time.Time for EventTime, Ext for other extensions.
func ReadValue(b []byte) (any, []byte, error) { return readValue(b, 0) }

// readMap reads a map as readValue does (the caller checked depth), without boxing it in
// an interface: a record's top level, one allocation less per record.
func readMap(b []byte, depth int) (Map, []byte, error) {
	n, rest, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return nil, b, wrapMsgp(err)
	}
	if uint64(n)*2 > uint64(len(rest)) {
		return nil, b, ErrShort
	}
	// A record (the top level) gets room for two more keys: the filters that add a
	// key (record_modifier, modify, nest, lua) then do not copy the record to grow it.
	spare := uint32(0)
	if depth == 1 && n > 0 { // not an empty metadata map
		spare = 2
	}
	m := make(Map, n, n+spare)
	for i := uint32(0); i < n; i++ {
		var k string
		switch nextType(rest) {
		case msgp.StrType:
			if k, rest, err = msgp.ReadStringBytes(rest); err != nil {
				return nil, b, wrapMsgp(err)
			}
		case msgp.BinType:
			var kb []byte
			if kb, rest, err = msgp.ReadBytesZC(rest); err != nil {
				return nil, b, wrapMsgp(err)
			}
			k = string(kb)
		default:
			var kv any
			if kv, rest, err = readValue(rest, depth+1); err != nil {
				return nil, b, err
			}
			k = fmt.Sprint(kv)
		}
		var v any
		if v, rest, err = readValue(rest, depth+1); err != nil {
			return nil, b, err
		}
		m[i] = KV{k, v}
	}
	return m, rest, nil
}

func readValue(b []byte, depth int) (any, []byte, error) {
	if depth > maxDepth {
		return nil, b, errors.New("event: nesting too deep")
	}
	if len(b) == 0 {
		return nil, b, ErrShort
	}
	switch nextType(b) {
	case msgp.StrType:
		s, rest, err := msgp.ReadStringBytes(b)
		return s, rest, wrapMsgp(err)
	case msgp.BinType:
		v, rest, err := msgp.ReadBytesBytes(b, nil)
		return v, rest, wrapMsgp(err)
	case msgp.MapType:
		m, rest, err := readMap(b, depth)
		if err != nil {
			return nil, b, err
		}
		return m, rest, nil
	case msgp.ArrayType:
		n, rest, err := msgp.ReadArrayHeaderBytes(b)
		if err != nil {
			return nil, b, wrapMsgp(err)
		}
		if uint64(n) > uint64(len(rest)) {
			return nil, b, ErrShort
		}
		a := make([]any, n)
		for i := range a {
			if a[i], rest, err = readValue(rest, depth+1); err != nil {
				return nil, b, err
			}
		}
		return a, rest, nil
	case msgp.NilType:
		rest, err := msgp.ReadNilBytes(b)
		return nil, rest, wrapMsgp(err)
	case msgp.BoolType:
		v, rest, err := msgp.ReadBoolBytes(b)
		return v, rest, wrapMsgp(err)
	case msgp.IntType:
		v, rest, err := msgp.ReadInt64Bytes(b)
		return v, rest, wrapMsgp(err)
	case msgp.UintType:
		v, rest, err := msgp.ReadUint64Bytes(b)
		if err != nil {
			return nil, b, wrapMsgp(err)
		}
		if v <= math.MaxInt64 {
			return int64(v), rest, nil
		}
		return v, rest, nil
	case msgp.Float32Type:
		v, rest, err := msgp.ReadFloat32Bytes(b)
		return float64(v), rest, wrapMsgp(err)
	case msgp.Float64Type:
		v, rest, err := msgp.ReadFloat64Bytes(b)
		return v, rest, wrapMsgp(err)
	case msgp.ExtensionType, msgp.TimeType:
		if typ, err := peekExtType(b); err == nil && typ == EventTimeExtType {
			if t, rest, err := ReadTime(b); err == nil {
				return t, rest, nil
			}
			// Inside a record, an ext 0 that is not a valid EventTime (a bad length, too
			// many nanoseconds) is kept as it came rather than failing the record.
		}
		var e rawExt
		typ, err := peekExtType(b)
		if err != nil {
			return nil, b, err
		}
		e.Type = typ
		rest, err := msgp.ReadExtensionBytes(b, &e)
		if err != nil {
			return nil, b, wrapMsgp(err)
		}
		return e.Ext, rest, nil
	}
	return nil, b, fmt.Errorf("event: invalid msgpack byte 0x%02x", b[0])
}

func peekExtType(b []byte) (int8, error) {
	var off int
	switch b[0] {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		off = 1
	case 0xc7:
		off = 2
	case 0xc8:
		off = 3
	case 0xc9:
		off = 5
	default:
		return 0, fmt.Errorf("event: not an extension: 0x%02x", b[0])
	}
	if len(b) <= off {
		return 0, ErrShort
	}
	return int8(b[off]), nil
}

func asMap(v any) (Map, error) {
	m, ok := v.(Map)
	if !ok {
		return nil, fmt.Errorf("event: want a map, got %T", v)
	}
	return m, nil
}

func wrapMsgp(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, msgp.ErrShortBytes) {
		return ErrShort
	}
	return fmt.Errorf("event: %w", err)
}

// nextType is msgp.NextType, except that every extension is ExtensionType: msgp reports
// extensions of types 3, 4, 5 and -1 as complex numbers or times depending on what
// follows them in the buffer, which would make a value's meaning depend on its neighbours.
func nextType(b []byte) msgp.Type {
	if len(b) > 0 {
		switch b[0] {
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9:
			return msgp.ExtensionType
		}
	}
	return msgp.NextType(b)
}
