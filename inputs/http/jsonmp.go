package http

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/tinylib/msgp/msgp"
)

// maxJSONDepth bounds nesting (containers inside containers, the top-level array
// counting): deeper bodies are refused, so no record is accepted that the engine's
// decoder (which stops at 64 levels) would later call damaged.
const maxJSONDepth = 32

// transcoder turns a JSON body straight into msgpack entries, without building maps:
// the hot path of the input. Numbers follow event.RecordFromJSON (int64, uint64 above
// MaxInt64, float64 otherwise); strings are decoded as encoding/json decodes them
// (invalid UTF-8 and lone surrogates become U+FFFD); a key repeated in an object is kept
// twice, and the last one wins when the record is decoded, as in encoding/json. A
// transcoder is reused: its buffers grow to the largest body seen.
type transcoder struct {
	data   []byte
	pos    int
	out    []byte     // entries
	recs   []recEntry // one per record, in order
	tagKey string
	now    time.Time
	// remoteAddr, when set, is added to every record as REMOTE_ADDR (add_remote_addr).
	remoteAddr string
}

// recEntry is one record's entry in out and, with tag_key, where its tag value is.
type recEntry struct {
	end              int  // out[previous end:end] is the entry
	tagStart, tagEnd int  // the tag_key value's bytes in out (a msgpack str payload)
	hasTag           bool // the record has a non-empty string under tag_key
}

var errNoRecord = errors.New("no record: the body is empty or holds only empty arrays")

// form appends the one record of a form body.
func (t *transcoder) form(body []byte) error {
	t.out, t.recs = t.out[:0], t.recs[:0]
	rec, err := parseForm(body)
	if err != nil {
		return err
	}
	if t.remoteAddr != "" {
		rec.Set("REMOTE_ADDR", t.remoteAddr)
	}
	if t.out, err = event.AppendEntry(t.out, &event.Event{Time: t.now, Record: rec}); err != nil {
		return err
	}
	r := recEntry{end: len(t.out)}
	if s, ok := rec.Value(t.tagKey).(string); ok && t.tagKey != "" && s != "" {
		// The tag's bytes go after the entry, outside it.
		r.tagStart = len(t.out)
		t.out = append(t.out, s...)
		r.tagEnd = len(t.out)
		r.hasTag = true
	}
	t.recs = append(t.recs, r)
	return nil
}

// run transcodes data. On error out and recs are garbage and nothing may be emitted.
func (t *transcoder) run(data []byte) error {
	t.data, t.pos, t.out, t.recs = data, 0, t.out[:0], t.recs[:0]
	var ts [10]byte
	event.AppendTime(ts[:0], t.now)
	for n := 1; ; n++ {
		t.skipWS()
		if t.pos >= len(t.data) {
			break
		}
		switch t.data[t.pos] {
		case '{':
			if err := t.record(ts[:], 1); err != nil {
				return err
			}
		case '[':
			t.pos++
			for i := 0; ; i++ {
				t.skipWS()
				if t.pos >= len(t.data) {
					return t.errEOF()
				}
				if t.data[t.pos] == ']' && i == 0 {
					t.pos++
					break
				}
				if t.data[t.pos] != '{' {
					return t.errValue(fmt.Sprintf("element %d of array %d is not an object", i, n))
				}
				if err := t.record(ts[:], 2); err != nil {
					return err
				}
				t.skipWS()
				if t.pos >= len(t.data) {
					return t.errEOF()
				}
				if c := t.data[t.pos]; c == ']' {
					t.pos++
					break
				} else if c != ',' {
					return t.errSyntax("after array element")
				}
				t.pos++
			}
		default:
			return t.errValue(fmt.Sprintf("value %d is not an object or an array of objects", n))
		}
	}
	if len(t.recs) == 0 {
		return errNoRecord
	}
	return nil
}

// record appends one entry: [time, {record}].
func (t *transcoder) record(ts []byte, depth int) error {
	t.out = append(t.out, 0x92)
	t.out = append(t.out, ts...)
	r := recEntry{}
	if err := t.object(depth, &r); err != nil {
		return err
	}
	r.end = len(t.out)
	t.recs = append(t.recs, r)
	return nil
}

func (t *transcoder) skipWS() {
	for t.pos < len(t.data) {
		switch t.data[t.pos] {
		case ' ', '\t', '\n', '\r':
			t.pos++
		default:
			return
		}
	}
}

func (t *transcoder) errEOF() error {
	return fmt.Errorf("invalid JSON: unexpected end of body at byte %d", t.pos)
}

func (t *transcoder) errSyntax(where string) error {
	if t.pos >= len(t.data) {
		return t.errEOF()
	}
	return fmt.Errorf("invalid JSON: invalid character %q %s at byte %d", t.data[t.pos], where, t.pos+1)
}

