// Package pipeline is the engine: the plugin interfaces and their registry, the router that
// matches tags to outputs, the memory buffer of chunks with per-input backpressure, the
// filesystem buffer (storage.type filesystem, files through package pipeline/storage), the
// flush scheduler with retries, and per-instance metrics. It knows no plugin by name; plugins know
// its small interfaces. It does not parse configuration files (package config does) nor
// serve HTTP.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// Input produces records. Run blocks until ctx is done (return nil) or the input fails.
type Input interface {
	Run(ctx context.Context, emit Emitter) error
}

// Emitter is how an input hands records to the engine. It is safe for concurrent use.
// An empty tag means the input instance's configured tag.
//
// Emit and EmitRaw block while the input is paused by backpressure (its buffered bytes are
// over mem_buf_limit) and return once the records are in the buffer, or ErrStopped when
// the engine shuts down first. A listener that prefers to refuse work (HTTP 503) checks
// Paused first.
//
// With filesystem storage they never block for memory: they return once the records are
// written to their chunk file (and fsynced, with storage.sync full), or an error wrapping
// ErrStorage when that failed (the records were not accepted); Paused then reports true
// for a second.
type Emitter interface {
	Emit(tag string, ev event.Event) error
	// EmitRaw takes n already-encoded msgpack entries, e.g. from the forward protocol. When no
	// filter applies to tag the bytes go into the chunk without being decoded (nor checked:
	// the caller passes whole, well-formed entries). The bytes are copied: the caller may
	// reuse entries once EmitRaw returns. A batch goes into one chunk, so it can take a
	// chunk (and the input's buffer) past its limit by up to its own size: inputs with
	// large batches split them (a few hundred KiB each).
	EmitRaw(tag string, entries []byte, n int) error
	Paused() bool
}

// Verdict is a filter's decision on one record.
type Verdict int

const (
	// Keep passes the record on, changed or not.
	Keep Verdict = iota
	// Drop removes the record.
	Drop
)

// Filter inspects and may change one record in place. Filters run where records enter, in
// the order they are configured, on the records whose tag their Match covers.
type Filter interface {
	Filter(tag string, ev *event.Event) (Verdict, error)
}

// Output delivers one chunk. nil means delivered; an error made with Retry means try again
// later; any other error means the chunk can never be delivered by this output (it is
// dropped for this output and counted). Flush must not keep c.Data after returning.
type Output interface {
	Flush(ctx context.Context, c *Chunk) error
}

// Chunk is a batch of encoded entries of one tag.
type Chunk struct {
	Tag     string
	Data    []byte // concatenated msgpack entries
	Records int
}

// Events decodes the chunk's entries. A damaged entry ends the walk with an error after
// the good ones before it were passed to fn.
func (c *Chunk) Events(fn func(ev event.Event) error) error { return event.Entries(c.Data, fn) }

// Env is what the engine tells a plugin instance when it starts.
type Env struct {
	Name   string       // instance name: plugin name and index, "cpu.0", or the alias
	Tag    string       // inputs: the configured tag (default: the instance name)
	Logger *slog.Logger // tagged with the instance name
	// Emitter is set for filters that implement Reemitter: records emitted there enter
	// the pipeline again, through the filters that match their (new) tag.
	Emitter Emitter
}

// Reemitter is implemented by filters that put records back into the pipeline under a new
// tag, as Fluent Bit's rewrite_tag does. The engine gives each one an internal input of its
// own, named "emitter_for_<filter name>", with the mem_buf_limit EmitterMemBufLimit returns
// (0: DefaultMemBufLimit), and passes its Emitter in Env at Init. Records emitted there go
// through the filters matching their tag, this one included: avoiding loops is the
// filter's job. Emitting blocks while the internal input is over its limit, which pauses
// the input whose record is being filtered: backpressure, never a drop.
type Reemitter interface {
	EmitterMemBufLimit() int64
}

// EmitterNamer is implemented by a Reemitter that names its internal input (rewrite_tag's
// emitter_name). An empty name keeps "emitter_for_<filter name>".
type EmitterNamer interface {
	EmitterInputName() string
}

// Initializer is implemented by plugins that need to set up (open files, validate fields)
// before running. An error stops the agent from starting.
type Initializer interface {
	Init(ctx context.Context, env Env) error
}

// Closer is implemented by plugins that hold resources.
type Closer interface {
	Close(ctx context.Context) error
}

// ErrStopped is returned by Emit when the engine is shutting down.
var ErrStopped = errors.New("pipeline: stopped")

type retryError struct {
	err   error
	after time.Duration
}

func (r *retryError) Error() string { return r.err.Error() }
func (r *retryError) Unwrap() error { return r.err }

// Retry marks err as temporary: the engine retries the chunk with backoff.
func Retry(err error) error {
	if err == nil {
		err = errors.New("retry")
	}
	return &retryError{err: err}
}

// RetryAfter is Retry with a delay the destination asked for (e.g. HTTP Retry-After). The
// engine waits at least that long, capped by scheduler.cap.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		err = errors.New("retry")
	}
	return &retryError{err: err, after: d}
}

// IsRetry reports whether err asks for a retry.
func IsRetry(err error) bool {
	var r *retryError
	return errors.As(err, &r)
}

func retryDelay(err error) time.Duration {
	var r *retryError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

var registry = struct {
	sync.RWMutex
	inputs  map[string]func() Input
	filters map[string]func() Filter
	outputs map[string]func() Output
}{inputs: map[string]func() Input{}, filters: map[string]func() Filter{}, outputs: map[string]func() Output{}}

// RegisterInput makes an input type available under name. The factory returns an instance
// with its defaults set; configuration keys are decoded into its `conf`-tagged fields.
// Registering a name twice panics: it is a programming error found at start-up.
func RegisterInput(name string, factory func() Input) { register(registry.inputs, name, factory) }

// RegisterFilter makes a filter type available under name.
func RegisterFilter(name string, factory func() Filter) { register(registry.filters, name, factory) }

// RegisterOutput makes an output type available under name.
func RegisterOutput(name string, factory func() Output) { register(registry.outputs, name, factory) }

func register[T any](m map[string]T, name string, f T) {
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

// OutputFunc adapts a function to the Output interface.
type OutputFunc func(ctx context.Context, c *Chunk) error

// Flush calls f.
func (f OutputFunc) Flush(ctx context.Context, c *Chunk) error { return f(ctx, c) }

// FilterFunc adapts a function to the Filter interface.
type FilterFunc func(tag string, ev *event.Event) (Verdict, error)

// Filter calls f.
func (f FilterFunc) Filter(tag string, ev *event.Event) (Verdict, error) { return f(tag, ev) }
