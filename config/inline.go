package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Inline maps: a plugin that takes a list of small maps (the modbus input's points) reads
// each from one property whose value is the map written as key=value pairs separated by
// spaces, a value with spaces, quotes or nothing in it double-quoted as in Go:
//
//	Point name=voltage address=0 type=float32 unit=V
//	Point name=serial table=holding_register address=64 type=string length=8 unit=""
//
// In YAML the same is a list of maps, which the parser turns into those properties:
//
//	points:
//	  - name: voltage
//	    address: 0
//
// so the plugin sees one form whichever file format the user wrote.

// FormatInline writes key, value pairs in the inline form ParseInline reads.
func FormatInline(pairs [][2]string) string {
	var b strings.Builder
	for i, kv := range pairs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		if kv[1] == "" || strings.ContainsAny(kv[1], " \t\r\n\"\\=") {
			b.WriteString(strconv.Quote(kv[1]))
		} else {
			b.WriteString(kv[1])
		}
	}
	return b.String()
}

// ParseInline reads an inline map: key=value pairs separated by blanks, each value bare
// (up to the next blank) or double-quoted with Go's escapes.
func ParseInline(s string) ([][2]string, error) {
	var out [][2]string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexAny(s, " \t\r\n")
		if eq <= 0 || (sp >= 0 && sp < eq) {
			tok := s
			if sp >= 0 {
				tok = s[:sp]
			}
			return nil, fmt.Errorf("%q: want key=value", tok)
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := closingQuote(s)
			if end < 0 {
				return nil, fmt.Errorf("%s: unterminated quoted value", key)
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, fmt.Errorf("%s: bad quoted value %s: %w", key, s[:end+1], err)
			}
			val, s = v, s[end+1:]
			if s != "" && !strings.ContainsAny(s[:1], " \t\r\n") {
				return nil, fmt.Errorf("%s: want a blank after the quoted value", key)
			}
		} else {
			end := strings.IndexAny(s, " \t\r\n")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		out = append(out, [2]string{key, val})
	}
}

// closingQuote returns the index of the quote closing the string s starts with, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// DecodeInline decodes the inline map in p's value into target's `conf`-tagged fields, as
// Decode does for a section's keys. Errors are *Error at p's file, line and key, naming the
// inline key at fault ("point": "address: ...").
func DecodeInline(p Property, target any) error {
	pairs, err := ParseInline(p.Value)
	if err != nil {
		return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: err}
	}
	props := make([]Property, len(pairs))
	for i, kv := range pairs {
		props[i] = Property{Key: kv[0], Value: kv[1]}
	}
	if err := Decode(props, target); err != nil {
		var ce *Error
		if errors.As(err, &ce) && ce.File == "" && ce.Key != "" {
			err = fmt.Errorf("%s: %w", ce.Key, ce.Err)
		}
		return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: err}
	}
	return nil
}
