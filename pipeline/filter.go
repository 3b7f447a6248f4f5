package pipeline

import (
	"log/slog"
	"sync/atomic"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
)

// This file is a filter instance: its match and the call of the plugin's Filter with
// errors counted, never losing a record.

// AddFilter adds a filter instance; filters apply in the order they are added.
func (e *Engine) AddFilter(s FilterSpec) {
	f := &filterInst{
		name:   instanceName(s.Plugin, s.Alias, len(e.filters)),
		plugin: s.Plugin,
		f:      s.Filter,
		sec:    s.Section,
		match:  matcher{pattern: s.Match, re: s.MatchRegex},
	}
	f.log = e.log.With("filter", f.name)
	if r, ok := s.Filter.(Reemitter); ok {
		alias := "emitter_for_" + f.name
		if n, ok := s.Filter.(EmitterNamer); ok && n.EmitterInputName() != "" {
			alias = n.EmitterInputName()
		}
		f.emitter = e.AddInput(InputSpec{Plugin: "emitter", Alias: alias,
			MemBufLimit: r.EmitterMemBufLimit(), Input: idleInput{}})
	}
	e.filters = append(e.filters, f)
}

// filterInst is a configured filter.
type filterInst struct {
	name    string
	plugin  string
	f       Filter
	emitter Emitter // for a Reemitter
	sec     *config.Section
	match   matcher
	log     *slog.Logger

	records atomic.Uint64
	dropped atomic.Uint64
	errors  atomic.Uint64
	logged  atomic.Uint64
}

// apply runs the filter on ev; more is the records a Splitter returned to follow ev.
func (f *filterInst) apply(tag string, ev *event.Event) (v Verdict, more []event.Event) {
	f.records.Add(1)
	var err error
	if s, ok := f.f.(Splitter); ok {
		v, more, err = s.FilterSplit(tag, ev)
	} else {
		v, err = f.f.Filter(tag, ev)
	}
	if err != nil {
		// A filter that cannot process a record lets it through unchanged, as Fluent Bit
		// does: losing the record would be worse than not filtering it.
		f.errors.Add(1)
		if n := f.logged.Add(1); n <= 10 || n%1000 == 0 {
			f.log.Warn("filter error; record passed through", "tag", tag, "err", err, "count", n)
		}
		return Keep, nil
	}
	if v == Drop {
		f.dropped.Add(1)
	}
	return v, more
}
