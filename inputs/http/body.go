package http

import (
	"errors"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"mime"
	"net/url"
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

// parseForm reads an application/x-www-form-urlencoded body as one record of string
// values; for a key given more than once the last value wins.
func parseForm(body []byte) (event.Map, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("invalid form body: %v", err)
	}
	if len(vals) == 0 {
		return nil, errors.New("no record: the form body is empty")
	}
	// The keys in the order they first appear in the body, each with its last value.
	rec := make(event.Map, 0, len(vals))
	for _, pair := range strings.Split(string(body), "&") {
		k, _, _ := strings.Cut(pair, "=")
		if k, err = url.QueryUnescape(k); err != nil {
			continue
		}
		if v, ok := vals[k]; ok && !rec.Has(k) {
			rec = append(rec, event.KV{Key: k, Value: v[len(v)-1]})
		}
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
