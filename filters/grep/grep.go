// Package grep keeps or drops records by regular expressions on their values, like Fluent
// Bit's grep filter.
//
//	[FILTER]
//	    Name       grep
//	    Match      *
//	    Regex      log aa
//	    Exclude    $kubernetes['labels']['app'] myapp
//	    Logical_Op legacy
//
// Keys:
//
//   - regex KEY REGEX (repeatable): keep records whose KEY matches REGEX.
//   - exclude KEY REGEX (repeatable): drop records whose KEY matches REGEX.
//   - logical_op legacy|and|or (default legacy, case-insensitive).
//
// KEY is a record accessor ($log, $kubernetes['labels']['app'], $items[0]) or a plain key.
// REGEX is the rest of the value after the spaces that follow KEY, so it may contain spaces.
//
// Semantics. In legacy mode a record is kept when every regex rule matches and no exclude
// rule matches: the AND-for-regex, OR-for-exclude behaviour Fluent Bit documents. (Fluent
// Bit's C code evaluates legacy rules in order and keeps a record as soon as one regex
// matches, so with several Regex keys only the first one counts — its issues #3259 and
// #7035; its docs advise one Regex, Excludes first. Configurations that follow that advice
// behave the same here; the others get the documented meaning.) With logical_op and, all
// rules must match; with or, one is enough; the result keeps the record for regex rules and
// drops it for exclude rules. As in Fluent Bit, and/or cannot mix regex and exclude rules:
// that is a configuration error. An unknown logical_op is an error too (Fluent Bit falls back to
// legacy silently).
//
// Only string values are matched, as in Fluent Bit: a missing key, a number, a boolean, a
// map, an array or binary data never matches, so a regex rule on it fails (the record is
// dropped in legacy and and modes) and an exclude rule on it does not drop the record.
//
// Regular expressions are Go's RE2 syntax, compiled in multi-line mode so that ^ and $
// match at line breaks as Onigmo's Ruby syntax (Fluent Bit's engine) does; a pattern
// written /like this/ loses its slashes, as in Fluent Bit. Perl/Ruby features RE2 lacks
// (look-around, back-references, possessive quantifiers, \h, \Z) are reported when the
// configuration is loaded.
package grep

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Grep is the grep filter. Set the fields (or let the engine decode them), then call Init.
type Grep struct {
	Regex     []string `conf:"regex"`      // "KEY REGEX", one per occurrence
	Exclude   []string `conf:"exclude"`    // "KEY REGEX", one per occurrence
	LogicalOp string   `conf:"logical_op"` // legacy (default), and, or

	op    logicalOp
	rules []rule // regex rules first, then exclude rules
}

type logicalOp int

const (
	opLegacy logicalOp = iota
	opAnd
	opOr
)

type rule struct {
	key     *accessor.Accessor
	re      *regexp.Regexp
	exclude bool
}

func init() {
	pipeline.RegisterFilter("grep", func() pipeline.Filter { return &Grep{} })
}

// Validate parses and compiles the rules, without side effects, so that mistakes show up
// when the configuration is loaded (and at --dry-run). Errors are config.KeyErrorf errors
// naming the key and the value at fault. It may be called more than once.
func (g *Grep) Validate() error {
	var op logicalOp
	switch strings.ToLower(strings.TrimSpace(g.LogicalOp)) {
	case "", "legacy":
		op = opLegacy
	case "and":
		op = opAnd
	case "or":
		op = opOr
	default:
		return config.KeyErrorf("logical_op", "%q: want legacy, and or or", g.LogicalOp)
	}
	if op != opLegacy && len(g.Regex) > 0 && len(g.Exclude) > 0 {
		return config.KeyErrorf("logical_op", "%s: regex and exclude cannot be mixed (use one kind, or logical_op legacy)",
			strings.ToLower(strings.TrimSpace(g.LogicalOp)))
	}
	rules := make([]rule, 0, len(g.Regex)+len(g.Exclude))
	for _, set := range []struct {
		name    string
		values  []string
		exclude bool
	}{{"regex", g.Regex, false}, {"exclude", g.Exclude, true}} {
		for _, v := range set.values {
			r, err := parseRule(v)
			if err != nil {
				return config.KeyErrorf(set.name, "%q: %v", v, err)
			}
			r.exclude = set.exclude
			rules = append(rules, r)
		}
	}
	g.op, g.rules = op, rules
	return nil
}

// Init validates the keys again (the fields may have been set since Configure).
func (g *Grep) Init(_ context.Context, _ pipeline.Env) error {
	return g.Validate()
}

// parseRule reads "KEY REGEX".
func parseRule(v string) (rule, error) {
	v = strings.TrimLeft(v, " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		return rule{}, fmt.Errorf("want KEY REGEX")
	}
	key, pattern := v[:i], strings.TrimLeft(v[i:], " \t")
	if pattern == "" {
		return rule{}, fmt.Errorf("want KEY REGEX, got no regex")
	}
	a, err := accessor.Parse(key)
	if err != nil {
		return rule{}, err
	}
	re, err := compile(pattern)
	if err != nil {
		return rule{}, err
	}
	return rule{key: a, re: re}, nil
}

// compile reads a pattern the way Fluent Bit's flb_regex_create does: /slashes/ around it
// are dropped, and ^ $ are line anchors (Ruby syntax).
func compile(pattern string) (*regexp.Regexp, error) {
	if len(pattern) >= 2 && pattern[0] == '/' && pattern[len(pattern)-1] == '/' {
		pattern = pattern[1 : len(pattern)-1]
	}
	return regexp.Compile("(?m)" + pattern)
}

// matches reports whether r's key holds a string its regex matches.
func (r *rule) matches(rec event.Map) bool {
	v, ok := r.key.Get(rec)
	if !ok {
		return false
	}
	s, ok := v.(string)
	return ok && r.re.MatchString(s)
}

// Filter keeps or drops ev. It never changes the record and never allocates.
func (g *Grep) Filter(_ string, ev *event.Event) (pipeline.Verdict, error) {
	if g.keep(ev.Record) {
		return pipeline.Keep, nil
	}
	return pipeline.Drop, nil
}

func (g *Grep) keep(rec event.Map) bool {
	switch g.op {
	case opAnd, opOr:
		if len(g.rules) == 0 {
			return true
		}
		// All rules are of one kind (Validate refuses a mix).
		var hit bool
		if g.op == opAnd {
			hit = true
			for i := range g.rules {
				if !g.rules[i].matches(rec) {
					hit = false
					break
				}
			}
		} else {
			for i := range g.rules {
				if g.rules[i].matches(rec) {
					hit = true
					break
				}
			}
		}
		return hit != g.rules[0].exclude
	default:
		for i := range g.rules {
			if g.rules[i].matches(rec) == g.rules[i].exclude {
				return false
			}
		}
		return true
	}
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*Grep)(nil)
	_ pipeline.Validator   = (*Grep)(nil)
	_ pipeline.Initializer = (*Grep)(nil)
)
