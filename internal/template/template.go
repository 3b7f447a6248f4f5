// Package template is the one template language of the plugins that build a tag or a
// topic from a record: rewrite_tag's NEW_TAG, the mqtt output's topic and the mqtt input's
// tag. It follows Fluent Bit's record accessor templates (flb_record_accessor.c):
//
//	$TAG        the tag                     ${TAG} is accepted for it
//	$TAG[n]     part n of the tag, split at '.', from 0; empty when there are fewer parts
//	$0 … $9     regex match and groups      (where the plugin has a regex: rewrite_tag)
//	$key        a value of the record       (where the plugin has a record)
//	$key['a'][0]  a record accessor, as in package event/accessor
//
// The rule for where a placeholder ends, the same everywhere:
//
//   - $TAG is matched first and is three letters: $TAGS is the tag then "S", $TAG-x the tag
//     then "-x", $TAG.x the tag then ".x" (as in Fluent Bit).
//   - $TAG[ must be $TAG[n] with n a number from 0 to 1000 and a closing ']'.
//   - $ and one digit is a regex group: $12 is group 1 then "2" (as in Fluent Bit).
//   - A record key is letters, digits, '_' and non-ASCII bytes; any other character ends
//     it ('.', '-', '/', ':', '$', ...), unless it is a '[' opening a subscript, which runs
//     to its ']' (quotes inside are honoured). So $a.$b reads two keys and $dev-$TAG is the
//     key dev, "-", then the tag. (Fluent Bit ends a key at '.', ' ', ',' and '"' and then
//     rejects any other character but [A-Za-z0-9_]; here they end the key instead.)
//   - A '$' that starts none of these is a literal '$'.
//
// A plugin picks what it offers with Syntax: another name for the tag variable (the mqtt
// input's $TOPIC, split at '/'), regex groups, record keys. It does not expand ${ENV}
// variables: the configuration does that before a plugin sees its keys.
package template

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
)

// Kind says what a Part stands for.
type Kind uint8

// The kinds of Part.
const (
	Literal Kind = iota // Part.Lit as written
	Tag                 // the whole tag
	TagPart             // part Part.N of the tag
	Group               // regex group Part.N
	Key                 // the record value Part.Key names
)

// Part is one piece of a template.
type Part struct {
	Kind Kind
	Lit  string
	N    int
	Key  *accessor.Accessor
}

// Syntax is what a plugin's templates may hold.
type Syntax struct {
	// TagName is the name of the tag variable, "TAG" when empty.
	TagName string
	// Sep splits the tag for $TAG[n]: '.' when 0.
	Sep byte
	// Groups makes $0 to $9 regex groups; without it they are an error (Keys) or
	// literal text.
	Groups bool
	// Keys makes $key a record value; without it a '$' before anything but the tag
	// variable (or a group) is literal text.
	Keys bool
}

// MaxTagPart is the largest n of $TAG[n].
const MaxTagPart = 1000

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	parts []Part
	keys  bool
	syn   Syntax
}

// Parse compiles s.
func Parse(s string, syn Syntax) (*Template, error) {
	if syn.TagName == "" {
		syn.TagName = "TAG"
	}
	if syn.Sep == 0 {
		syn.Sep = '.'
	}
	t := &Template{syn: syn}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, Part{Kind: Literal, Lit: lit.String()})
			lit.Reset()
		}
	}
	name := syn.TagName
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 >= len(s) {
			lit.WriteByte(s[i])
			i++
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "{"+name+"}"):
			flush()
			t.parts = append(t.parts, Part{Kind: Tag})
			i += 1 + len(name) + 2
		case strings.HasPrefix(rest, name+"["):
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("$%s[ without a closing ']'", name)
			}
			digits := rest[len(name)+1 : end]
			n, err := strconv.Atoi(digits)
			if err != nil || strings.Trim(digits, "0123456789") != "" || n > MaxTagPart {
				return nil, fmt.Errorf("$%s: want $%s[N] with N from 0 to %d", rest[:end+1], name, MaxTagPart)
			}
			flush()
			t.parts = append(t.parts, Part{Kind: TagPart, N: n})
			i += 1 + end + 1
		case strings.HasPrefix(rest, name):
			flush()
			t.parts = append(t.parts, Part{Kind: Tag})
			i += 1 + len(name)
		case rest[0] >= '0' && rest[0] <= '9' && syn.Groups:
			flush()
			t.parts = append(t.parts, Part{Kind: Group, N: int(rest[0] - '0')})
			i += 2
		case rest[0] >= '0' && rest[0] <= '9' && syn.Keys:
			return nil, fmt.Errorf("$%c: a regex group, and there is no regex here", rest[0])
		case syn.Keys && IsKeyByte(rest[0]):
			j, err := keyEnd(rest)
			if err != nil {
				return nil, err
			}
			a, err := accessor.Parse("$" + rest[:j])
			if err != nil {
				return nil, err
			}
			flush()
			t.parts = append(t.parts, Part{Kind: Key, Key: a})
			t.keys = true
			i += 1 + j
		default:
			lit.WriteByte('$')
			i++
		}
	}
	flush()
	if len(t.parts) == 0 {
		return nil, errors.New("empty template")
	}
	return t, nil
}

