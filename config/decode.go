package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decode sets the fields of the struct target points to from props, by their `conf` tags.
//
// A tag names the key, compared without case, and may list aliases after commas
// (`conf:"allowlist_key,whitelist_key"`); fields without a tag, or tagged "-", are not
// touched. Fields of embedded structs (not pointers) are decoded as if they were the outer
// struct's own. Field types:
//
//   - string, bool (ParseBool), int*, uint* (decimal), float32/64
//   - time.Duration (ParseDuration: "5" and "1.5" are seconds; "500ms", "10s", "1h")
//   - Size (ParseSize: 1K = 1000 bytes)
//   - *regexp.Regexp (compiled; a bad expression is an error)
//   - any type whose pointer implements Unmarshaler, and pointers to types that do
//   - slices of any of these: each occurrence of the key appends one element, and the
//     first occurrence replaces the slice's default instead of extending it
//
// A string field also tagged `path:"config"` is a file path: a relative path that does not
// exist from the working directory is taken relative to the directory of the
// configuration file that names it (Fluent Bit's rule for a Lua script).
//
// For other fields a repeated key is decoded each time and the last value wins; an
// Unmarshaler is called once per occurrence. An unknown key or a bad value is an *Error
// naming the property's file, line and key. A target that is not a pointer to a struct,
// or a tagged field of a type Decode cannot fill, is a plain error: a bug in the caller.
func Decode(props []Property, target any) error {
	return DecodeAlso(props, target, nil)
}

// DecodeAlso is Decode for a target that shares its section with keys the caller reads
// itself (an engine's match, alias, retry_limit): those are not passed in props, but an
// unknown key's error lists them among the known keys and suggests them for a typo.
func DecodeAlso(props []Property, target any, also []string) error {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Decode needs a non-nil pointer to a struct, got %T", target)
	}
	fields, byKey, err := confFields(rv.Elem().Type())
	if err != nil {
		return err
	}
	reset := make([]bool, len(fields))
	for _, p := range props {
		i, ok := byKey[strings.ToLower(strings.TrimSpace(p.Key))]
		if !ok {
			return UnknownKeyError(p, append(allKeys(fields), also...))
		}
		f := fields[i]
		fv := rv.Elem().FieldByIndex(f.index)
		if f.configPath {
			p.Value = ConfigRelative(p)
		}
		if f.perItem {
			if !reset[i] {
				fv.Set(reflect.MakeSlice(fv.Type(), 0, 1))
				reset[i] = true
			}
			elem := reflect.New(fv.Type().Elem()).Elem()
			if err := f.set(elem, p.Value); err != nil {
				return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: err}
			}
			fv.Set(reflect.Append(fv, elem))
			continue
		}
		if err := f.set(fv, p.Value); err != nil {
			return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: err}
		}
	}
	return nil
}

// KnownKeys lists the keys (aliases included) Decode accepts for target, a struct or a
// pointer to one, sorted. It returns nil for anything else.
func KnownKeys(target any) []string {
	t := reflect.TypeOf(target)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	fields, _, err := confFields(t)
	if err != nil {
		return nil
	}
	return allKeys(fields)
}

// setter decodes one value into v, which is settable.
type setter func(v reflect.Value, s string) error

type confField struct {
	keys    []string // lower-case; the first is the tag's main key
	index   []int
	set     setter
	perItem bool // a slice: set decodes one element per occurrence
	// configPath: a relative path missing from the working directory is taken relative
	// to the configuration file (tag path:"config").
	configPath bool
}

var (
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	sizeType        = reflect.TypeFor[Size]()
	regexpType      = reflect.TypeFor[*regexp.Regexp]()
)

// confFields lists the tagged fields of struct type t and indexes them by key.
func confFields(t reflect.Type) ([]confField, map[string]int, error) {
	var fields []confField
	byKey := map[string]int{}
	for _, sf := range reflect.VisibleFields(t) {
		tag, ok := sf.Tag.Lookup("conf")
		if !ok || tag == "-" {
			continue
		}
		where := t.String() + "." + sf.Name
		if !sf.IsExported() {
			return nil, nil, fmt.Errorf("config: field %s has a conf tag but is not exported", where)
		}
		for j := 1; j < len(sf.Index); j++ {
			if t.FieldByIndex(sf.Index[:j]).Type.Kind() == reflect.Pointer {
				return nil, nil, fmt.Errorf("config: field %s is inside an embedded pointer; embed the struct itself", where)
			}
		}
		f := confField{index: sf.Index, configPath: sf.Tag.Get("path") == "config"}
		for _, k := range strings.Split(tag, ",") {
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "" {
				return nil, nil, fmt.Errorf("config: field %s has an empty key in its conf tag %q", where, tag)
			}
			if _, dup := byKey[k]; dup {
				return nil, nil, fmt.Errorf("config: key %q is used by two fields of %s", k, t)
			}
			byKey[k] = len(fields)
			f.keys = append(f.keys, k)
		}
		if set, ok := setterFor(sf.Type); ok {
			f.set = set
		} else if sf.Type.Kind() == reflect.Slice {
			if f.set, ok = setterFor(sf.Type.Elem()); !ok {
				return nil, nil, fmt.Errorf("config: field %s has type %s, which Decode cannot fill", where, sf.Type)
			}
			f.perItem = true
		} else {
			return nil, nil, fmt.Errorf("config: field %s has type %s, which Decode cannot fill", where, sf.Type)
		}
		fields = append(fields, f)
	}
	return fields, byKey, nil
}