func (t *transcoder) errValue(what string) error { return fmt.Errorf("invalid JSON: %s", what) }

// value appends one JSON value at t.pos (white space skipped by the caller).
func (t *transcoder) value(depth int) error {
	if t.pos >= len(t.data) {
		return t.errEOF()
	}
	switch c := t.data[t.pos]; {
	case c == '{':
		return t.object(depth+1, nil)
	case c == '[':
		return t.array(depth + 1)
	case c == '"':
		return t.str()
	case c == '-' || c >= '0' && c <= '9':
		return t.number()
	case c == 't':
		return t.literal("true", 0xc3)
	case c == 'f':
		return t.literal("false", 0xc2)
	case c == 'n':
		return t.literal("null", 0xc0)
	}
	return t.errSyntax("looking for a value")
}

func (t *transcoder) literal(word string, b byte) error {
	if len(t.data)-t.pos < len(word) || string(t.data[t.pos:t.pos+len(word)]) != word {
		for i := 0; i < len(word); i++ {
			if t.pos >= len(t.data) {
				return t.errEOF()
			}
			if t.data[t.pos] != word[i] {
				return t.errSyntax("in literal " + word)
			}
			t.pos++
		}
	}
	t.pos += len(word)
	t.out = append(t.out, b)
	return nil
}

// object appends a map. r, for a record's own map, gets where its tag_key value is.
func (t *transcoder) object(depth int, r *recEntry) error {
	if depth > maxJSONDepth {
		return t.errValue(fmt.Sprintf("nested deeper than %d levels", maxJSONDepth))
	}
	t.pos++ // '{'
	hdr := len(t.out)
	t.out = append(t.out, 0)
	n := 0
	for {
		t.skipWS()
		if t.pos >= len(t.data) {
			return t.errEOF()
		}
		if t.data[t.pos] == '}' && n == 0 {
			t.pos++
			break
		}
		if t.data[t.pos] != '"' {
			return t.errSyntax("looking for the beginning of an object key")
		}
		keyAt := len(t.out)
		if err := t.str(); err != nil {
			return err
		}
		isTag := r != nil && t.tagKey != "" && strPayloadEquals(t.out[keyAt:], t.tagKey)
		t.skipWS()
		if t.pos >= len(t.data) {
			return t.errEOF()
		}
		if t.data[t.pos] != ':' {
			return t.errSyntax("after object key")
		}
		t.pos++
		t.skipWS()
		valAt := len(t.out)
		if err := t.value(depth); err != nil {
			return err
		}
		if isTag {
			if s, e, ok := strPayload(t.out, valAt); ok && e > s {
				r.tagStart, r.tagEnd, r.hasTag = s, e, true
			} else {
				r.hasTag = false // a later non-string value wins, as when decoded
			}
		}
		n++
		t.skipWS()
		if t.pos >= len(t.data) {
			return t.errEOF()
		}
		if c := t.data[t.pos]; c == '}' {
			t.pos++
			break
		} else if c != ',' {
			return t.errSyntax("after object key:value pair")
		}
		t.pos++
	}
	if r != nil && t.remoteAddr != "" {
		t.out = msgp.AppendString(t.out, "REMOTE_ADDR")
		t.out = msgp.AppendString(t.out, t.remoteAddr)
		n++
	}
	grew := t.fixHeader(hdr, n, 0x80, 0xde, 0xdf)
	if r != nil && r.hasTag {
		r.tagStart += grew
		r.tagEnd += grew
	}
	return nil
}

func (t *transcoder) array(depth int) error {
	if depth > maxJSONDepth {
		return t.errValue(fmt.Sprintf("nested deeper than %d levels", maxJSONDepth))
	}
	t.pos++ // '['
	hdr := len(t.out)
	t.out = append(t.out, 0)
	n := 0
	for {
		t.skipWS()
		if t.pos >= len(t.data) {
			return t.errEOF()
		}
		if t.data[t.pos] == ']' && n == 0 {
			t.pos++
			break
		}
		if err := t.value(depth); err != nil {
			return err
		}
		n++
		t.skipWS()
		if t.pos >= len(t.data) {
			return t.errEOF()
		}
		if c := t.data[t.pos]; c == ']' {
			t.pos++
			break
		} else if c != ',' {
			return t.errSyntax("after array element")
		}
		t.pos++
	}
	t.fixHeader(hdr, n, 0x90, 0xdc, 0xdd)
	return nil
}

