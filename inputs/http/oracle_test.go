package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The encoding/json reading of a body, the oracle the transcoder is checked against:
// the same records or the same refusal.

// parseJSON reads a JSON object, an array of objects, or a sequence of either separated by
// white space (NDJSON is one such sequence). Integers become int64 (uint64 above
// MaxInt64), other numbers float64, as event.RecordFromJSON does.
func parseJSON(body []byte) ([]map[string]any, error) {
	if err := checkDepth(body); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var recs []map[string]any
	for n := 0; ; n++ {
		var v any
		err := d.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %s", jsonErr(err, d))
		}
		switch x := v.(type) {
		case map[string]any:
			normalizeMap(x)
			recs = append(recs, x)
		case []any:
			for i, e := range x {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("invalid JSON: element %d of array %d is %s, not an object", i, n+1, kind(e))
				}
				normalizeMap(m)
				recs = append(recs, m)
			}
		default:
			return nil, fmt.Errorf("invalid JSON: value %d is %s, not an object or an array of objects", n+1, kind(v))
		}
	}
	if len(recs) == 0 {
		return nil, errors.New("no record: the body is empty or holds only empty arrays")
	}
	return recs, nil
}

func jsonErr(err error, d *json.Decoder) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("unexpected end of body at byte %d", d.InputOffset())
	}
	return err.Error()
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

func normalizeMap(m map[string]any) {
	for k, v := range m {
		m[k] = normalizeValue(v)
	}
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
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && math.IsInf(f, 0) {
			return string(x) // beyond float64: the text as sent
		}
		return f
	case map[string]any:
		normalizeMap(x)
	case []any:
		for i := range x {
			x[i] = normalizeValue(x[i])
		}
	}
	return v
}

// checkDepth refuses nesting deeper than maxJSONDepth, counting brackets outside strings.
func checkDepth(body []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range body {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
