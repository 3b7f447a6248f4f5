package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// RecordFromJSON parses one JSON object into a record, keeping the document's key order
// (nested objects are Maps too). Integers become int64 (uint64 when above MaxInt64), other
// numbers float64; a number beyond float64's range (1e400) stays the string of its text.
func RecordFromJSON(data []byte) (Map, error) {
	p := jsonParser{b: data}
	p.space()
	if p.i >= len(p.b) {
		return nil, fmt.Errorf("event: json: %w", errJSONEnd)
	}
	if p.b[p.i] != '{' {
		if _, err := p.value(0); err != nil {
			return nil, fmt.Errorf("event: json: %w", err)
		}
		return nil, errors.New("event: json: not an object")
	}
	m, err := p.object(0)
	if err != nil {
		return nil, fmt.Errorf("event: json: %w", err)
	}
	p.space()
	if p.i != len(p.b) {
		return nil, errors.New("event: json: data after the object")
	}
	return m, nil
}

// RecordsFromJSON parses a JSON object or an array of objects, each in document order.
func RecordsFromJSON(data []byte) ([]Map, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		p := jsonParser{b: data}
		v, err := p.value(0)
		if err != nil {
			return nil, fmt.Errorf("event: json: %w", err)
		}
		p.space()
		if p.i != len(p.b) {
			return nil, errors.New("event: json: data after the array")
		}
		a := v.([]any)
		out := make([]Map, len(a))
		for i, e := range a {
			m, ok := e.(Map)
			if !ok {
				return nil, fmt.Errorf("event: json: element %d is not an object", i)
			}
			out[i] = m
		}
		return out, nil
	}
	m, err := RecordFromJSON(data)
	if err != nil {
		return nil, err
	}
	return []Map{m}, nil
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		return normalizeFloat(string(x))
	}
	return v
}

// normalizeFloat is a JSON number that is not an int64 or uint64: a float64, or beyond
// float64 (1e400) the text as sent, never a silent null.
func normalizeFloat(text string) any {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && math.IsInf(f, 0) {
		return text
	}
	return f
}

// AppendJSON appends v as JSON. A Map's keys are written in order, a Go map's sorted so
// output is stable; []byte is written as
// a string when it is valid UTF-8 (as Fluent Bit does), base64 otherwise; times as RFC 3339.
func AppendJSON(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendJSONString(dst, x)
	case []byte:
		if utf8.Valid(x) {
			return appendJSONString(dst, string(x))
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"')
	case bool:
		return strconv.AppendBool(dst, x)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10)
	case float64:
		return appendJSONFloat(dst, x)
	case float32:
		return appendJSONFloat(dst, float64(x))
	case time.Time:
		dst = append(dst, '"')
		dst = x.UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	case Map:
		dst = append(dst, '{')
		for i, kv := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, kv.Key)
			dst = append(dst, ':')
			dst = AppendJSON(dst, kv.Value)
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
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = AppendJSON(dst, x[k])
		}
		return append(dst, '}')
	case []any:
		dst = append(dst, '[')
		for i := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, x[i])
		}
		return append(dst, ']')
	case []string:
		dst = append(dst, '[')
		for i := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, x[i])
		}
		return append(dst, ']')
	case Ext:
		return AppendJSON(dst, Map{{"data", x.Data}, {"ext_type", int64(x.Type)}})
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return appendJSONString(dst, fmt.Sprint(x))
		}
		return append(dst, b...)
	}
}

func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		// Keep a float looking like a float, as Fluent Bit prints 1.0 for a msgpack float.
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		return append(dst, ".0"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
