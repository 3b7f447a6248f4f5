// Package config reads Fluent Bit configuration — the YAML schema and the classic .conf
// format — into one neutral model of sections and properties, and decodes property values
// (sizes "5M", durations "10s", bools on/off) into plugin structs by their `conf` tags.
// Every property remembers the file and line it came from, so errors name file, line and key.
// It does not know which plugins exist: the engine validates plugin names and keys.
package config

import (
	"errors"
	"fmt"
	"strings"
)

// Property is one key and value from a configuration file. Keys are compared without regard
// to case, as Fluent Bit does. A key given several times (classic) or a YAML list gives
// several properties with the same key, in order.
type Property struct {
	Key   string
	Value string
	File  string
	Line  int
}

// Section is one [SERVICE], [INPUT], [FILTER], [OUTPUT], [PARSER] (or the YAML equivalent).
// For plugin sections Name is the plugin name (the `name` key) and Props holds the other keys.
type Section struct {
	Kind  string // "service", "input", "filter", "output", "parser", "multiline_parser", "upstream", "node", "custom", "plugins", "rule", "processor"
	Name  string
	Props []Property
	File  string
	Line  int
	// Children are sections nested in this one: an upstream's nodes (classic [NODE]
	// sections after an [UPSTREAM], YAML `nodes`), a YAML multiline parser's `rules` and
	// an input's or output's YAML `processors` (kind "processor": a filter by its name).
	Children []*Section
}

// Config is a whole configuration after includes and variables are resolved.
type Config struct {
	Service Section // Kind "service"; Props may be empty
	Inputs  []*Section
	Filters []*Section
	Outputs []*Section
	Parsers []*Section
	// Other holds sections the engine does not interpret itself (e.g. multiline parsers,
	// upstream), for plugins that look them up.
	Other []*Section
	// Warnings are findings that do not stop the configuration from loading, such as a
	// ${VAR} that nothing defines (it expands to "", as in Fluent Bit) or an include
	// pattern that matches no file. Each is an *Error; the caller should log them.
	Warnings []error
}

// Get returns the last property named key (case-insensitive).
func (s *Section) Get(key string) (Property, bool) {
	for i := len(s.Props) - 1; i >= 0; i-- {
		if strings.EqualFold(s.Props[i].Key, key) {
			return s.Props[i], true
		}
	}
	return Property{}, false
}

// Set adds or replaces the property key (used by command-line flags and the library).
func (s *Section) Set(key, value string) {
	for i := range s.Props {
		if strings.EqualFold(s.Props[i].Key, key) {
			s.Props[i].Value = value
			return
		}
	}
	s.Props = append(s.Props, Property{Key: key, Value: value, File: s.File, Line: s.Line})
}

// Error is a configuration error at a place in a file.
type Error struct {
	File string
	Line int
	Key  string // empty when the error is not about one key
	Err  error
}

func (e *Error) Error() string {
	where := e.File
	if where == "" {
		where = "<config>"
	}
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", where, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: key %q: %v", where, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an Error about property p.
func Errorf(p Property, format string, args ...any) error {
	return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: fmt.Errorf(format, args...)}
}

// KeyErrorf makes an Error about key without a place, for a plugin's Validate or Init to
// return: the engine, which knows the section the plugin came from, fills in the file and
// line of that key (see Place).
func KeyErrorf(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// Place gives err the place it is about in section s: a KeyErrorf error gets the file and
// line of its key (the last occurrence, or the section's when the key was left out), and
// any other error without a place becomes an error at the section, prefixed with what.
// Errors that already have a place are returned as they are.
func Place(s *Section, what string, err error) error {
	if err == nil || s == nil {
		return err
	}
	var ce *Error
	if errors.As(err, &ce) && ce.File != "" {
		return err
	}
	if ce != nil && ce.Key != "" {
		placed := &Error{File: s.File, Line: s.Line, Key: ce.Key, Err: fmt.Errorf("%s: %w", what, ce.Err)}
		if p, ok := s.Get(ce.Key); ok {
			placed.File, placed.Line, placed.Key = p.File, p.Line, p.Key
		}
		return placed
	}
	return &Error{File: s.File, Line: s.Line, Err: fmt.Errorf("%s: %w", what, err)}
}

// SectionErrorf makes an Error about section s as a whole.
func SectionErrorf(s *Section, format string, args ...any) error {
	return &Error{File: s.File, Line: s.Line, Err: fmt.Errorf(format, args...)}
}

// Size is a byte count, written in configuration as 5M, 512k, 2MB, 1G or a plain number.
type Size int64

// Unmarshaler is implemented by plugin field types that parse their own configuration value.
// Decode calls it once per property (a repeated key calls it once per occurrence).
type Unmarshaler interface {
	UnmarshalConf(value string) error
}
