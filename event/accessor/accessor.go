// Package accessor is Fluent Bit's record accessor: a small path syntax that names a value
// inside a record, compiled once and then used to read, set or delete that value.
//
// The syntax is the one Fluent Bit documents:
//
//	$log                        record["log"]
//	$labels['color']            record["labels"]["color"]
//	$labels['project']['env']   nested maps, any depth
//	$items[0]                   element 0 of the array record["items"]
//	$a['b'][2]['c']             maps and arrays mixed
//	$msg['it''s']               record["msg"]["it's"]: two quotes in a row stand for one
//	$msg["it's"]                the same with double quotes (\" and \\ are escapes there)
//	log                         a plain key, without '$': record["log"] (never parsed further)
//
// Spaces around a subscript are ignored. Two things go beyond Fluent Bit: double-quoted
// subkeys, and the top-level key after '$', which is everything up to the first '[' (Fluent
// Bit's lexer takes [A-Za-z0-9_.] only), so non-ASCII keys such as $🔥 work. A plain key is
// taken verbatim, so keys containing '[' can still be named that way.
//
// This package does not know about templates ("$TAG", "${ENV}", regex captures "$1") or
// functions; those belong to the plugins that need them.
package accessor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// segment is one step of a path: a map key or an array index.
type segment struct {
	key   string
	index int // array index when isIndex
	isIdx bool
}

// Accessor is a compiled record accessor. It is immutable and safe for concurrent use.
type Accessor struct {
	path   []segment // path[0] is always a key
	str    string    // canonical form, returned by String
	dollar bool      // written with '$'
}

// maxIndex bounds array subscripts so that an index always fits an int on 32-bit boards.
const maxIndex = 1<<31 - 1

// Parse compiles expr. A leading '$' selects the accessor syntax; anything else is one
// top-level key taken as written. Errors say where in expr the syntax broke.
func Parse(expr string) (*Accessor, error) {
	if expr == "" {
		return nil, errors.New("accessor: empty key")
	}
	if expr[0] != '$' {
		return &Accessor{path: []segment{{key: expr}}, str: expr}, nil
	}
	rest := expr[1:]
	end := strings.IndexByte(rest, '[')
	if end < 0 {
		end = len(rest)
	}
	if end == 0 {
		return nil, fmt.Errorf("accessor: %q: no key after '$'", expr)
	}
	a := &Accessor{dollar: true, path: []segment{{key: rest[:end]}}}
	p := &parser{s: rest, pos: end, expr: expr}
	for p.pos < len(p.s) {
		seg, err := p.subscript()
		if err != nil {
			return nil, err
		}
		a.path = append(a.path, seg)
	}
	a.str = a.format()
	return a, nil
}

// MustParse is Parse for expressions fixed in code; it panics on a syntax error.
func MustParse(expr string) *Accessor {
	a, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return a
}

type parser struct {
	s    string
	pos  int
	expr string
}

func (p *parser) errorf(format string, args ...any) error {
	// +1: positions count from the '$' the user wrote.
	return fmt.Errorf("accessor: %q at offset %d: %s", p.expr, p.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// subscript reads one "[...]" starting at p.pos.
func (p *parser) subscript() (segment, error) {
	if p.s[p.pos] != '[' {
		return segment{}, p.errorf("want '[', got %q", p.s[p.pos])
	}
	p.pos++
	p.skipSpace()
	if p.pos >= len(p.s) {
		return segment{}, p.errorf("unterminated '['")
	}
	var seg segment
	switch c := p.s[p.pos]; {
	case c == '\'':
		k, err := p.singleQuoted()
		if err != nil {
			return segment{}, err
		}
		seg.key = k
	case c == '"':
		k, err := p.doubleQuoted()
		if err != nil {
			return segment{}, err
		}
		seg.key = k
	case c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.Atoi(p.s[start:p.pos])
		if err != nil || n > maxIndex {
			return segment{}, p.errorf("array index %s out of range", p.s[start:p.pos])
		}
		seg.index, seg.isIdx = n, true
	default:
		return segment{}, p.errorf("want a quoted key or an array index, got %q", c)
	}
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != ']' {
		return segment{}, p.errorf("want ']'")
	}
	p.pos++
	return seg, nil
}

// singleQuoted reads a single-quoted key, where two quotes in a row stand for one.
func (p *parser) singleQuoted() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	var b strings.Builder
	escaped := false
	for p.pos < len(p.s) {
		if p.s[p.pos] != '\'' {
			p.pos++
			continue
		}
		if p.pos+1 < len(p.s) && p.s[p.pos+1] == '\'' {
			b.WriteString(p.s[start : p.pos+1]) // up to and including one quote
			p.pos += 2
			start = p.pos
			escaped = true
			continue
		}
		s := p.s[start:p.pos]
		p.pos++ // closing quote
		if !escaped {
			return s, nil
		}
		b.WriteString(s)
		return b.String(), nil
	}
	return "", p.errorf("unterminated quoted key")
}

// doubleQuoted reads "..." with \" and \\ escapes.
func (p *parser) doubleQuoted() (string, error) {
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.s) && (p.s[p.pos+1] == '"' || p.s[p.pos+1] == '\\'):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf("unterminated quoted key")
}

