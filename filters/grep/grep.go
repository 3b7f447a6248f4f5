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
// Regular expressions are Onigmo's Ruby syntax, as in Fluent Bit (internal/regex): ^ and
// $ match at line breaks; look-around, back-references, atomic groups and possessive
// quantifiers work (on a backtracking engine with a 1 s match timeout; a match that times
// out keeps the record and is logged as a filter error). A pattern written /like this/
// loses its slashes, as in Fluent Bit.
package grep

import (
	"context"
	"fmt"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
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
	re      *regex.Regexp
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
// are dropped, and the syntax is Onigmo's (^ $ are line anchors; see internal/regex).
func compile(pattern string) (*regex.Regexp, error) {
	if len(pattern) >= 2 && pattern[0] == '/' && pattern[len(pattern)-1] == '/' {
		pattern = pattern[1 : len(pattern)-1]
	}
	return regex.Compile(pattern)
}

// matches reports whether r's key holds a string its regex matches. A match that runs
// out of time (a backtracking pattern) sets *timeout.
func (r *rule) matches(rec event.Map, timeout *error) bool {
	v, ok := r.key.Get(rec)
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	hit, err := r.re.Match(s)
	if err != nil && *timeout == nil {
		*timeout = err
	}
	return hit
}

// Filter keeps or drops ev. It never changes the record and never allocates. A regex
// that runs out of time is an error: the engine logs it and keeps the record.
func (g *Grep) Filter(_ string, ev *event.Event) (pipeline.Verdict, error) {
	var timeout error
	keep := g.keep(ev.Record, &timeout)
	if timeout != nil {
		return pipeline.Keep, fmt.Errorf("grep: %w", timeout)
	}
	if keep {
		return pipeline.Keep, nil
	}
	return pipeline.Drop, nil
}

func (g *Grep) keep(rec event.Map, timeout *error) bool {
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
				if !g.rules[i].matches(rec, timeout) {
					hit = false
					break
				}
			}
		} else {
			for i := range g.rules {
				if g.rules[i].matches(rec, timeout) {
					hit = true
					break
				}
			}
		}
		return hit != g.rules[0].exclude
	default:
		for i := range g.rules {
			if g.rules[i].matches(rec, timeout) == g.rules[i].exclude {
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
