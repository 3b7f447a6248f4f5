package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
)

// Configure decodes a plugin section's properties into a fresh plugin instance p (lifecycle
// steps 3 and 4, see the package documentation): with SetProperties when p implements
// PropertySetter, with config.Decode otherwise; then Validate when p implements Validator.
func Configure(p any, props []config.Property) error {
	return configure(p, props, nil)
}

// configure is Configure for a plugin of a section whose common keys (also) the engine
// takes: an unknown key's error lists them and suggests them for a typo ("mach").
func configure(p any, props []config.Property, also []string) error {
	if ps, ok := p.(PropertySetter); ok {
		if err := ps.SetProperties(props); err != nil {
			return err
		}
	} else if len(props) > 0 {
		if rv := reflect.ValueOf(p); rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
			return config.UnknownKeyError(props[0], also)
		}
		if err := config.DecodeAlso(props, p, also); err != nil {
			return err
		}
	}
	if v, ok := p.(Validator); ok {
		return v.Validate()
	}
	return nil
}

// commonKeys are the keys the engine handles for every instance of a kind, never passed to
// the plugin. Keys Fluent Bit has that have no effect here (threaded, log_level of a
// plugin, ...) are not listed: configureKnown takes them out with a warning.
var commonKeys = map[string]map[string]bool{
	"input":  {"tag": true, "alias": true, "mem_buf_limit": true, "storage.type": true},
	"filter": {"match": true, "match_regex": true, "alias": true},
	"output": {"match": true, "match_regex": true, "alias": true, "retry_limit": true,
		"workers": true, "storage.total_limit_size": true},
}

// configureKnown configures a fresh instance from mk with props, as configure does, and
// knows Fluent Bit's keys (config.FluentBitKnows): a key the plugin refuses as unknown
// that Fluent Bit has for this plugin is taken out with one warning in cfg.Warnings (or
// stays an error naming why, when leaving it out would change what is sent), and the
// plugin is configured again on a fresh instance without it. A key neither knows stays
// the plugin's error, with its suggestion.
func configureKnown(cfg *config.Config, kind, name string, mk func() any, props []config.Property) (any, error) {
	also := commonKeyList(kind)
	for {
		p := mk()
		if ca, ok := p.(ConfigAware); ok {
			ca.SetConfig(cfg)
		}
		err := configure(p, props, also)
		var ce *config.Error
		if err == nil || !errors.Is(err, config.ErrUnknownKey) || !errors.As(err, &ce) || !config.FluentBitKnows(kind, name, ce.Key) {
			return p, err
		}
		var rest []config.Property
		warned := false
		for _, pr := range props {
			if !strings.EqualFold(pr.Key, ce.Key) {
				rest = append(rest, pr)
				continue
			}
			if warned {
				continue
			}
			warned = true
			w, refused := config.FluentBitKeyWarning(kind, name, pr)
			if refused != nil {
				return p, refused
			}
			if cfg != nil {
				cfg.AddWarning(w)
			}
		}
		if !warned {
			return p, err // the plugin named a key it was not given: its own error stands
		}
		props = rest
	}
}

// EngineKeys lists the keys the engine takes itself for every plugin of kind ("input",
// "filter", "output"): tag, match, alias, retry_limit, ...
func EngineKeys(kind string) []string {
	keys := commonKeyList(kind)
	slices.Sort(keys)
	return keys
}

// commonKeyList is commonKeys[kind] as a list, for unknown-key errors.
func commonKeyList(kind string) []string {
	keys := make([]string, 0, len(commonKeys[kind]))
	for k := range commonKeys[kind] {
		keys = append(keys, k)
	}
	return keys
}

func split(kind string, props []config.Property) (common map[string]config.Property, rest []config.Property) {
	common = map[string]config.Property{}
	for _, p := range props {
		k := strings.ToLower(p.Key)
		if commonKeys[kind][k] {
			common[k] = p
			continue
		}
		rest = append(rest, p)
	}
	return common, rest
}