// format writes the canonical form, which Parse reads back to the same path.
func (a *Accessor) format() string {
	var b strings.Builder
	b.WriteByte('$')
	b.WriteString(a.path[0].key)
	for _, s := range a.path[1:] {
		if s.isIdx {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		b.WriteString("['")
		b.WriteString(strings.ReplaceAll(s.key, "'", "''"))
		b.WriteString("']")
	}
	return b.String()
}

// String returns the accessor in canonical form: a plain key as written, otherwise
// $key['sub'][0] with single quotes (Parse of the result gives the same accessor).
func (a *Accessor) String() string { return a.str }

// Key returns the top-level key the accessor starts from.
func (a *Accessor) Key() string { return a.path[0].key }

// Nested reports whether the accessor goes below the top level of the record.
func (a *Accessor) Nested() bool { return len(a.path) > 1 }

// Get returns the value the accessor names and whether it is there. A key present with a
// nil value gives (nil, true), as Fluent Bit reports null. Get does not allocate.
func (a *Accessor) Get(rec event.Map) (any, bool) {
	v, ok := rec.Get(a.path[0].key)
	if !ok {
		return nil, false
	}
	for i := 1; i < len(a.path); i++ {
		s := &a.path[i]
		switch c := v.(type) {
		case event.Map:
			if s.isIdx {
				return nil, false
			}
			if v, ok = c.Get(s.key); !ok {
				return nil, false
			}
		case []any:
			if !s.isIdx || s.index >= len(c) {
				return nil, false
			}
			v = c[s.index]
		default:
			return nil, false
		}
	}
	return v, true
}

// Set stores value where the accessor points: in place when the key is there, keeping its
// position, else appended at the end of its map. Missing (or null) intermediate map keys are
// created as maps when the next step is a key; Set never replaces a string, number or other
// scalar standing in the way, never grows an array and never creates one. It reports whether
// the value was stored. rec must not be nil.
func (a *Accessor) Set(rec *event.Map, value any) bool {
	if rec == nil {
		return false
	}
	nv, ok := set(*rec, a.path, value)
	if ok {
		*rec = nv.(event.Map)
	}
	return ok
}

// set stores value at path below cur and returns cur as it must be stored back in its
// parent: a Map that grew may have moved.
func set(cur any, path []segment, value any) (any, bool) {
	s := &path[0]
	var child any
	switch c := cur.(type) {
	case event.Map:
		if s.isIdx {
			return cur, false
		}
		if len(path) == 1 {
			c.Set(s.key, value)
			return c, true
		}
		child, _ = c.Get(s.key)
	case []any:
		if !s.isIdx || s.index >= len(c) {
			return cur, false
		}
		if len(path) == 1 {
			c[s.index] = value
			return c, true
		}
		child = c[s.index]
	default:
		return cur, false
	}
	if child == nil {
		if path[1].isIdx {
			return cur, false
		}
		child = event.Map{}
	}
	nc, ok := set(child, path[1:], value)
	if !ok {
		return cur, false
	}
	switch c := cur.(type) {
	case event.Map:
		c.Set(s.key, nc)
		return c, true
	case []any:
		c[s.index] = nc
	}
	return cur, true
}

// Delete removes the value the accessor names and reports whether there was one. Deleting
// an array element shortens the array (later elements move down by one); the other keys of
// a map keep their order.
func (a *Accessor) Delete(rec *event.Map) bool {
	if rec == nil {
		return false
	}
	nv, ok := del(*rec, a.path)
	if ok {
		*rec = nv.(event.Map)
	}
	return ok
}

// del removes path from cur and returns cur as it must be stored back in its parent: an
// array or map that lost an element has a new length.
func del(cur any, path []segment) (any, bool) {
	s := &path[0]
	switch c := cur.(type) {
	case event.Map:
		if s.isIdx {
			return cur, false
		}
		i := c.Index(s.key)
		if i < 0 {
			return cur, false
		}
		if len(path) == 1 {
			c.Delete(s.key)
			return c, true
		}
		nc, ok := del(c[i].Value, path[1:])
		if ok {
			c[i].Value = nc
		}
		return c, ok
	case []any:
		if !s.isIdx || s.index >= len(c) {
			return cur, false
		}
		if len(path) == 1 {
			copy(c[s.index:], c[s.index+1:])
			c[len(c)-1] = nil // let the moved-out value be collected
			return c[:len(c)-1], true
		}
		nc, ok := del(c[s.index], path[1:])
		if ok {
			c[s.index] = nc
		}
		return cur, ok
	}
	return cur, false
}
