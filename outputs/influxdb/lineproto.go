package influxdb

import (
	"math"
	"strconv"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// Escaping per the line protocol reference
// (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/):
// measurement: comma and space; tag keys, tag values and field keys: comma, equals sign and
// space; string field values: double quote and backslash. Line protocol has no escape for a
// newline outside string field values, so newlines (and carriage returns) in names and tag
// values become spaces (escaped). A backslash followed by another backslash, a special
// character or the end of the token is doubled, so the line still parses (InfluxDB 1.x's
// scanner takes the byte after any backslash along); InfluxDB 1.x then stores that
// backslash doubled.
const (
	specialMeasurement = ", "
	specialKey         = ",= "
)

func appendName(dst []byte, s, special string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' || c == '\r' {
			c = ' '
		}
		switch {
		case c == '\\':
			if i+1 == len(s) || s[i+1] == '\\' || isSpecial(s[i+1], special) {
				dst = append(dst, '\\')
			}
		case isSpecial(c, special):
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}

func isSpecial(c byte, special string) bool {
	if c == '\n' || c == '\r' {
		return true // becomes an escaped space
	}
	for i := 0; i < len(special); i++ {
		if special[i] == c {
			return true
		}
	}
	return false
}

func appendStringField(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// field is one field of a point, in the order it is written.
type field struct {
	key string
	val any
}

// walkRecord calls fn for each top-level-or-nested field of rec, nested map keys joined with
// ".", in key order. It is the one place that walks a record (records become ordered in
// issue 15).
func walkRecord(rec event.Map, prefix string, depth int, fn func(key string, v any)) {
	for _, kv := range rec {
		if m, ok := kv.Value.(event.Map); ok && depth < 16 {
			walkRecord(m, prefix+kv.Key+".", depth+1, fn)
			continue
		}
		fn(prefix+kv.Key, kv.Value)
	}
}

// appendFieldValue writes v as a field value; ok is false for values with no field form
// (nil, NaN and infinities, which InfluxDB refuses).
func appendFieldValue(dst []byte, v any, intSuffix bool) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return appendStringField(dst, x), true
	case []byte:
		return appendStringField(dst, string(x)), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case int64:
		dst = strconv.AppendInt(dst, x, 10)
		if intSuffix {
			dst = append(dst, 'i')
		}
		return dst, true
	case uint64:
		if intSuffix && x > math.MaxInt64 {
			return strconv.AppendFloat(dst, float64(x), 'g', -1, 64), true
		}
		dst = strconv.AppendUint(dst, x, 10)
		if intSuffix {
			dst = append(dst, 'i')
		}
		return dst, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, false
		}
		dst = strconv.AppendFloat(dst, x, 'g', -1, 64)
		if x == math.Trunc(x) && math.Abs(x) < 1e21 && !intSuffix {
			// Without the suffix, InfluxDB reads a bare integer as a float anyway; keep
			// it so. With the suffix, a whole float must still look like a float.
			return dst, true
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			dst = append(dst, ".0"...)
		}
		return dst, true
	case nil:
		return dst, false
	case time.Time:
		return appendStringField(dst, x.UTC().Format(time.RFC3339Nano)), true
	}
	// Arrays and other values: their JSON text as a string field.
	return appendStringField(dst, string(event.AppendJSON(nil, v))), true
}

// appendTimestamp writes t in the given precision's units.
func appendTimestamp(dst []byte, t time.Time, unit time.Duration) []byte {
	var n int64
	switch unit {
	case time.Nanosecond:
		n = t.UnixNano()
	case time.Microsecond:
		n = t.UnixMicro()
	case time.Millisecond:
		n = t.UnixMilli()
	default:
		n = t.Unix()
	}
	return strconv.AppendInt(dst, n, 10)
}
