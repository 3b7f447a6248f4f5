package file

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// This file renders values the way Fluent Bit prints them. outputs/stdout has a copy of the
// same helpers: a plugin must not import another plugin (its init would register it), and
// the shared home for them (a package outside outputs/<name>) is not ours to create.

// dateFormat is a json_date_format value.
type dateFormat int

const (
	dateDouble dateFormat = iota
	dateEpoch
	dateEpochMS
	dateISO8601
	dateJavaSQL
)

// parseDateFormat reads json_date_format as Fluent Bit's flb_pack_to_json_date_type does.
func parseDateFormat(s string) (dateFormat, bool) {
	switch lower(s) {
	case "", "double":
		return dateDouble, true
	case "epoch":
		return dateEpoch, true
	case "epoch_ms", "epoch_millis", "epoch_milliseconds":
		return dateEpochMS, true
	case "iso8601":
		return dateISO8601, true
	case "java_sql_timestamp":
		return dateJavaSQL, true
	}
	return 0, false
}

// dateKeyOff reports whether a json_date_key value turns the date key off, as
// flb_utils_bool does for false, off and no.
func dateKeyOff(s string) bool {
	switch lower(s) {
	case "false", "off", "no":
		return true
	}
	return false
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// timeDouble is flb_time_to_double: seconds and nanoseconds as one float64.
func timeDouble(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// appendDouble writes a float as Fluent Bit's msgpack-to-JSON does: "%.1f" for whole
// numbers, "%.16g" otherwise.
func appendDouble(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.AppendFloat(dst, f, 'f', 1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', 16, 64)
}

// appendDate writes the JSON value of the date key.
func appendDate(dst []byte, t time.Time, f dateFormat) []byte {
	switch f {
	case dateEpoch:
		return strconv.AppendInt(dst, t.Unix(), 10)
	case dateEpochMS:
		return strconv.AppendInt(dst, t.UnixMilli(), 10)
	case dateISO8601, dateJavaSQL:
		t = t.UTC()
		dst = append(dst, '"')
		if f == dateISO8601 {
			dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
		} else {
			dst = t.AppendFormat(dst, "2006-01-02 15:04:05")
		}
		// Microseconds, truncated, as Fluent Bit prints them.
		dst = append(dst, '.')
		dst = appendPadded(dst, int64(t.Nanosecond()/1000), 6)
		if f == dateISO8601 {
			dst = append(dst, 'Z')
		}
		return append(dst, '"')
	}
	return appendDouble(dst, timeDouble(t))
}

func appendPadded(dst []byte, n int64, width int) []byte {
	var b [20]byte
	s := strconv.AppendInt(b[:0], n, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendSecNsec writes "seconds.nanoseconds" with nine digits, as Fluent Bit prints an
// event time in its msgpack format.
func appendSecNsec(dst []byte, t time.Time) []byte {
	dst = strconv.AppendInt(dst, t.Unix(), 10)
	dst = append(dst, '.')
	return appendPadded(dst, int64(t.Nanosecond()), 9)
}

// sortedKeys returns m's keys sorted, reusing buf.
func sortedKeys(buf []string, m map[string]any) []string {
	buf = buf[:0]
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// appendRecordJSON writes one record as a JSON object the way flb_pack_msgpack_to_json_format
// builds it: the date key first (unless dateKey is ""), then "__internal__" holding
// {"log_metadata": ...} when the event has metadata, then the record's keys. A record key
// equal to the date key wins over the date, as in Fluent Bit, where the later duplicate
// is the one written.
func appendRecordJSON(dst []byte, ev *event.Event, dateKey string, f dateFormat, keys *[]string) []byte {
	dst = append(dst, '{')
	n := 0
	if dateKey != "" {
		if _, dup := ev.Record[dateKey]; !dup {
			dst = appendJSONKey(dst, dateKey)
			dst = append(dst, ':')
			dst = appendDate(dst, ev.Time, f)
			n++
		}
	}
	if len(ev.Metadata) > 0 {
		if _, dup := ev.Record["__internal__"]; !dup {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `"__internal__":{"log_metadata":`...)
			dst = event.AppendJSON(dst, ev.Metadata)
			dst = append(dst, '}')
			n++
		}
	}
	*keys = sortedKeys(*keys, ev.Record)
	for _, k := range *keys {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONKey(dst, k)
		dst = append(dst, ':')
		dst = event.AppendJSON(dst, ev.Record[k])
		n++
	}
	return append(dst, '}')
}

// appendMapJSON writes a record as event.AppendJSON does (keys sorted), reusing keys
// instead of allocating a key slice per record.
func appendMapJSON(dst []byte, m map[string]any, keys *[]string) []byte {
	*keys = sortedKeys(*keys, m)
	dst = append(dst, '{')
	for i, k := range *keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONKey(dst, k)
		dst = append(dst, ':')
		dst = event.AppendJSON(dst, m[k])
	}
	return append(dst, '}')
}

// appendJSONKey writes s as a JSON string. Plain keys are copied without the boxing into
// an interface that event.AppendJSON would cost (an allocation per key); the others go
// through it.
func appendJSONKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return event.AppendJSON(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendPrint writes v as msgpack-c's msgpack_object_print does, which is what Fluent Bit's
// stdout (msgpack format) and file (csv, ltsv, template) outputs show: strings in double
// quotes and unescaped, floats with six decimals, maps as {"k"=>v, ...}. Map keys come out
// sorted: records are Go maps here, so the order they arrived in is not known.
func appendPrint(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "nil"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case float64:
		return appendCFloat(dst, x)
	case float32:
		return appendCFloat(dst, float64(x))
	case string:
		dst = append(dst, '"')
		dst = append(dst, x...)
		return append(dst, '"')
	case []byte:
		dst = append(dst, '"')
		dst = appendBinPrint(dst, x)
		return append(dst, '"')
	case time.Time:
		// An EventTime inside a record is an extension of type 0 to msgpack-c.
		var b [8]byte
		binary.BigEndian.PutUint32(b[:4], uint32(x.Unix()))
		binary.BigEndian.PutUint32(b[4:], uint32(x.Nanosecond()))
		dst = append(dst, `(ext: 0)"`...)
		dst = appendBinPrint(dst, b[:])
		return append(dst, '"')
	case event.Ext:
		dst = append(dst, "(ext: "...)
		dst = strconv.AppendInt(dst, int64(x.Type), 10)
		dst = append(dst, `)"`...)
		dst = appendBinPrint(dst, x.Data)
		return append(dst, '"')
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendPrint(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		keys := sortedKeys(make([]string, 0, len(x)), x)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, '"')
			dst = append(dst, k...)
			dst = append(dst, `"=>`...)
			dst = appendPrint(dst, x[k])
		}
		return append(dst, '}')
	}
	// Types the event decoder does not produce; print them as JSON rather than fail.
	return event.AppendJSON(dst, v)
}

// appendCFloat is C's "%f".
func appendCFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, f, 'f', 6, 64)
}

// appendBinPrint is msgpack-c's msgpack_object_bin_print: printable ASCII as is, '"'
// escaped, other bytes as \xNN.
func appendBinPrint(dst []byte, b []byte) []byte {
	const hex = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c >= 0x20 && c < 0x7f:
			dst = append(dst, c)
		default:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}
