// Package modify changes records by rules, under conditions, like Fluent Bit's modify filter.
//
//	[FILTER]
//	    Name      modify
//	    Match     *
//	    Condition Key_Does_Not_Exist cpustats
//	    Condition Key_Exists         Mem.used
//	    Set       cpustats UNKNOWN
//	    Rename    Mem.free MEMFREE
//
// Rules (names are case-insensitive, parameters are not):
//
//	Set KEY VALUE                     set KEY to VALUE, replacing any value
//	Add KEY VALUE                     set KEY to VALUE if KEY is absent (Add_if_not_present: old name)
//	Remove KEY                        remove KEY
//	Remove_wildcard PREFIX            remove every key starting with PREFIX (a trailing * is allowed)
//	Remove_regex REGEX                remove every key matching REGEX
//	Rename KEY NEW                    rename KEY to NEW if KEY exists and NEW does not
//	Hard_rename KEY NEW               rename KEY to NEW if KEY exists, replacing NEW
//	Copy KEY NEW                      copy KEY's value to NEW if KEY exists and NEW does not
//	Hard_copy KEY NEW                 copy KEY's value to NEW if KEY exists, replacing NEW
//	Move_to_start PREFIX              accepted, no effect (see below)
//	Move_to_end PREFIX                accepted, no effect (see below)
//
// Conditions (Condition TYPE ARGS, repeatable; all must hold for any rule to apply):
//
//	Key_exists KEY                                true if KEY exists (its value may be null)
//	Key_does_not_exist KEY                        true if KEY does not exist
//	A_key_matches REGEX                           true if a top-level key matches REGEX
//	No_key_matches REGEX                          true if no top-level key matches REGEX
//	Key_value_equals KEY VALUE                    true if KEY exists and its value is the string VALUE
//	Key_value_does_not_equal KEY VALUE            true if KEY exists and its value is not VALUE
//	Key_value_matches KEY REGEX                   true if KEY exists and its value matches REGEX
//	Key_value_does_not_match KEY REGEX            true if KEY exists and its value does not match
//	Matching_keys_have_matching_values KR VR      true if every key matching KR has a value matching VR
//	Matching_keys_do_not_have_matching_values KR VR
//	                                              true if no key matching KR has a value matching VR
//
// In conditions, KEY is a record accessor ($kubernetes['labels']['app']) or a plain key, as
// Fluent Bit allows; in rules, keys are top-level keys taken literally, as in Fluent Bit. A
// parameter that contains spaces is written in double or single quotes ("a b", with \" \'
// and \\ escapes), as Fluent Bit's tokenizer reads it; Set and Add store VALUE as a string.
//
// Rules apply in the order they appear in the section, each to the result of the previous
// one, so the order across different keys matters (Rename a b then Set a x is not Set a x
// then Rename a b). That is why this filter reads its section with SetProperties rather than
// through `conf` fields. Conditions are evaluated once, on the record as it arrives.
//
// Matching follows Fluent Bit: value comparisons and value regexes see strings (and, for
// regexes, booleans as "true"/"false"); numbers, maps and arrays never equal or match.
// Remove_wildcard compares the start of keys, case-sensitively. Regexes are Onigmo's Ruby
// syntax as in Fluent Bit (internal/regex: ^ and $ match at line breaks, look-around and
// back-references work), with /slashes/ around a pattern dropped; a match that runs out
// of time (1 s, backtracking patterns only) counts as no match.
//
// Differences from Fluent Bit, on purpose:
//   - Move_to_start and Move_to_end have no effect: a record here is a Go map, which has no
//     order (nor does the msgpack encoder keep one). They are accepted so configurations load.
//   - Matching_keys_do_not_have_matching_values follows its documentation (no matching key
//     has a matching value; true when no key matches). Fluent Bit's C code negates
//     Matching_keys_have_matching_values instead, which differs when several keys match or
//     none does.
//   - Copy and Hard_copy copy nested maps and arrays deeply, so a later change to one copy
//     never shows in the other.
//   - Hard_rename and Hard_copy of a key onto itself change nothing (Fluent Bit drops the
//     key), and a rule or condition with missing or extra parameters is a configuration error.
//   - A trailing * in Remove_wildcard is read as the wildcard it looks like (Fluent Bit
//     compares it literally, so Mem* matched nothing there); Remove_wildcard Mem works in both.
package modify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Modify is the modify filter. Give it its section's properties with SetProperties, then call
// Validate or Init.
type Modify struct {
	props []config.Property

	conds  []condition
	rules  []rule
	writes bool // some rule may add a key (a nil record then gets a map)
}

type op int

