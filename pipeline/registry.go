package pipeline

import (
	"fmt"
	"sort"
	"sync"
)

// This file is the plugin registry: the one piece of global state in the engine, filled by
// the plugins' init functions and read when a configuration is built.

var registry = struct {
	sync.RWMutex
	inputs  map[string]func() Input
	filters map[string]func() Filter
	outputs map[string]func() Output
}{inputs: map[string]func() Input{}, filters: map[string]func() Filter{}, outputs: map[string]func() Output{}}

// RegisterInput makes an input type available under name. The factory returns a fresh
// instance with its defaults set; configuration keys are decoded into its `conf`-tagged
// fields. Registering a name twice panics, and so does a factory whose instance fails
// CheckLifecycle: both are programming errors, found at start-up.
func RegisterInput(name string, factory func() Input) {
	register(registry.inputs, name, factory, factory())
}

// RegisterFilter makes a filter type available under name, as RegisterInput.
func RegisterFilter(name string, factory func() Filter) {
	register(registry.filters, name, factory, factory())
}

// RegisterOutput makes an output type available under name, as RegisterInput.
func RegisterOutput(name string, factory func() Output) {
	register(registry.outputs, name, factory, factory())
}

func register[T any](m map[string]T, name string, f T, fresh any) {
	if err := CheckLifecycle(fresh); err != nil {
		panic(fmt.Sprintf("pipeline: plugin %q: %v", name, err))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("pipeline: plugin %q registered twice", name))
	}
	m[name] = f
}

func lookup[T any](m map[string]T, name string) (T, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := m[name]
	return f, ok
}

// NewInput returns a fresh instance of the input registered as name.
func NewInput(name string) (Input, bool) {
	f, ok := lookup(registry.inputs, name)
	if !ok {
		return nil, false
	}
	return f(), true
}

// NewFilter returns a fresh instance of the filter registered as name.
func NewFilter(name string) (Filter, bool) {
	f, ok := lookup(registry.filters, name)
	if !ok {
		return nil, false
	}
	return f(), true
}

// NewOutput returns a fresh instance of the output registered as name.
func NewOutput(name string) (Output, bool) {
	f, ok := lookup(registry.outputs, name)
	if !ok {
		return nil, false
	}
	return f(), true
}

// Plugins lists the registered plugin names, sorted.
func Plugins() (inputs, filters, outputs []string) {
	registry.RLock()
	defer registry.RUnlock()
	return keys(registry.inputs), keys(registry.filters), keys(registry.outputs)
}

func keys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
