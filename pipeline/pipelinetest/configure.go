package pipelinetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// File is the file name the kit's properties say they come from: key i (from 0) of a
// key/value list stands on line i+1, so a test can check an error's place
// ("test.conf:2: key ...").
const File = "test.conf"

// Props turns key, value pairs into properties of File, one a line from line 1. An odd
// number of strings panics: test data is the test's own bug.
func Props(kv ...string) []config.Property {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("pipelinetest: Props: %d strings, want key, value pairs", len(kv)))
	}
	ps := make([]config.Property, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		ps = append(ps, config.Property{Key: kv[i], Value: kv[i+1], File: File, Line: i/2 + 1})
	}
	return ps
}

// Sorted turns a map of keys to values into key, value pairs sorted by key, for tests
// that keep their properties in a map (a map has no order; a configuration file does).
func Sorted(m map[string]string) []string {
	keys := slices.Sorted(maps.Keys(m))
	kv := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		kv = append(kv, k, m[k])
	}
	return kv
}

// NewInput makes a fresh instance of the registered input name and configures it from
// key, value pairs as the engine would (pipeline.Configure, Validate included). The
// properties are placed in File, one per line from line 1 (see Props), so errors can be
// checked for their place. Init is not called.
func NewInput(name string, kv ...string) (pipeline.Input, error) {
	p, ok := pipeline.NewInput(name)
	if !ok {
		return nil, fmt.Errorf("pipelinetest: input %q is not registered", name)
	}
	if err := pipeline.Configure(p, Props(kv...)); err != nil {
		return nil, err
	}
	return p, nil
}

// NewFilter is NewInput for the registered filter name.
func NewFilter(name string, kv ...string) (pipeline.Filter, error) {
	p, ok := pipeline.NewFilter(name)
	if !ok {
		return nil, fmt.Errorf("pipelinetest: filter %q is not registered", name)
	}
	if err := pipeline.Configure(p, Props(kv...)); err != nil {
		return nil, err
	}
	return p, nil
}

// NewOutput is NewInput for the registered output name.
func NewOutput(name string, kv ...string) (pipeline.Output, error) {
	p, ok := pipeline.NewOutput(name)
	if !ok {
		return nil, fmt.Errorf("pipelinetest: output %q is not registered", name)
	}
	if err := pipeline.Configure(p, Props(kv...)); err != nil {
		return nil, err
	}
	return p, nil
}

// As gives a plugin made by NewInput, NewFilter or NewOutput its own type, for tests that
// check the error too: in, err := pipelinetest.As[*cpu.Input](pipelinetest.NewInput("cpu", kv...)).
// A plugin of another type is an error.
func As[T any](p any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	v, ok := p.(T)
	if !ok {
		return zero, fmt.Errorf("pipelinetest: the registry gives %T, want %T", p, zero)
	}
	return v, nil
}

// Input makes and configures the registered input name (NewInput) as its own type T,
// and fails the test when it is not registered, is not a T, or kv does not configure it.
func Input[T pipeline.Input](t testing.TB, name string, kv ...string) T {
	t.Helper()
	return must[T](t, "input", name)(As[T](NewInput(name, kv...)))
}

// Filter is Input for the registered filter name.
func Filter[T pipeline.Filter](t testing.TB, name string, kv ...string) T {
	t.Helper()
	return must[T](t, "filter", name)(As[T](NewFilter(name, kv...)))
}

// Output is Input for the registered output name.
func Output[T pipeline.Output](t testing.TB, name string, kv ...string) T {
	t.Helper()
	return must[T](t, "output", name)(As[T](NewOutput(name, kv...)))
}

func must[T any](t testing.TB, kind, name string) func(T, error) T {
	return func(p T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s %s: %v", kind, name, err)
		}
		return p
	}
}

// Configure configures a fresh instance of the registered plugin name of kind ("input",
// "filter" or "output") from key, value pairs as the agent configures a section of its
// configuration file (pipeline.Engine.AddConfigured on a section of File whose keys stand
// on lines 1, 2, ...), and returns the error the agent would report: a plugin's error about
// a key is placed at that key's line, and names the section ("input \"cpu\""). Filters and
// outputs get "Match *" (on the line after the last key) unless kv has a match key.
func Configure(kind, name string, kv ...string) error {
	s := &config.Section{Kind: kind, Name: name, File: File, Props: Props(kv...)}
	cfg := &config.Config{}
	switch kind {
	case "input":
		cfg.Inputs = append(cfg.Inputs, s)
	case "filter", "output":
		if _, ok := s.Get("match"); !ok {
			if _, ok := s.Get("match_regex"); !ok {
				s.Props = append(s.Props, config.Property{Key: "Match", Value: "*", File: File, Line: len(s.Props) + 1})
			}
		}
		if kind == "filter" {
			cfg.Filters = append(cfg.Filters, s)
		} else {
			cfg.Outputs = append(cfg.Outputs, s)
		}
	default:
		return fmt.Errorf("pipelinetest: Configure: kind %q, want input, filter or output", kind)
	}
	return pipeline.NewEngine(pipeline.Options{}).AddConfigured(cfg)
}