// fixHeader writes the container header for n items at out[at], where one byte was
// reserved, moving what follows when the header needs more. It returns how many bytes
// the header grew by.
func (t *transcoder) fixHeader(at, n int, fix, b16, b32 byte) int {
	if n < 16 {
		t.out[at] = fix | byte(n)
		return 0
	}
	extra := 2
	if n > 0xffff {
		extra = 4
	}
	t.out = append(t.out, make([]byte, extra)...)
	copy(t.out[at+1+extra:], t.out[at+1:len(t.out)-extra])
	if extra == 2 {
		t.out[at] = b16
		binary.BigEndian.PutUint16(t.out[at+1:], uint16(n))
	} else {
		t.out[at] = b32
		binary.BigEndian.PutUint32(t.out[at+1:], uint32(n))
	}
	return extra
}

// str appends the JSON string at t.pos as a msgpack str.
func (t *transcoder) str() error {
	start := t.pos + 1
	i := start
	for i < len(t.data) {
		c := t.data[i]
		if c == '"' {
			t.out = msgp.AppendStringFromBytes(t.out, t.data[start:i])
			t.pos = i + 1
			return nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return t.strSlow(start)
		}
		i++
	}
	t.pos = len(t.data)
	return t.errEOF()
}

// strSlow decodes a string with escapes or non-ASCII bytes as encoding/json does.
func (t *transcoder) strSlow(start int) error {
	i := start
	for i < len(t.data) {
		switch c := t.data[i]; {
		case c == '\\':
			i += 2
			continue
		case c == '"':
			var s string
			if err := json.Unmarshal(t.data[start-1:i+1], &s); err != nil {
				t.pos = start
				return fmt.Errorf("invalid JSON: bad string at byte %d: %v", start, err)
			}
			t.out = msgp.AppendString(t.out, s)
			t.pos = i + 1
			return nil
		case c < 0x20:
			t.pos = i
			return t.errSyntax("in string literal")
		}
		i++
	}
	t.pos = len(t.data)
	return t.errEOF()
}

// number appends the JSON number at t.pos: int64 when it is a whole number that fits,
// uint64 when it only fits there, float64 otherwise. A number too large for a float64
// (1e400) is kept as the string of its digits, exactly as sent: as a float it would be
// ±Inf, which JSON cannot carry (outputs would write null, Fluent Bit writes "inf").
func (t *transcoder) number() error {
	start, i := t.pos, t.pos
	d := t.data
	if d[i] == '-' {
		i++
	}
	if i >= len(d) {
		t.pos = i
		return t.errEOF()
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		t.pos = i
		return t.errSyntax("in numeric literal")
	}
	integer := true
	if i < len(d) && d[i] == '.' {
		integer = false
		i++
		if i >= len(d) {
			t.pos = i
			return t.errEOF()
		}
		if d[i] < '0' || d[i] > '9' {
			t.pos = i
			return t.errSyntax("after decimal point in numeric literal")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) {
			t.pos = i
			return t.errEOF()
		}
		if d[i] < '0' || d[i] > '9' {
			t.pos = i
			return t.errSyntax("in exponent of numeric literal")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	t.pos = i
	lit := d[start:i]
	if integer {
		neg := lit[0] == '-'
		digits := lit
		if neg {
			digits = lit[1:]
		}
		if len(digits) <= 20 {
			var u uint64
			ok := true
			for _, c := range digits {
				v := uint64(c - '0')
				if u > (1<<64-1-v)/10 {
					ok = false
					break
				}
				u = u*10 + v
			}
			if ok {
				switch {
				case !neg && u <= 1<<63-1:
					t.out = msgp.AppendInt64(t.out, int64(u))
					return nil
				case !neg:
					t.out = msgp.AppendUint64(t.out, u)
					return nil
				case u <= 1<<63:
					t.out = msgp.AppendInt64(t.out, int64(-u))
					return nil
				}
			}
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && math.IsInf(f, 0) {
		t.out = msgp.AppendStringFromBytes(t.out, lit)
		return nil
	}
	t.out = msgp.AppendFloat64(t.out, f)
	return nil
}

// strPayload returns where the payload of the msgpack str at b[at] is.
func strPayload(b []byte, at int) (start, end int, ok bool) {
	if at >= len(b) {
		return 0, 0, false
	}
	c := b[at]
	var n, h int
	switch {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case c == 0xd9 && at+2 <= len(b):
		n, h = int(b[at+1]), 2
	case c == 0xda && at+3 <= len(b):
		n, h = int(binary.BigEndian.Uint16(b[at+1:])), 3
	case c == 0xdb && at+5 <= len(b):
		n, h = int(binary.BigEndian.Uint32(b[at+1:])), 5
	default:
		return 0, 0, false
	}
	if at+h+n > len(b) {
		return 0, 0, false
	}
	return at + h, at + h + n, true
}

func strPayloadEquals(b []byte, s string) bool {
	st, e, ok := strPayload(b, 0)
	return ok && string(b[st:e]) == s
}
