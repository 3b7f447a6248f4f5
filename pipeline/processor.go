package pipeline

import (
	"fmt"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
)

// This file is processors (Fluent Bit 3+ YAML `processors: logs: [...]`): filters attached
// to one input, run on its records before the routing filters, or to one output, run on
// each chunk just before that output's Flush (other outputs see the chunk unchanged). A
// processor takes no match: it applies to every record of its plugin. A filter that emits
// records under a new tag (rewrite_tag) cannot be a processor here. Processors are counted
// in no metrics of their own; records they drop in an output count as delivered.

// newProcessors makes the filter instances of specs for the instance owner.
func (e *Engine) newProcessors(owner string, specs []FilterSpec) []*filterInst {
	var fs []*filterInst
	for i, s := range specs {
		f := &filterInst{
			name:   fmt.Sprintf("%s.processor.%s.%d", owner, s.Plugin, i),
			plugin: s.Plugin,
			f:      s.Filter,
			sec:    s.Section,
		}
		if s.Alias != "" {
			f.name = s.Alias
		}
		f.log = e.log.With("processor", f.name)
		fs = append(fs, f)
		e.procs = append(e.procs, f)
	}
	return fs
}

// process runs the output's processors over ch: a new chunk of the records they keep.
func (o *outputInst) process(ch *Chunk) *Chunk {
	out := &Chunk{Tag: ch.Tag}
	var encErr error
	keep := func(ev *event.Event) error {
		data, err := event.AppendEntry(out.Data, ev)
		if err != nil {
			encErr = err
			return nil
		}
		out.Data = data
		out.Records++
		return nil
	}
	err := ch.Events(func(ev event.Event) error {
		return runChain(ch.Tag, o.procs, 0, &ev, func() {}, keep)
	})
	if err != nil {
		o.log.Warn("processors: damaged chunk; the records after the damage are not sent", "tag", ch.Tag, "err", err)
	}
	if encErr != nil {
		o.log.Warn("processors: a processed record cannot be encoded; left out", "tag", ch.Tag, "err", encErr)
	}
	return out
}

// processorSpecs builds the processors of section s (its Children of kind "processor")
// from the filter registry, with Fluent Bit's keys known as for any filter.
func processorSpecs(cfg *config.Config, s *config.Section) ([]FilterSpec, error) {
	var specs []FilterSpec
	for _, c := range s.Children {
		if c.Kind != "processor" {
			continue
		}
		name := strings.ToLower(c.Name)
		if _, ok := NewFilter(name); !ok {
			_, f, _ := Plugins()
			return nil, config.SectionErrorf(c, "unknown processor %q: a processor here is one of the filters (%s)", c.Name, strings.Join(f, ", "))
		}
		common, rest := split("filter", c.Props)
		for _, k := range []string{"match", "match_regex"} {
			if p, ok := common[k]; ok && cfg != nil {
				cfg.AddWarning(config.Errorf(p, "processor %q: ignored: a processor applies to every record of its %s", c.Name, s.Kind))
			}
		}
		p, err := configureKnown(cfg, "filter", name, func() any { p, _ := NewFilter(name); return p }, rest)
		if err != nil {
			return nil, config.Place(c, fmt.Sprintf("processor %q", c.Name), err)
		}
		if _, ok := p.(Reemitter); ok {
			return nil, config.SectionErrorf(c, "processor %q emits records under a new tag: use it in the filters section", c.Name)
		}
		spec := FilterSpec{Plugin: name, Filter: p.(Filter), Section: c}
		if v, ok := common["alias"]; ok {
			spec.Alias = v.Value
		}
		specs = append(specs, spec)
	}
	return specs, nil
}