const (
	opSet op = iota
	opAdd
	opRemove
	opRemoveWildcard
	opRemoveRegex
	opRename
	opHardRename
	opCopy
	opHardCopy
	opMoveToStart
	opMoveToEnd
)

// ruleOps maps each rule key to its operation and number of parameters.
var ruleOps = map[string]struct {
	op    op
	nargs int
}{
	"set":                {opSet, 2},
	"add":                {opAdd, 2},
	"add_if_not_present": {opAdd, 2},
	"remove":             {opRemove, 1},
	"remove_wildcard":    {opRemoveWildcard, 1},
	"remove_regex":       {opRemoveRegex, 1},
	"rename":             {opRename, 2},
	"hard_rename":        {opHardRename, 2},
	"copy":               {opCopy, 2},
	"hard_copy":          {opHardCopy, 2},
	"move_to_start":      {opMoveToStart, 1},
	"move_to_end":        {opMoveToEnd, 1},
}

type rule struct {
	op  op
	key string        // KEY, or the prefix of Remove_wildcard
	to  string        // NEW of Rename, Copy and their hard variants
	val any           // VALUE of Set and Add, boxed once so that setting it does not allocate
	re  *regex.Regexp // Remove_regex
}

type condKind int

const (
	condKeyExists condKind = iota
	condKeyDoesNotExist
	condAKeyMatches
	condNoKeyMatches
	condKeyValueEquals
	condKeyValueDoesNotEqual
	condKeyValueMatches
	condKeyValueDoesNotMatch
	condMatchingKeysHaveMatchingValues
	condMatchingKeysDoNotHaveMatchingValues
)

// condKinds maps each condition type to its kind and the shape of its two parameters:
// 'k' a record accessor, 'r' a regex, 's' a string, 0 none.
var condKinds = map[string]struct {
	kind condKind
	a, b byte
}{
	"key_exists":                                {condKeyExists, 'k', 0},
	"key_does_not_exist":                        {condKeyDoesNotExist, 'k', 0},
	"a_key_matches":                             {condAKeyMatches, 'r', 0},
	"no_key_matches":                            {condNoKeyMatches, 'r', 0},
	"key_value_equals":                          {condKeyValueEquals, 'k', 's'},
	"key_value_does_not_equal":                  {condKeyValueDoesNotEqual, 'k', 's'},
	"key_value_matches":                         {condKeyValueMatches, 'k', 'r'},
	"key_value_does_not_match":                  {condKeyValueDoesNotMatch, 'k', 'r'},
	"matching_keys_have_matching_values":        {condMatchingKeysHaveMatchingValues, 'r', 'r'},
	"matching_keys_do_not_have_matching_values": {condMatchingKeysDoNotHaveMatchingValues, 'r', 'r'},
}

type condition struct {
	kind  condKind
	key   *accessor.Accessor
	keyRe *regex.Regexp
	val   string
	valRe *regex.Regexp
}

// engineKeys are handled by the engine; they are skipped if they reach SetProperties.
var engineKeys = map[string]bool{
	"name": true, "match": true, "match_regex": true, "alias": true, "log_level": true,
	"log_suppress_interval": true,
}

func init() {
	pipeline.RegisterFilter("modify", func() pipeline.Filter { return &Modify{} })
}

// SetProperties takes the filter's section properties in file order. It refuses keys that
// are neither a rule nor "condition"; Validate parses the values.
func (m *Modify) SetProperties(props []config.Property) error {
	m.props = m.props[:0]
	for _, p := range props {
		k := strings.ToLower(p.Key)
		if engineKeys[k] {
			continue
		}
		if _, ok := ruleOps[k]; !ok && k != "condition" {
			return config.Errorf(p, "unknown key for the modify filter (want condition or a rule: set, add, "+
				"remove, remove_wildcard, remove_regex, rename, hard_rename, copy, hard_copy, move_to_start, move_to_end)")
		}
		m.props = append(m.props, p)
	}
	return nil
}

// Validate parses and compiles the conditions and rules, without side effects, so that
// mistakes show up when the configuration is loaded (and at --dry-run). Errors name the
// key and value at fault and, because a rule key may be repeated, the file and line of
// that very occurrence (config.Errorf on the property) rather than of the key's last one.
// It may be called more than once.
func (m *Modify) Validate() error {
	var (
		conds  []condition
		rules  []rule
		writes bool
	)
	for _, p := range m.props {
		args, err := splitQuoted(p.Value)
		if err != nil {
			return config.Errorf(p, "%q: %v", p.Value, err)
		}
		k := strings.ToLower(p.Key)
		if k == "condition" {
			c, err := parseCondition(args)
			if err != nil {
				return config.Errorf(p, "%q: %v", p.Value, err)
			}
			conds = append(conds, c)
			continue
		}
		r, err := parseRule(ruleOps[k].op, ruleOps[k].nargs, args)
		if err != nil {
			return config.Errorf(p, "%q: %v", p.Value, err)
		}
		if r.op == opSet || r.op == opAdd {
			writes = true
		}
		rules = append(rules, r)
	}
	m.conds, m.rules, m.writes = conds, rules, writes
	return nil
}

