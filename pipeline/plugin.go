// Package pipeline is the engine: the plugin interfaces and their registry, the router that
// matches tags to outputs, the memory buffer of chunks with per-input backpressure, the
// filesystem buffer (storage.type filesystem, files through package pipeline/storage), the
// flush scheduler with retries, and per-instance metrics. It knows no plugin by name; plugins know
// its small interfaces. It does not parse configuration files (package config does) nor
// serve HTTP.
//
// # Plugin lifecycle
//
// Every plugin instance, input, filter or output, goes through these steps in this order.
// A step in parentheses is an optional interface, called only when the plugin implements it;
// CheckLifecycle, run on every registration, rejects a method named like one of them whose
// signature does not match (Go would silently not call it).
//
//  1. Factory: the function given to RegisterInput, RegisterFilter or RegisterOutput
//     returns a fresh instance with its defaults set.
//  2. SetConfig (ConfigAware): the whole configuration, for plugins that look up other
//     sections in it.
//  3. Properties decoded: SetProperties (PropertySetter), or else config.Decode into the
//     `conf`-tagged fields; an unknown key is an error.
//  4. Validate (Validator): the decoded keys are checked, without side effects.
//
// Steps 1 to 4 are Engine.AddConfigured's, section by section (outputs, then inputs, then
// filters: a filter's emitter input is numbered after the configured inputs, as in Fluent
// Bit); 3 and 4 are Configure's. They are all a dry run (fluentbit.Check, --dry-run) does.
//
//  5. Init (Initializer), at Engine.Start: outputs first, then filters, then inputs, so
//     nothing is emitted before it can be delivered. Side effects (files, sockets,
//     connections) begin here. If an Init fails, the plugins initialised before it are
//     closed in reverse order and Start returns the error, with the section's place.
//  6. Run (Input), Filter (Filter), Flush (Output): Run on a goroutine of its own, called
//     again with backoff when it returns an error; Filter on the emitting goroutine; Flush
//     on the output's workers. Each may assume Init has run and returned nil.
//  7. Close (Closer), at Engine.Stop, once the inputs have returned and the outputs have
//     drained (or the grace period is over): in the reverse of Init's order, inputs
//     first (the last added first), then filters, then outputs. Only plugins whose Init
//     returned nil, or that have none, are closed; a plugin whose Init fails releases what
//     it holds itself.
//
// A filter that puts records back into the pipeline (Reemitter, EmitterNamer) is asked for
// its internal input's settings when it is added, before step 5; the input's Emitter
// reaches it in Env at Init.
//
// A library user who builds a plugin in Go and passes it to Engine.AddInput (or the
// others) takes steps 1 to 4 into their own hands; the engine does 5 to 7 the same way.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
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

// Checkpoint is one key of an input's resume state (a file's offset, a journal cursor);
// an empty Value deletes the key.
type Checkpoint = storage.Checkpoint