// setterFor returns how to decode one value into a t; false if Decode cannot (slices are
// handled by the caller, element by element).
func setterFor(t reflect.Type) (setter, bool) {
	switch {
	case t == durationType:
		return func(v reflect.Value, s string) error {
			d, err := ParseDuration(s)
			if err == nil {
				v.SetInt(int64(d))
			}
			return err
		}, true
	case t == sizeType:
		return func(v reflect.Value, s string) error {
			n, err := ParseSize(s)
			if err == nil {
				v.SetInt(n)
			}
			return err
		}, true
	case t == regexpType:
		return func(v reflect.Value, s string) error {
			re, err := regexp.Compile(s)
			if err != nil {
				return fmt.Errorf("bad regular expression %q: %w", s, err)
			}
			v.Set(reflect.ValueOf(re))
			return nil
		}, true
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return func(v reflect.Value, s string) error {
			if err := v.Addr().Interface().(Unmarshaler).UnmarshalConf(s); err != nil {
				return fmt.Errorf("bad value %q: %w", s, err)
			}
			return nil
		}, true
	case t.Kind() == reflect.Pointer && t.Implements(unmarshalerType):
		return func(v reflect.Value, s string) error {
			nv := reflect.New(t.Elem())
			if err := nv.Interface().(Unmarshaler).UnmarshalConf(s); err != nil {
				return fmt.Errorf("bad value %q: %w", s, err)
			}
			v.Set(nv)
			return nil
		}, true
	}
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value, s string) error { v.SetString(s); return nil }, true
	case reflect.Bool:
		return func(v reflect.Value, s string) error {
			b, err := ParseBool(s)
			if err == nil {
				v.SetBool(b)
			}
			return err
		}, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return func(v reflect.Value, s string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
			if err != nil {
				lo, hi := -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1
				return fmt.Errorf("bad integer %q: want a whole number from %d to %d", s, lo, hi)
			}
			v.SetInt(n)
			return nil
		}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		bits := t.Bits()
		return func(v reflect.Value, s string) error {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, bits)
			if err != nil {
				hi := uint64(math.MaxUint64) >> (64 - bits)
				return fmt.Errorf("bad number %q: want a whole number from 0 to %d", s, hi)
			}
			v.SetUint(n)
			return nil
		}, true
	case reflect.Float32, reflect.Float64:
		bits := t.Bits()
		return func(v reflect.Value, s string) error {
			t := strings.TrimSpace(s)
			f, err := strconv.ParseFloat(t, bits)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return fmt.Errorf("bad number %q: want a decimal number like 0.5", s)
			}
			v.SetFloat(f)
			return nil
		}, true
	}
	return nil, false
}

func allKeys(fields []confField) []string {
	var keys []string
	for _, f := range fields {
		keys = append(keys, f.keys...)
	}
	slices.Sort(keys)
	return keys
}

// ErrUnknownKey is wrapped by the errors UnknownKeyError makes (and so Decode's error for a
// key no field takes), so a caller that knows more keys (Fluent Bit's) can tell them apart.
var ErrUnknownKey = errors.New("unknown key")

// UnknownKeyError makes the error for a key p that no one takes, listing the known keys
// and, when p's key looks like a typo of one, that one.
func UnknownKeyError(p Property, known []string) error {
	keys := slices.Clone(known)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: fmt.Errorf("%w: this section takes no keys of its own", ErrUnknownKey)}
	}
	hint := ""
	lower, best := strings.ToLower(p.Key), 3
	for _, k := range keys {
		if d := editDistance(lower, k); d < best {
			best, hint = d, fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return &Error{File: p.File, Line: p.Line, Key: p.Key, Err: fmt.Errorf("%w%s; known keys: %s", ErrUnknownKey, hint, strings.Join(keys, ", "))}
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ConfigRelative is p's value as a file path: as given when it is absolute, exists from
// the working directory or p has no file; else relative to the directory of p's file.
func ConfigRelative(p Property) string {
	v := strings.TrimSpace(p.Value)
	if v == "" || filepath.IsAbs(v) || p.File == "" {
		return p.Value
	}
	if _, err := os.Stat(v); err == nil {
		return p.Value
	}
	return filepath.Join(filepath.Dir(p.File), v)
}