// IsKeyByte reports whether c continues a record key in a template: ASCII letters, digits,
// '_' and the bytes of non-ASCII characters.
func IsKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// keyEnd returns the length of the key and its subscripts at the start of s (after '$').
func keyEnd(s string) (int, error) {
	j := 0
	for j < len(s) && IsKeyByte(s[j]) {
		j++
	}
	for j < len(s) && s[j] == '[' {
		k := j + 1
		var q byte
		for ; k < len(s); k++ {
			c := s[k]
			if q != 0 {
				switch {
				case c == '\\' && q == '"':
					k++
				case c == q && q == '\'' && k+1 < len(s) && s[k+1] == '\'':
					k++ // '' stands for one quote
				case c == q:
					q = 0
				}
				continue
			}
			if c == '\'' || c == '"' {
				q = c
			} else if c == ']' {
				break
			}
		}
		if k >= len(s) {
			return 0, fmt.Errorf("unterminated '[' in %q", "$"+s)
		}
		j = k + 1
	}
	return j, nil
}

// Parts returns the template's pieces, for a plugin that renders them its own way.
func (t *Template) Parts() []Part { return t.parts }

// HasKeys reports whether the template reads the record, so it must be rendered per
// record rather than once per tag.
func (t *Template) HasKeys() bool { return t.keys }

// Vars are what a template is rendered with.
type Vars struct {
	Tag    string
	Record event.Map
	// Subject and Match are the string a regex ran on and its submatch indexes
	// (regexp.FindStringSubmatchIndex), for $0 to $9.
	Subject string
	Match   []int
}

// Append appends the rendered template to dst. A record value that is a string (or
// bytes) is written as it is, any other as JSON. A key missing from the record, or null,
// renders as nothing and makes missing true; a group that did not match renders as
// nothing.
func (t *Template) Append(dst []byte, v *Vars) (out []byte, missing bool) {
	for _, p := range t.parts {
		switch p.Kind {
		case Literal:
			dst = append(dst, p.Lit...)
		case Tag:
			dst = append(dst, v.Tag...)
		case TagPart:
			dst = append(dst, Split(v.Tag, p.N, t.syn.Sep)...)
		case Group:
			if m := v.Match; 2*p.N+1 < len(m) && m[2*p.N] >= 0 {
				dst = append(dst, v.Subject[m[2*p.N]:m[2*p.N+1]]...)
			}
		case Key:
			val, ok := p.Key.Get(v.Record)
			if !ok || val == nil {
				missing = true
				continue
			}
			dst = AppendValue(dst, val)
		}
	}
	return dst, missing
}

// AppendValue appends a record value as a template writes it: a string or bytes as they
// are, anything else as JSON.
func AppendValue(dst []byte, val any) []byte {
	switch x := val.(type) {
	case string:
		return append(dst, x...)
	case []byte:
		return append(dst, x...)
	}
	return event.AppendJSON(dst, val)
}

// Split returns part n (from 0) of s split at sep, or "" when s has fewer parts: the
// $TAG[n] of templates.
func Split(s string, n int, sep byte) string {
	for i := 0; ; i++ {
		j := strings.IndexByte(s, sep)
		if i == n {
			if j < 0 {
				return s
			}
			return s[:j]
		}
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
}
