// Package pipelinetest is the plugin test kit: what a plugin's tests need to configure,
// start and watch a plugin without running an engine, as Telegraf's test accumulator does.
// It is for tests only; nothing in the agent imports it.
//
//   - Configure a plugin from key, value pairs as the engine does: NewInput, NewFilter and
//     NewOutput (the error too), Input, Filter and Output (its own type, or the test fails),
//     As, Props and Sorted. Properties stand in File ("test.conf"), one a line from line 1;
//     Configure reports a section's error exactly as the agent does, placed at its key.
//   - Start it as the engine does: Init (Init when the plugin has one), StartInput (Init, then
//     Run in a goroutine, stopped and closed at the test's end), Collect (the first n records,
//     within a timeout), RunToEnd (an input with a fixed amount of work) and RunFor (what an
//     input does over some intervals).
//   - Watch it: a Recorder stands in for the engine's Emitter and keeps what an input emits
//     (Wait blocks until n records came); Logs keeps what a plugin logs (Wait blocks until a
//     condition on them holds); MakeChunk builds the chunk an output is flushed with.
//   - Wait without sleeping: on a Recorder, on Logs or on a channel; Eventually polls (through
//     package internal/poll, the one place tests poll) only for changes nothing signals.
//   - Concurrently runs a check from several goroutines, for plugins one instance of which
//     serves several inputs or workers.
//
// Checks every plugin must pass (registered under its folder's name, a fresh instance per
// factory call, a valid default configuration, unknown keys and bad values reported at their
// line, lifecycle methods with the signatures the engine calls, an input that emits on its
// own returning from Run on pipeline.ErrStopped) are written
// once, over every registered plugin, in plugins/all/conformance_test.go; a plugin's own
// tests need not repeat them.
package pipelinetest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Record is one emitted event with the tag it was emitted with ("" means the instance tag).
type Record struct {
	Tag   string
	Event event.Event
}

// Recorder is an Emitter that keeps every record. It is safe for concurrent use; the zero
// value is ready to use.
//
// Each record is encoded and decoded again on the way in, as the engine would store it: the
// Recorder keeps a deep copy (an input may reuse its maps once Emit returns), and values
// come back with the types outputs see (int64, float64, string, []any, map[string]any).
type Recorder struct {
	mu      sync.Mutex
	recs    []Record
	calls   int
	paused  bool
	err     error
	changed chan struct{} // closed and replaced whenever records are added
}

var _ pipeline.Emitter = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Emit records ev under tag. A zero time becomes time.Now(), as in the engine.
func (r *Recorder) Emit(tag string, ev event.Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	b, err := event.AppendEntry(nil, &ev)
	if err != nil {
		return fmt.Errorf("pipelinetest: encode record: %w", err)
	}
	got, _, err := event.ReadEntry(b)
	if err != nil {
		return fmt.Errorf("pipelinetest: decode record: %w", err)
	}
	return r.add(tag, []event.Event{got})
}

// EmitRaw decodes n entries and records them under tag. Bytes that do not hold exactly n
// well-formed entries are an error, and nothing is recorded.
func (r *Recorder) EmitRaw(tag string, entries []byte, n int) error {
	evs := make([]event.Event, 0, n)
	if err := event.Entries(entries, func(ev event.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		return fmt.Errorf("pipelinetest: EmitRaw: %w", err)
	}
	if len(evs) != n {
		return fmt.Errorf("pipelinetest: EmitRaw: told %d entries, got %d", n, len(evs))
	}
	return r.add(tag, evs)
}

func (r *Recorder) add(tag string, evs []event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.calls++
	for _, ev := range evs {
		r.recs = append(r.recs, Record{Tag: tag, Event: ev})
	}
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	return nil
}

// Paused reports what SetPaused last set.
func (r *Recorder) Paused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

// SetPaused sets what Paused reports, to test inputs that refuse work under backpressure.
func (r *Recorder) SetPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

// FailWith makes Emit and EmitRaw return err without recording anything (nil restores
// normal behaviour), e.g. pipeline.ErrStopped to act as an engine that is shutting down.
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// Records returns a copy of the records so far, in the order they were emitted.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// Len returns how many records were emitted.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

// Calls returns how many Emit and EmitRaw calls succeeded: an input that batches makes
// fewer calls than it emits records.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Wait blocks until at least n records were emitted or timeout passes, and reports
// whether n were reached.
func (r *Recorder) Wait(n int, timeout time.Duration) bool { return r.waitOr(n, timeout, nil) }

// waitOr is Wait that also gives up when stop is closed.
func (r *Recorder) waitOr(n int, timeout time.Duration, stop <-chan struct{}) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if len(r.recs) >= n {
			r.mu.Unlock()
			return true
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return r.Len() >= n
		case <-timer.C:
			return r.Len() >= n
		}
	}
}

// MakeChunk encodes evs as a chunk of tag, as the engine hands it to an output. It panics
// if an event cannot be encoded: test data is the test's own bug.
func MakeChunk(tag string, evs ...event.Event) *pipeline.Chunk {
	c := &pipeline.Chunk{Tag: tag}
	for i := range evs {
		var err error
		if c.Data, err = event.AppendEntry(c.Data, &evs[i]); err != nil {
			panic(fmt.Sprintf("pipelinetest: MakeChunk: event %d: %v", i, err))
		}
	}
	c.Records = len(evs)
	return c
}

// Logs is a slog.Handler that keeps every log record, so a test can check what a plugin
// logged (and how often). It is safe for concurrent use.
type Logs struct {
	mu      sync.Mutex
	recs    []slog.Record
	changed chan struct{} // closed and replaced whenever a record is added
}

var _ slog.Handler = (*Logs)(nil)

// Logger returns a logger writing into l.
func (l *Logs) Logger() *slog.Logger { return slog.New(l) }

// Env returns a pipeline.Env named name whose logger writes into l.
func (l *Logs) Env(name string) pipeline.Env {
	return pipeline.Env{Name: name, Tag: name, Logger: l.Logger()}
}

// Enabled accepts every level.
func (l *Logs) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps rec.
func (l *Logs) Handle(_ context.Context, rec slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, rec.Clone())
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
	return nil
}

// WithAttrs returns l: attributes given to a derived logger are not kept.
func (l *Logs) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup returns l: groups are not kept.
func (l *Logs) WithGroup(string) slog.Handler { return l }

// Records returns a copy of the log records so far.
func (l *Logs) Records() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// Count returns how many records were logged at level or above.
func (l *Logs) Count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level >= level {
			n++
		}
	}
	return n
}

// Wait blocks until cond holds for the log records so far, checking again each time a
// record is logged, or until timeout passes; it reports whether cond held. cond must not
// keep the slice.
func (l *Logs) Wait(timeout time.Duration, cond func([]slog.Record) bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if cond(l.recs) {
			l.mu.Unlock()
			return true
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			l.mu.Lock()
			defer l.mu.Unlock()
			return cond(l.recs)
		}
	}
}