// Init validates the properties again (SetProperties may have been called since).
func (m *Modify) Init(_ context.Context, _ pipeline.Env) error {
	return m.Validate()
}

func parseRule(o op, nargs int, args []string) (rule, error) {
	if len(args) != nargs {
		want := "KEY"
		switch o {
		case opSet, opAdd:
			want = "KEY VALUE"
		case opRename, opHardRename, opCopy, opHardCopy:
			want = "KEY NEW_KEY"
		case opRemoveWildcard, opMoveToStart, opMoveToEnd:
			want = "KEY_PREFIX"
		case opRemoveRegex:
			want = "REGEX"
		}
		return rule{}, fmt.Errorf("want %s (%d parameter(s)), got %d; quote a parameter that has spaces", want, nargs, len(args))
	}
	r := rule{op: o, key: args[0]}
	if r.key == "" {
		return rule{}, errors.New("empty key")
	}
	switch o {
	case opSet, opAdd:
		r.val = args[1]
	case opRename, opHardRename, opCopy, opHardCopy:
		r.to = args[1]
		if r.to == "" {
			return rule{}, errors.New("empty new key")
		}
	case opRemoveWildcard:
		r.key = strings.TrimSuffix(r.key, "*")
	case opRemoveRegex:
		re, err := compile(args[0])
		if err != nil {
			return rule{}, err
		}
		r.re = re
	}
	return r, nil
}

func parseCondition(args []string) (condition, error) {
	if len(args) == 0 {
		return condition{}, errors.New("want a condition type")
	}
	spec, ok := condKinds[strings.ToLower(args[0])]
	if !ok {
		return condition{}, fmt.Errorf("unknown condition %q", args[0])
	}
	n := 1
	if spec.b != 0 {
		n = 2
	}
	if len(args)-1 != n {
		return condition{}, fmt.Errorf("condition %s takes %d parameter(s), got %d; quote a parameter that has spaces",
			args[0], n, len(args)-1)
	}
	c := condition{kind: spec.kind}
	var err error
	switch spec.a {
	case 'k':
		c.key, err = accessor.Parse(args[1])
	case 'r':
		c.keyRe, err = compile(args[1])
	}
	if err != nil {
		return condition{}, err
	}
	switch spec.b {
	case 's':
		c.val = args[2]
	case 'r':
		if c.valRe, err = compile(args[2]); err != nil {
			return condition{}, err
		}
	}
	return c, nil
}

// compile reads a pattern the way Fluent Bit's flb_regex_create does: /slashes/ around it
// are dropped, and the syntax is Onigmo's (^ $ are line anchors).
func compile(pattern string) (*regex.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("empty regex")
	}
	if len(pattern) >= 2 && pattern[0] == '/' && pattern[len(pattern)-1] == '/' {
		pattern = pattern[1 : len(pattern)-1]
	}
	return regex.Compile(pattern)
}

