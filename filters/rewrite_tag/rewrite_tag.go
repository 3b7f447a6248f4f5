// Package rewritetag (folder rewrite_tag) re-emits records under a new tag chosen by rules, like Fluent Bit's
// rewrite_tag filter. Re-emitted records enter the pipeline again through an internal
// input of the filter's own ("emitter_for_<filter name>"), so the filters and outputs that
// match the new tag see them.
//
//	[FILTER]
//	    Name          rewrite_tag
//	    Match         test_tag
//	    Rule          $tool ^(fluent)$  from.$TAG.new.$tool.$sub['s1']['s2'].out false
//	    Emitter_Name  re_emitted
//
// Keys:
//
//   - rule "$KEY REGEX NEW_TAG KEEP" (repeatable, at least one). Rules are tried in order;
//     the first whose KEY holds a string that REGEX matches decides. KEY is a record
//     accessor ($name, $ss['s1']['s2'], $items[0]). REGEX is Onigmo (Ruby) syntax, as
//     in grep; it cannot contain spaces (write \s), as in Fluent Bit.
//     NEW_TAG is a template (package internal/template, Fluent Bit's rules): $TAG is the
//     record's tag, $TAG[n] its n-th dot-separated part (from 0), $0 to $9 the regex match
//     and its groups, $key or $key['sub'][0] a value of the record (a key name is letters,
//     digits and '_': any other character ends it, so $a.$b reads two keys and $TAG-x is
//     the tag then "-x"); ${TAG} is accepted for $TAG. Environment variables (${HOSTNAME})
//     are expanded when the configuration is read. A missing key or group renders as
//     nothing; a string value as it is, any other value as JSON. KEEP (true/false,
//     mandatory) keeps the original record under its old tag as well.
//   - emitter_name NAME: the name of the internal input in logs and metrics (default
//     "emitter_for_<filter name>").
//   - emitter_mem_buf_limit SIZE (default 10M): the internal input's mem_buf_limit. When
//     it is full, emitting blocks, which pauses the input whose record is being
//     re-emitted: backpressure, never a drop.
//   - emitter_storage.type memory|filesystem (default memory): accepted; the emitter
//     buffers in memory.
//
// Loop protection. A re-emitted record goes through every filter matching its new tag,
// this one included. Two guards stop a record from being rewritten forever:
//
//  1. A record this filter instance is re-emitting is passed through untouched when it
//     comes back to the same instance (the filter recognises the record while its own
//     Emit call is in progress), so a rule whose new tag matches the filter's Match is
//     applied once, not again and again. This is what Fluent Bit users expect from
//     `Match *` with rules that rewrite into a tag that also matches.
//  2. If other filters between replace the record (e.g. lua returning a new table), the
//     first guard cannot recognise it; a bound of 256 re-emissions in progress at once
//     per filter instance then stops the recursion: past it the record is kept under its
//     current tag and an error is logged.
//
// Regexes are Onigmo's Ruby syntax as in Fluent Bit (internal/regex); a match that runs
// out of time (1 s, backtracking patterns only) keeps the record under its tag and is
// logged as a filter error. On the backtracking engine unnamed groups are numbered
// before named ones ($1...), as in .NET.
//
// Differences from Fluent Bit: the first guard above (Fluent Bit relies
// on users writing Match patterns that do not match the new tags).
package rewritetag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
	"github.com/fluentbit-go/fluentbit-go/internal/template"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// MaxInFlight is the second loop guard: re-emissions in progress at once per instance.
const MaxInFlight = 256

// RewriteTag is the rewrite_tag filter.
type RewriteTag struct {
	Rule               []string    `conf:"rule"`
	EmitterName        string      `conf:"emitter_name"`
	MemBufLimit        config.Size `conf:"emitter_mem_buf_limit"`
	EmitterStorageType string      `conf:"emitter_storage.type"`

	rules []rule
	emit  pipeline.Emitter
	log   *slog.Logger

	inflightN atomic.Int64
	mu        sync.Mutex
	inflight  map[unsafe.Pointer]int
	guarded   atomic.Uint64
}

type rule struct {
	key  *accessor.Accessor
	re   *regex.Regexp
	tmpl *template.Template
	keep bool
	src  string
}

// DefaultEmitterMemBufLimit is Fluent Bit's default emitter_mem_buf_limit, 10M.
const DefaultEmitterMemBufLimit = 10_000_000

func init() {
	pipeline.RegisterFilter("rewrite_tag", func() pipeline.Filter { return New() })
}

// New returns a filter with the defaults set.
func New() *RewriteTag {
	return &RewriteTag{MemBufLimit: DefaultEmitterMemBufLimit, EmitterStorageType: "memory"}
}

// EmitterInputName tells the engine the internal input's name (emitter_name).
func (r *RewriteTag) EmitterInputName() string { return r.EmitterName }

// EmitterMemBufLimit tells the engine the internal input's mem_buf_limit.
func (r *RewriteTag) EmitterMemBufLimit() int64 { return int64(r.MemBufLimit) }

// Validate parses the rules.
func (r *RewriteTag) Validate() error {
	if len(r.Rule) == 0 {
		return config.KeyErrorf("rule", "missing: give at least one rule ($KEY REGEX NEW_TAG KEEP)")
	}
	if r.MemBufLimit < 0 {
		return config.KeyErrorf("emitter_mem_buf_limit", "negative size")
	}
	switch strings.ToLower(r.EmitterStorageType) {
	case "", "memory", "filesystem":
	default:
		return config.KeyErrorf("emitter_storage.type", "%q: want memory or filesystem", r.EmitterStorageType)
	}
	rules := make([]rule, 0, len(r.Rule))
	for _, s := range r.Rule {
		ru, err := parseRule(s)
		if err != nil {
			return config.KeyErrorf("rule", "%q: %v", s, err)
		}
		rules = append(rules, ru)
	}
	r.rules = rules
	return nil
}

