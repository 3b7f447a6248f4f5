// Package nest moves keys into a map or out of one, like Fluent Bit's nest filter.
//
//	[FILTER]
//	    Name        nest
//	    Match       *
//	    Operation   nest
//	    Wildcard    Mem.*
//	    Nest_under  Memstats
//	    Remove_prefix Mem.
//
// Keys:
//
//   - operation nest|lift (required, case-insensitive).
//   - wildcard PATTERN (repeatable, nest only, at least one): top-level keys to move. A
//     pattern ending in * matches keys starting with what comes before it; any other
//     pattern matches one key exactly. (Fluent Bit reads only a trailing *, too.)
//   - nest_under KEY (nest, required): the map the matching keys move into.
//   - nested_under KEY (lift, required): the map whose keys move up to the top level.
//   - add_prefix PREFIX: prepended to the name of every moved key.
//   - remove_prefix PREFIX: removed from the start of every moved key's name that has it.
//     With both, remove_prefix applies first.
//
// Behaviour, as in Fluent Bit: nest with no matching key leaves the record as it is (no
// empty map is added); a moved key replaces a key of the same name at its destination
// (nest_under replaces an existing key of that name; lifted keys replace top-level keys);
// lift on a missing key or a value that is not a map leaves the record as it is. Keys below
// the top level can be lifted by chaining lift filters, as in Fluent Bit's documentation.
package nest

import (
	"context"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Nest is the nest filter.
type Nest struct {
	Operation    string   `conf:"operation"`
	Wildcard     []string `conf:"wildcard"`
	NestUnder    string   `conf:"nest_under"`
	NestedUnder  string   `conf:"nested_under"`
	AddPrefix    string   `conf:"add_prefix"`
	RemovePrefix string   `conf:"remove_prefix"`

	lift     bool
	patterns []pattern
	exact    bool // every pattern is a whole key: look them up instead of scanning the record
}

type pattern struct {
	s      string
	prefix bool
}

func (p pattern) match(k string) bool {
	if p.prefix {
		return strings.HasPrefix(k, p.s)
	}
	return k == p.s
}

func init() {
	pipeline.RegisterFilter("nest", func() pipeline.Filter { return &Nest{} })
}

// Validate checks the keys against the operation.
func (n *Nest) Validate() error {
	switch strings.ToLower(strings.TrimSpace(n.Operation)) {
	case "nest":
		n.lift = false
		if len(n.Wildcard) == 0 {
			return config.KeyErrorf("wildcard", "operation nest needs at least one wildcard")
		}
		if n.NestUnder == "" {
			return config.KeyErrorf("nest_under", "operation nest needs nest_under")
		}
		if n.NestedUnder != "" {
			return config.KeyErrorf("nested_under", "nested_under is for operation lift")
		}
	case "lift":
		n.lift = true
		if n.NestedUnder == "" {
			return config.KeyErrorf("nested_under", "operation lift needs nested_under")
		}
		if n.NestUnder != "" {
			return config.KeyErrorf("nest_under", "nest_under is for operation nest")
		}
		if len(n.Wildcard) > 0 {
			return config.KeyErrorf("wildcard", "wildcard is for operation nest")
		}
	case "":
		return config.KeyErrorf("operation", "missing: want nest or lift")
	default:
		return config.KeyErrorf("operation", "%q: want nest or lift", n.Operation)
	}
	n.patterns = n.patterns[:0]
	n.exact = true
	for _, w := range n.Wildcard {
		w = strings.TrimSpace(w)
		if w == "" {
			return config.KeyErrorf("wildcard", "empty pattern")
		}
		if strings.HasSuffix(w, "*") {
			n.patterns = append(n.patterns, pattern{s: w[:len(w)-1], prefix: true})
			n.exact = false
		} else {
			n.patterns = append(n.patterns, pattern{s: w})
		}
	}
	return nil
}

// Init validates the keys again (fields may have been set since Configure).
func (n *Nest) Init(context.Context, pipeline.Env) error { return n.Validate() }

func (n *Nest) rename(k string) string {
	if n.RemovePrefix != "" {
		k = strings.TrimPrefix(k, n.RemovePrefix)
	}
	if n.AddPrefix != "" {
		k = n.AddPrefix + k
	}
	return k
}

func (n *Nest) matches(k string) bool {
	for _, p := range n.patterns {
		if p.match(k) {
			return true
		}
	}
	return false
}

// Filter nests or lifts keys in place. It always keeps the record. Key order is Fluent
// Bit's: nest leaves the other keys in order and appends the new map at the end, its keys in
// record order; lift removes the map and appends its keys at the end, in its order.
func (n *Nest) Filter(_ string, ev *event.Event) (pipeline.Verdict, error) {
	rec := ev.Record
	if rec == nil {
		return pipeline.Keep, nil
	}
	if n.lift {
		inner, ok := rec.Value(n.NestedUnder).(event.Map)
		if !ok {
			return pipeline.Keep, nil
		}
		rec.Delete(n.NestedUnder)
		for _, kv := range inner {
			rec.Set(n.rename(kv.Key), kv.Value)
		}
		ev.Record = rec
		return pipeline.Keep, nil
	}
	var inner event.Map
	kept := rec[:0]
	for _, kv := range rec {
		if kv.Key == n.NestUnder || !n.nests(kv.Key) {
			kept = append(kept, kv)
			continue
		}
		inner = append(inner, event.KV{Key: n.rename(kv.Key), Value: kv.Value})
	}
	if inner == nil {
		return pipeline.Keep, nil
	}
	clear(rec[len(kept):])
	kept.Set(n.NestUnder, inner)
	ev.Record = kept
	return pipeline.Keep, nil
}

// nests reports whether key k goes into the nested map.
func (n *Nest) nests(k string) bool {
	if n.exact {
		for _, p := range n.patterns {
			if p.s == k {
				return true
			}
		}
		return false
	}
	return n.matches(k)
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*Nest)(nil)
	_ pipeline.Validator   = (*Nest)(nil)
	_ pipeline.Initializer = (*Nest)(nil)
)