// AddConfigured adds every input, filter and output of cfg to e, creating plugins from the
// registry and decoding their properties: lifecycle steps 1 to 4 (see the package
// documentation), outputs first, then filters, then inputs. Errors name the file, line
// and key.
func (e *Engine) AddConfigured(cfg *config.Config) error {
	for _, s := range cfg.Other {
		switch s.Kind {
		case "custom":
			cfg.AddWarning(config.SectionErrorf(s, "custom %q: not run: Fluent Bit's custom plugins (calyptia) are not built in", s.Name))
		}
	}
	for _, s := range cfg.Outputs {
		if err := e.addOutputSection(cfg, s); err != nil {
			return err
		}
	}
	// Inputs before filters: a filter with an emitter input (rewrite_tag) adds it, and
	// the configured inputs must keep their numbers (dummy.0, dummy.1) as in Fluent Bit.
	for _, s := range cfg.Inputs {
		if err := e.addInputSection(cfg, s); err != nil {
			return err
		}
	}
	for _, s := range cfg.Filters {
		if err := e.addFilterSection(cfg, s); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) addInputSection(cfg *config.Config, s *config.Section) error {
	name := strings.ToLower(s.Name)
	if _, ok := NewInput(name); !ok {
		in, _, _ := Plugins()
		return config.SectionErrorf(s, "unknown input plugin %q (available: %s)", s.Name, strings.Join(in, ", "))
	}
	common, rest := split("input", s.Props)
	spec := InputSpec{Plugin: name, Section: s}
	if v, ok := common["tag"]; ok {
		spec.Tag = v.Value
	}
	if v, ok := common["alias"]; ok {
		spec.Alias = v.Value
	}
	if v, ok := common["mem_buf_limit"]; ok {
		n, err := config.ParseSize(v.Value)
		if err != nil || n < 0 {
			return config.Errorf(v, "bad size %q: want bytes like 5M or 512k", v.Value)
		}
		spec.MemBufLimit = n
	}
	if v, ok := common["storage.type"]; ok {
		switch strings.ToLower(strings.TrimSpace(v.Value)) {
		case "memory", "":
		case "filesystem":
			if e.opts.Storage.Path == "" {
				return config.Errorf(v, "storage.type filesystem needs storage.path in the service section")
			}
			spec.Filesystem = true
		default:
			return config.Errorf(v, "bad storage.type %q: want memory or filesystem", v.Value)
		}
	}
	p, err := configureKnown(cfg, "input", name, func() any { p, _ := NewInput(name); return p }, rest)
	if err != nil {
		return wrapSection(s, err)
	}
	spec.Input = p.(Input)
	if spec.Processors, err = processorSpecs(cfg, s); err != nil {
		return err
	}
	e.AddInput(spec)
	return nil
}

func (e *Engine) addFilterSection(cfg *config.Config, s *config.Section) error {
	name := strings.ToLower(s.Name)
	if _, ok := NewFilter(name); !ok {
		_, f, _ := Plugins()
		return config.SectionErrorf(s, "unknown filter plugin %q (available: %s)", s.Name, strings.Join(f, ", "))
	}
	common, rest := split("filter", s.Props)
	// The plugin's keys first: a typo of match ("mach") is reported as such, not as a
	// missing match.
	p, err := configureKnown(cfg, "filter", name, func() any { p, _ := NewFilter(name); return p }, rest)
	if err != nil {
		return wrapSection(s, err)
	}
	spec := FilterSpec{Plugin: name, Filter: p.(Filter), Section: s}
	if spec.Match, spec.MatchRegex, err = matchKeys(s, common); err != nil {
		return err
	}
	if v, ok := common["alias"]; ok {
		spec.Alias = v.Value
	}
	e.AddFilter(spec)
	return nil
}

func (e *Engine) addOutputSection(cfg *config.Config, s *config.Section) error {
	name := strings.ToLower(s.Name)
	if _, ok := NewOutput(name); !ok {
		_, _, o := Plugins()
		return config.SectionErrorf(s, "unknown output plugin %q (available: %s)", s.Name, strings.Join(o, ", "))
	}
	common, rest := split("output", s.Props)
	// The plugin's keys first: a typo of match ("mach") is reported as such, not as a
	// missing match.
	p, err := configureKnown(cfg, "output", name, func() any { p, _ := NewOutput(name); return p }, rest)
	if err != nil {
		return wrapSection(s, err)
	}
	spec := OutputSpec{Plugin: name, Output: p.(Output), RetryLimit: RetryForever, Workers: 1, Section: s}
	if spec.Processors, err = processorSpecs(cfg, s); err != nil {
		return err
	}
	if spec.Match, spec.MatchRegex, err = matchKeys(s, common); err != nil {
		return err
	}
	if v, ok := common["alias"]; ok {
		spec.Alias = v.Value
	}
	if v, ok := common["retry_limit"]; ok {
		if spec.RetryLimit, err = ParseRetryLimit(v.Value); err != nil {
			return config.Errorf(v, "%v", err)
		}
	}
	if v, ok := common["workers"]; ok {
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 1 || n > 64 {
			return config.Errorf(v, "bad workers %q: want a number from 1 to 64", v.Value)
		}
		spec.Workers = n
	}
	if v, ok := common["storage.total_limit_size"]; ok {
		n, err := config.ParseSize(v.Value)
		if err != nil || n < 0 {
			return config.Errorf(v, "bad size %q: want bytes like 500M", v.Value)
		}
		spec.TotalLimitSize = n
	}
	e.AddOutput(spec)
	return nil
}

// ParseRetryLimit reads Fluent Bit's retry_limit: a number of retries, "false" or
// "no_limits" for no limit, "no_retries" for none.
func ParseRetryLimit(v string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "no_limits", "unlimited":
		return RetryForever, nil
	case "no_retries":
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad retry_limit %q: want a number, no_limits, false or no_retries", v)
	}
	return n, nil
}

func matchKeys(s *config.Section, common map[string]config.Property) (string, TagMatcher, error) {
	m, hasMatch := common["match"]
	r, hasRegex := common["match_regex"]
	switch {
	case hasRegex:
		re, err := regex.Compile(r.Value) // Onigmo syntax, as Fluent Bit
		if err != nil {
			return "", nil, config.Errorf(r, "bad regex: %v", err)
		}
		return "", re, nil
	case hasMatch:
		return m.Value, nil, nil
	}
	return "", nil, config.SectionErrorf(s, "%s %q has no match or match_regex: it would receive nothing", s.Kind, s.Name)
}

// wrapSection gives a plugin's own error the section's place when it has none.
func wrapSection(s *config.Section, err error) error {
	return config.Place(s, fmt.Sprintf("%s %q", s.Kind, s.Name), err)
}