// CheckpointEmitter is implemented by the engine's Emitter, for inputs that resume where
// they stopped (tail, systemd). EmitRawCheckpoint is EmitRaw with cp, the input's state
// once these entries are taken. For an input with storage.type filesystem, the entries
// that pass the filters and cp are written in one frame of one chunk file (one CRC):
// after a crash, even a kill -9 between the write and the input's own db save, both are
// there or neither is, and the input, given cp back in Env.Checkpoints at its next start,
// reads again exactly what was not stored: no record twice, none lost. cp is written even
// when no entry is left (all filtered out, or n == 0). Keys are the input's own; the
// latest value of each key wins. With memory storage cp is ignored (Env.Checkpoints is
// nil): the input keeps its own state.
type CheckpointEmitter interface {
	EmitRawCheckpoint(tag string, entries []byte, n int, cp []Checkpoint) error
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

// Splitter is implemented by filters that may turn one record into several, as Fluent
// Bit's lua filter does when the script returns an array of records. The engine calls
// FilterSplit instead of Filter: ev is changed in place as with Filter, and more, when not
// empty, holds the records that follow ev, in order (a zero Time is ev's). ev and each of
// more go on through the filters after this one. With an error, more is ignored and ev
// passes unchanged, as with Filter.
type Splitter interface {
	Filter
	FilterSplit(tag string, ev *event.Event) (v Verdict, more []event.Event, err error)
}

// Output delivers one chunk. nil means delivered; an error made with Retry means try again
// later; any other error means the chunk can never be delivered by this output (it is
// dropped for this output and counted). Flush must not keep c.Data after returning: the
// engine frees the chunk's buffer (off the Go heap) or reuses it for another chunk.
type Output interface {
	Flush(ctx context.Context, c *Chunk) error
}

// EncodingSizer is implemented by outputs that build an encoding of a whole chunk (a JSON
// body, a protobuf request, a compressed copy) before they send it. While Flush runs,
// the engine counts EncodedSize(c) bytes against the process's memory budget (without
// waiting: an output never waits for inputs), so that inputs leave room for the encoding
// instead of filling the budget with chunks. An estimate is fine; too low is worse than
// too high.
type EncodingSizer interface {
	EncodedSize(c *Chunk) int
}

// Chunk is a batch of encoded entries of one tag.
type Chunk struct {
	Tag     string
	Data    []byte // concatenated msgpack entries
	Records int

	file *storage.File // a filesystem chunk handed from one engine to the next (Data nil)
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
	// Exit, set for inputs when the engine's Options have one, asks the program running
	// the agent to shut down (flushing what is buffered, as on SIGTERM) and exit with
	// code: the exec input's exit_after_oneshot. Nil when nobody listens.
	Exit func(code int)
	// Budget is the process's memory budget (service.memory_limit; nil when off, which
	// every method takes as unlimited). A plugin reserves from it before allocating a
	// large buffer of its own (a decompressed body) and releases what it reserved.
	Budget *membudget.Budget
	// Checkpoints is set for inputs with storage.type filesystem: the checkpoints the
	// instance wrote with its records (CheckpointEmitter), key by key, the latest of each,
	// from chunks still on disk and from those already delivered; empty at a first start.
	// Where it has a key, it is never older than what the input saved itself after the
	// emit (its db), so it wins. Nil for a memory input.
	Checkpoints map[string][]byte
}

// The optional interfaces of the plugin lifecycle, in the order the engine calls them
// (see the package documentation).

// ConfigAware is implemented by plugins that look up other sections of the configuration
// they were configured from (the forward output finds its [UPSTREAM] there). The engine
// calls SetConfig before decoding the plugin's keys (lifecycle step 2).
type ConfigAware interface {
	SetConfig(cfg *config.Config)
}

// PropertySetter is implemented by plugins that read their own properties instead of
// having them decoded by `conf` tags, e.g. when the order of different keys matters
// (lifecycle step 3).
type PropertySetter interface {
	SetProperties(props []config.Property) error
}

// Validator is implemented by plugins that check their decoded keys without side effects
// (parse a JSON value, compile a regex, check a range). Configure calls Validate right
// after decoding (lifecycle step 4), so mistakes are reported by New and by the daemon's
// --dry-run, with the file and line of the key when the error comes from
// config.KeyErrorf. Init runs later, only when the agent starts, and is where side
// effects (files, sockets) belong.
type Validator interface {
	Validate() error
}

// Initializer is implemented by plugins that need to set up (open files, connect, start
// helpers) before running (lifecycle step 5). An error stops the agent from starting.
// Run, Filter and Flush are called only after Init returned nil.
type Initializer interface {
	Init(ctx context.Context, env Env) error
}

// Closer is implemented by plugins that hold resources (lifecycle step 7). Close is
// called once, after the plugin's last Run, Filter or Flush has returned.
type Closer interface {
	Close(ctx context.Context) error
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

// lifecycleMethods names each optional interface's method, for CheckLifecycle.
var lifecycleMethods = []struct {
	name  string
	iface reflect.Type
}{
	{"SetConfig", reflect.TypeFor[ConfigAware]()},
	{"SetProperties", reflect.TypeFor[PropertySetter]()},
	{"Validate", reflect.TypeFor[Validator]()},
	{"Init", reflect.TypeFor[Initializer]()},
	{"Close", reflect.TypeFor[Closer]()},
	{"EmitterMemBufLimit", reflect.TypeFor[Reemitter]()},
	{"EmitterInputName", reflect.TypeFor[EmitterNamer]()},
}

// CheckLifecycle reports the lifecycle methods p has that the engine would skip: a
// method named like an optional interface's (SetConfig, SetProperties, Validate, Init,
// Close, EmitterMemBufLimit, EmitterInputName) but with another signature, or one
// declared on the pointer type when p is a value. Go sees no error in either: the type
// just does not implement the interface, and the step never runs. A nil error means
// every such method is called.
//
// RegisterInput, RegisterFilter and RegisterOutput run it on a fresh instance from the
// factory and panic on an error, as on a duplicate name: a programming error, found at
// start-up. Tests may call it on any plugin value. Interface guards at the end of a
// plugin's file (var _ pipeline.Initializer = (*Input)(nil)) catch the same mistakes at
// build time.
func CheckLifecycle(p any) error {
	t := reflect.TypeOf(p)
	if t == nil {
		return errors.New("pipeline: plugin is nil")
	}
	var errs []error
	for _, lm := range lifecycleMethods {
		want, _ := methodNamed(lm.iface, lm.name)
		m, ok := methodNamed(t, lm.name)
		if !ok {
			if t.Kind() != reflect.Pointer {
				if pm, ok := methodNamed(reflect.PointerTo(t), lm.name); ok && reflect.PointerTo(t).Implements(lm.iface) {
					errs = append(errs, fmt.Errorf("pipeline: %s: method %s is declared on *%s but the plugin is a %s value: the engine would not call it (make the factory return a pointer)",
						t, pm.Name, t.Name(), t.Name()))
				}
			}
			continue
		}
		if t.Implements(lm.iface) {
			continue
		}
		errs = append(errs, fmt.Errorf("pipeline: %s: method %s%s does not match pipeline.%s (want %s%s): the engine would not call it",
			t, lm.name, signature(m.Type, 1), lm.iface.Name(), lm.name, signature(want.Type, 0)))
	}
	return errors.Join(errs...)
}

// methodNamed is t.MethodByName(name) with the name a constant at each call: a
// MethodByName with a variable name makes the linker keep every exported method of every
// reachable type (about 2 MB more binary here), a constant keeps only methods so named.
func methodNamed(t reflect.Type, name string) (reflect.Method, bool) {
	switch name {
	case "SetConfig":
		return t.MethodByName("SetConfig")
	case "SetProperties":
		return t.MethodByName("SetProperties")
	case "Validate":
		return t.MethodByName("Validate")
	case "Init":
		return t.MethodByName("Init")
	case "Close":
		return t.MethodByName("Close")
	case "EmitterMemBufLimit":
		return t.MethodByName("EmitterMemBufLimit")
	case "EmitterInputName":
		return t.MethodByName("EmitterInputName")
	}
	return reflect.Method{}, false
}

// signature formats a func type as "(a, b) c", leaving out its first skip parameters
// (a method's receiver).
func signature(f reflect.Type, skip int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := skip; i < f.NumIn(); i++ {
		if i > skip {
			b.WriteString(", ")
		}
		b.WriteString(f.In(i).String())
	}
	b.WriteByte(')')
	switch f.NumOut() {
	case 0:
	case 1:
		b.WriteString(" " + f.Out(0).String())
	default:
		b.WriteString(" (")
		for i := 0; i < f.NumOut(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Out(i).String())
		}
		b.WriteByte(')')
	}
	return b.String()
}

// ErrStopped is returned by Emit when the engine is shutting down.
var ErrStopped = errors.New("pipeline: stopped")

// OutputFunc adapts a function to the Output interface.
type OutputFunc func(ctx context.Context, c *Chunk) error

// Flush calls f.
func (f OutputFunc) Flush(ctx context.Context, c *Chunk) error { return f(ctx, c) }

// FilterFunc adapts a function to the Filter interface.
type FilterFunc func(tag string, ev *event.Event) (Verdict, error)

// Filter calls f.
func (f FilterFunc) Filter(tag string, ev *event.Event) (Verdict, error) { return f(tag, ev) }
