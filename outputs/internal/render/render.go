// Package render holds the value printing shared by the stdout and file outputs: values
// as msgpack-c's msgpack_object_print shows them (Fluent Bit's msgpack, csv, ltsv and
// template formats), records as the JSON objects Fluent Bit's flb_pack_msgpack_to_json_format
// builds (a date key in one of the json_date_format encodings, "__internal__" metadata,
// then the record), and event times in Fluent Bit's text forms.
//
// It lives under outputs/internal because an output plugin must not import another one
// (importing a plugin registers it), and nothing outside outputs needs these helpers.
// Every function appends to a caller's buffer and allocates nothing of its own on the
// common paths, so outputs can reuse one buffer per chunk.
package render

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// DateFormat is a json_date_format value: how AppendDate writes an event time.
type DateFormat int

const (
	// DateDouble is seconds as a float with Fluent Bit's "%.16g" precision (the default).
	DateDouble DateFormat = iota
	// DateEpoch is whole seconds since the Unix epoch.
	DateEpoch
	// DateEpochMS is whole milliseconds since the Unix epoch.
	DateEpochMS
	// DateISO8601 is a string like "2023-11-14T22:13:20.123456Z" (UTC, microseconds
	// truncated).
	DateISO8601
	// DateJavaSQL is a string like "2023-11-14 22:13:20.123456" (UTC, microseconds
	// truncated).
	DateJavaSQL
)

// ParseDateFormat reads a json_date_format value as Fluent Bit's flb_pack_to_json_date_type
// does: double (or ""), epoch, epoch_ms (or epoch_millis, epoch_milliseconds), iso8601 or
// java_sql_timestamp, in any case. ok is false for anything else.
func ParseDateFormat(s string) (f DateFormat, ok bool) {
	switch Lower(s) {
	case "", "double":
		return DateDouble, true
	case "epoch":
		return DateEpoch, true
	case "epoch_ms", "epoch_millis", "epoch_milliseconds":
		return DateEpochMS, true
	case "iso8601":
		return DateISO8601, true
	case "java_sql_timestamp":
		return DateJavaSQL, true
	}
	return 0, false
}

// DateKeyOff reports whether a json_date_key value turns the date key off, as
// flb_utils_bool does for false, off and no (in any case).
func DateKeyOff(s string) bool {
	switch Lower(s) {
	case "false", "off", "no":
		return true
	}
	return false
}