// splitQuoted splits s at spaces and tabs; a word may be quoted with " or ', inside which
// a backslash escapes the quote or itself (Fluent Bit's flb_utils_split_quoted).
func splitQuoted(s string) ([]string, error) {
	var out []string
	for i := 0; ; {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		q := s[i]
		if q != '"' && q != '\'' {
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			out = append(out, s[i:j])
			i = j
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(s) && s[j] != q; j++ {
			if s[j] == '\\' && j+1 < len(s) && (s[j+1] == q || s[j+1] == '\\') {
				j++
			}
			b.WriteByte(s[j])
		}
		if j == len(s) {
			return nil, fmt.Errorf("unterminated %c quote", q)
		}
		j++ // closing quote
		if j < len(s) && s[j] != ' ' && s[j] != '\t' {
			return nil, fmt.Errorf("text right after a closing %c quote", q)
		}
		out = append(out, b.String())
		i = j
	}
}

// Filter applies the rules to ev.Record in place when every condition holds. It always
// keeps the record and allocates only for what a rule adds (deep copies, map growth).
func (m *Modify) Filter(_ string, ev *event.Event) (pipeline.Verdict, error) {
	rec := ev.Record
	for i := range m.conds {
		if !m.conds[i].holds(rec) {
			return pipeline.Keep, nil
		}
	}
	if rec == nil {
		if !m.writes {
			return pipeline.Keep, nil
		}
		rec = make(event.Map, 0, 2)
	}
	for i := range m.rules {
		m.rules[i].apply(&rec)
	}
	ev.Record = rec
	return pipeline.Keep, nil
}

// apply runs one rule, ordering keys as Fluent Bit's filter_modify.c does: Set of an
// existing key moves it to the end, Add and Set of a new key append, Rename and Hard_rename
// keep the position, Copy and Hard_copy insert the copy right after the source, and
// Move_to_start / Move_to_end move the keys the rule names.
func (r *rule) apply(recp *event.Map) {
	rec := *recp
	defer func() { *recp = rec }()
	switch r.op {
	case opSet:
		rec.Delete(r.key)
		rec = append(rec, event.KV{Key: r.key, Value: r.val})
	case opAdd:
		if !rec.Has(r.key) {
			rec = append(rec, event.KV{Key: r.key, Value: r.val})
		}
	case opRemove:
		rec.Delete(r.key)
	case opRemoveWildcard:
		rec = slices.DeleteFunc(rec, func(kv event.KV) bool { return strings.HasPrefix(kv.Key, r.key) })
	case opRemoveRegex:
		rec = slices.DeleteFunc(rec, func(kv event.KV) bool { return r.re.MatchString(kv.Key) })
	case opRename, opHardRename:
		if !rec.Has(r.key) || r.key == r.to {
			return
		}
		if rec.Has(r.to) && r.op == opRename {
			return
		}
		rec.Rename(r.key, r.to)
	case opCopy, opHardCopy:
		if !rec.Has(r.key) || r.key == r.to {
			return
		}
		if rec.Has(r.to) {
			if r.op == opCopy {
				return
			}
			rec.Delete(r.to)
		}
		i := rec.Index(r.key)
		rec = slices.Insert(rec, i+1, event.KV{Key: r.to, Value: deepCopy(rec[i].Value)})
	case opMoveToStart, opMoveToEnd:
		var moved, rest event.Map
		for _, kv := range rec {
			if strings.HasPrefix(kv.Key, r.key) {
				moved = append(moved, kv)
			} else {
				rest = append(rest, kv)
			}
		}
		if len(moved) == 0 {
			return
		}
		if r.op == opMoveToStart {
			rec = append(moved, rest...)
		} else {
			rec = append(rest, moved...)
		}
	}
}

// deepCopy copies the containers of v so that the copy shares nothing mutable with v.
func deepCopy(v any) any {
	switch x := v.(type) {
	case event.Map:
		return x.Clone()
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	case []byte:
		return append([]byte(nil), x...)
	}
	return v
}

func (c *condition) holds(rec event.Map) bool {
	switch c.kind {
	case condKeyExists:
		_, ok := c.key.Get(rec)
		return ok
	case condKeyDoesNotExist:
		_, ok := c.key.Get(rec)
		return !ok
	case condAKeyMatches, condNoKeyMatches:
		found := false
		for _, kv := range rec {
			if c.keyRe.MatchString(kv.Key) {
				found = true
				break
			}
		}
		return found == (c.kind == condAKeyMatches)
	case condKeyValueEquals, condKeyValueDoesNotEqual:
		v, ok := c.key.Get(rec)
		if !ok {
			return false
		}
		return valueEquals(v, c.val) == (c.kind == condKeyValueEquals)
	case condKeyValueMatches, condKeyValueDoesNotMatch:
		v, ok := c.key.Get(rec)
		if !ok {
			return false
		}
		return valueMatches(c.valRe, v) == (c.kind == condKeyValueMatches)
	case condMatchingKeysHaveMatchingValues, condMatchingKeysDoNotHaveMatchingValues:
		want := c.kind == condMatchingKeysHaveMatchingValues
		for _, kv := range rec {
			if c.keyRe.MatchString(kv.Key) && valueMatches(c.valRe, kv.Value) != want {
				return false
			}
		}
		return true
	}
	return false
}

// valueEquals compares a string or binary value with s; other types never equal.
func valueEquals(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return x == s
	case []byte:
		return string(x) == s
	}
	return false
}

// valueMatches runs re on a string value, or on "true"/"false" for a boolean, as Fluent
// Bit does; other types never match.
func valueMatches(re *regex.Regexp, v any) bool {
	switch x := v.(type) {
	case string:
		return re.MatchString(x)
	case bool:
		if x {
			return re.MatchString("true")
		}
		return re.MatchString("false")
	}
	return false
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter         = (*Modify)(nil)
	_ pipeline.PropertySetter = (*Modify)(nil)
	_ pipeline.Validator      = (*Modify)(nil)
	_ pipeline.Initializer    = (*Modify)(nil)
)