// Init takes the emitter the engine created for this filter.
func (r *RewriteTag) Init(_ context.Context, env pipeline.Env) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if env.Emitter == nil {
		return errors.New("rewrite_tag: no emitter: the engine must give one (pipeline.Reemitter)")
	}
	r.emit = env.Emitter
	r.log = env.Logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if strings.EqualFold(r.EmitterStorageType, "filesystem") {
		r.log.Warn("emitter_storage.type filesystem is not supported; the emitter buffers in memory")
	}
	r.inflight = map[unsafe.Pointer]int{}
	return nil
}

func parseRule(s string) (rule, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return rule{}, fmt.Errorf("want 4 fields ($KEY REGEX NEW_TAG KEEP), got %d", len(f))
	}
	key, err := accessor.Parse(f[0])
	if err != nil {
		return rule{}, err
	}
	pat := f[1]
	if len(pat) >= 2 && pat[0] == '/' && pat[len(pat)-1] == '/' {
		pat = pat[1 : len(pat)-1]
	}
	re, err := regex.Compile(pat)
	if err != nil {
		return rule{}, err
	}
	tmpl, err := template.Parse(f[2], template.Syntax{Groups: true, Keys: true})
	if err != nil {
		return rule{}, err
	}
	keep, err := config.ParseBool(f[3])
	if err != nil {
		return rule{}, fmt.Errorf("KEEP: %v", err)
	}
	return rule{key: key, re: re, tmpl: tmpl, keep: keep, src: s}, nil
}

// render builds the new tag. m holds the submatch indexes of val.
func (ru *rule) render(dst []byte, tag, val string, m []int, rec event.Map) []byte {
	dst, _ = ru.tmpl.Append(dst, &template.Vars{Tag: tag, Record: rec, Subject: val, Match: m})
	return dst
}

// recordKey is the identity of a record: the address of its pairs. reemit gives every
// record it sends a backing array of its own (an empty Map has none, so it gets one).
func recordKey(rec event.Map) unsafe.Pointer {
	if cap(rec) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(rec))
}

// Filter applies the first matching rule: the record is re-emitted under the new tag, and
// kept under its old tag only if the rule says so.
func (r *RewriteTag) Filter(tag string, ev *event.Event) (pipeline.Verdict, error) {
	if r.inflightN.Load() > 0 && cap(ev.Record) > 0 {
		r.mu.Lock()
		_, mine := r.inflight[recordKey(ev.Record)]
		r.mu.Unlock()
		if mine {
			return pipeline.Keep, nil // guard 1: our own re-emitted record
		}
	}
	for i := range r.rules {
		ru := &r.rules[i]
		v, ok := ru.key.Get(ev.Record)
		if !ok {
			continue
		}
		val, ok := v.(string)
		if !ok {
			continue
		}
		m, err := ru.re.FindStringSubmatchIndex(val)
		if err != nil {
			return pipeline.Keep, fmt.Errorf("rewrite_tag: rule %q: %w; record kept under %q", ru.src, err, tag)
		}
		if m == nil {
			continue
		}
		var buf [128]byte
		newTag := string(ru.render(buf[:0], tag, val, m, ev.Record))
		if newTag == "" {
			return pipeline.Keep, fmt.Errorf("rewrite_tag: rule %q made an empty tag; record kept under %q", ru.src, tag)
		}
		return r.reemit(ru, newTag, ev)
	}
	return pipeline.Keep, nil
}

func (r *RewriteTag) reemit(ru *rule, newTag string, ev *event.Event) (pipeline.Verdict, error) {
	out := *ev
	if ru.keep {
		// The original goes on: the copy must not share maps that later filters change.
		out.Record = ev.Record.Clone()
		out.Metadata = ev.Metadata.Clone()
	}
	if cap(out.Record) == 0 {
		out.Record = make(event.Map, 0, 1)
	}
	if n := r.inflightN.Add(1); n > MaxInFlight {
		r.inflightN.Add(-1)
		if c := r.guarded.Add(1); c <= 10 || c%1000 == 0 {
			r.log.Error("rewrite_tag: too many re-emissions in progress (a rewrite loop through other filters?); record kept under its tag",
				"new_tag", newTag, "count", c)
		}
		return pipeline.Keep, nil // guard 2
	}
	k := recordKey(out.Record)
	r.mu.Lock()
	r.inflight[k]++
	r.mu.Unlock()
	err := r.emit.Emit(newTag, out)
	r.mu.Lock()
	if r.inflight[k]--; r.inflight[k] <= 0 {
		delete(r.inflight, k)
	}
	r.mu.Unlock()
	r.inflightN.Add(-1)
	if err != nil {
		// Not re-emitted: keep the record where it is rather than lose it.
		return pipeline.Keep, fmt.Errorf("rewrite_tag: emit under %q: %w", newTag, err)
	}
	if ru.keep {
		return pipeline.Keep, nil
	}
	return pipeline.Drop, nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter       = (*RewriteTag)(nil)
	_ pipeline.Validator    = (*RewriteTag)(nil)
	_ pipeline.Initializer  = (*RewriteTag)(nil)
	_ pipeline.Reemitter    = (*RewriteTag)(nil)
	_ pipeline.EmitterNamer = (*RewriteTag)(nil)
)