// Lower returns s with ASCII letters lowered, for matching configuration values
// case-insensitively. Other bytes are kept as they are.
func Lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// TimeDouble is flb_time_to_double: t's seconds and nanoseconds as one float64.
func TimeDouble(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// AppendDouble writes a float as Fluent Bit's msgpack-to-JSON does: "%.1f" for whole
// numbers, "%.16g" otherwise, and null for NaN and infinities.
func AppendDouble(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.AppendFloat(dst, f, 'f', 1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', 16, 64)
}

// AppendDate writes t as the JSON value of the date key, in format f.
func AppendDate(dst []byte, t time.Time, f DateFormat) []byte {
	switch f {
	case DateEpoch:
		return strconv.AppendInt(dst, t.Unix(), 10)
	case DateEpochMS:
		return strconv.AppendInt(dst, t.UnixMilli(), 10)
	case DateISO8601, DateJavaSQL:
		t = t.UTC()
		dst = append(dst, '"')
		if f == DateISO8601 {
			dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
		} else {
			dst = t.AppendFormat(dst, "2006-01-02 15:04:05")
		}
		// Microseconds, truncated, as Fluent Bit prints them.
		dst = append(dst, '.')
		dst = appendPadded(dst, int64(t.Nanosecond()/1000), 6)
		if f == DateISO8601 {
			dst = append(dst, 'Z')
		}
		return append(dst, '"')
	}
	return AppendDouble(dst, TimeDouble(t))
}

func appendPadded(dst []byte, n int64, width int) []byte {
	var b [20]byte
	s := strconv.AppendInt(b[:0], n, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// AppendSecNsec writes t as "seconds.nanoseconds" with nine digits, as Fluent Bit prints
// an event time in its msgpack and out_file formats.
func AppendSecNsec(dst []byte, t time.Time) []byte {
	dst = strconv.AppendInt(dst, t.Unix(), 10)
	dst = append(dst, '.')
	return appendPadded(dst, int64(t.Nanosecond()), 9)
}

// AppendRecordJSON writes one event as a JSON object the way flb_pack_msgpack_to_json_format
// builds it: the date key first (unless dateKey is ""), in format f, then "__internal__"
// holding {"log_metadata": ...} when the event has metadata, then the record's keys in
// record order. A record key equal to the date key (or "__internal__") wins, as in Fluent
// Bit, where the later duplicate is the one written. keys is no longer used (records are
// ordered, nothing to sort); it stays so that callers need not change.
func AppendRecordJSON(dst []byte, ev *event.Event, dateKey string, f DateFormat, keys *[]string) []byte {
	dst = append(dst, '{')
	n := 0
	if dateKey != "" {
		if _, dup := ev.Record.Get(dateKey); !dup {
			dst = appendJSONKey(dst, dateKey)
			dst = append(dst, ':')
			dst = AppendDate(dst, ev.Time, f)
			n++
		}
	}
	if len(ev.Metadata) > 0 {
		if _, dup := ev.Record.Get("__internal__"); !dup {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `"__internal__":{"log_metadata":`...)
			dst = event.AppendJSON(dst, ev.Metadata)
			dst = append(dst, '}')
			n++
		}
	}
	for _, kv := range ev.Record {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONKey(dst, kv.Key)
		dst = append(dst, ':')
		dst = event.AppendJSON(dst, kv.Value)
		n++
	}
	return append(dst, '}')
}

// AppendMapJSON writes m as event.AppendJSON does (keys in order), without boxing plain
// keys. keys is no longer used; it stays so that callers need not change.
func AppendMapJSON(dst []byte, m event.Map, keys *[]string) []byte {
	dst = append(dst, '{')
	for i, kv := range m {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONKey(dst, kv.Key)
		dst = append(dst, ':')
		dst = event.AppendJSON(dst, kv.Value)
	}
	return append(dst, '}')
}

// AppendMembers writes m's key/value pairs as the inside of a JSON object, without the
// braces (keys in order, as AppendMapJSON writes them), for outputs that put keys of their
// own before the record's.
func AppendMembers(dst []byte, m event.Map) []byte {
	for i, kv := range m {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONKey(dst, kv.Key)
		dst = append(dst, ':')
		dst = event.AppendJSON(dst, kv.Value)
	}
	return dst
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

// AppendPrint writes v as msgpack-c's msgpack_object_print does, which is what Fluent
// Bit's stdout (msgpack format) and file (csv, ltsv, template) outputs show: strings in
// double quotes and unescaped, floats with six decimals, maps as {"k"=>v, ...}, keys in
// record order (a Go map's sorted).
// Types the event decoder does not produce are written as event.AppendJSON writes them.
func AppendPrint(dst []byte, v any) []byte {
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
		return AppendCFloat(dst, x)
	case float32:
		return AppendCFloat(dst, float64(x))
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
			dst = AppendPrint(dst, e)
		}
		return append(dst, ']')
	case event.Map:
		dst = append(dst, '{')
		for i, kv := range x {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, '"')
			dst = append(dst, kv.Key...)
			dst = append(dst, `"=>`...)
			dst = AppendPrint(dst, kv.Value)
		}
		return append(dst, '}')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, '"')
			dst = append(dst, k...)
			dst = append(dst, `"=>`...)
			dst = AppendPrint(dst, x[k])
		}
		return append(dst, '}')
	}
	// Types the event decoder does not produce; print them as JSON rather than fail.
	return event.AppendJSON(dst, v)
}

// AppendCFloat writes f as C's printf "%f" does: six decimals, and nan, inf or -inf.
func AppendCFloat(dst []byte, f float64) []byte {
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
