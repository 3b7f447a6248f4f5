package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// bodyFormat is how a request body is read, from its Content-Type.
type bodyFormat int

const (
	formatJSON bodyFormat = iota // an object, an array of objects, or NDJSON
	formatForm                   // application/x-www-form-urlencoded: one record
)

// errContentType is answered with 400: the body is of a type the input does not read.
var errContentType = errors.New("error: invalid 'Content-Type', use application/json or application/x-www-form-urlencoded")

// formatOf maps a Content-Type header to a body format. No header at all is read as
// JSON (Fluent Bit refuses it; curl users often forget it).
func formatOf(contentType string) (bodyFormat, error) {
	if contentType == "" {
		return formatJSON, nil
	}
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "application/json"), strings.EqualFold(mt, "application/x-ndjson"),
		strings.EqualFold(mt, "application/jsonlines"), strings.EqualFold(mt, "application/x-jsonlines"):
		return formatJSON, nil
	case strings.EqualFold(mt, "application/x-www-form-urlencoded"):
		return formatForm, nil
	}
	// Structured suffixes (application/vnd.x+json) are JSON too.
	if m, _, err := mime.ParseMediaType(contentType); err == nil && strings.HasSuffix(m, "+json") {
		return formatJSON, nil
	}
	return 0, errContentType
}

// parseBody reads every record of body, or none: a malformed body returns an error and
// no record, so a request is accepted or refused as a whole.
func parseBody(f bodyFormat, body []byte) ([]map[string]any, error) {
	if f == formatForm {
		rec, err := parseForm(body)
		if err != nil {
			return nil, err
		}
		return []map[string]any{rec}, nil
	}
	return parseJSON(body)
}

// parseJSON reads a JSON object, an array of objects, or a sequence of either separated by
// white space (NDJSON is one such sequence). Integers become int64 (uint64 above
// MaxInt64), other numbers float64, as event.RecordFromJSON does.
func parseJSON(body []byte) ([]map[string]any, error) {
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
		f, _ := strconv.ParseFloat(string(x), 64)
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

// parseForm reads an application/x-www-form-urlencoded body as one record of string
// values; for a key given more than once the last value wins.
func parseForm(body []byte) (map[string]any, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("invalid form body: %v", err)
	}
	if len(vals) == 0 {
		return nil, errors.New("no record: the form body is empty")
	}
	rec := make(map[string]any, len(vals))
	for k, v := range vals {
		rec[k] = v[len(v)-1]
	}
	return rec, nil
}

// tagFromPath turns a request path into a tag as Fluent Bit does: the query is dropped,
// the leading '/' removed, and every byte that is not a letter, a digit, '_' or '.'
// becomes '_'. "/" (and "") give "", meaning the input's own tag.
func tagFromPath(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return ""
	}
	clean := true
	for i := 0; i < len(path); i++ {
		if !tagByte(path[i]) {
			clean = false
			break
		}
	}
	if clean {
		return path
	}
	b := []byte(path)
	for i, c := range b {
		if !tagByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func tagByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}
