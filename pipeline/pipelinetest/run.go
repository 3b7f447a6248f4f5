package pipelinetest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Running is an input started by StartInput: its Run goroutine emits into Rec until Stop.
type Running struct {
	// Rec is the Recorder the input emits into (nil when StartInput was given another
	// Emitter).
	Rec *Recorder

	t      testing.TB
	in     pipeline.Input
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	runErr error         // what Run returned; read after done is closed
	once   sync.Once
}

// StartInput starts in as the engine would: Init with env first when in is a
// pipeline.Initializer (a failed Init fails the test), then Run in a goroutine emitting into
// emit: a new Recorder when emit is nil (Running.Rec is the Recorder when emit is one). A nil
// env.Logger becomes one that discards. The test's cleanup calls Stop, so a test that fails
// half-way leaves no goroutine behind.
//
// A test that changes the input between Init and Run calls Init itself and passes
// struct{ pipeline.Input }{in}, which hides Init and Close.
func StartInput(t testing.TB, in pipeline.Input, env pipeline.Env, emit pipeline.Emitter) *Running {
	t.Helper()
	if emit == nil {
		emit = NewRecorder()
	}
	Init(t, in, env)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{t: t, in: in, cancel: cancel, done: make(chan struct{})}
	r.Rec, _ = emit.(*Recorder)
	go func() {
		defer close(r.done)
		r.runErr = in.Run(ctx, emit)
	}()
	t.Cleanup(func() { r.Stop() })
	return r
}

// Wait waits until the input emitted at least n records into Rec and returns them all. It
// fails the test when timeout passes first, or when Run returns first (with Run's error).
func (r *Running) Wait(n int, timeout time.Duration) []Record {
	r.t.Helper()
	if !r.Rec.waitOr(n, timeout, r.done) {
		select {
		case <-r.done:
			r.t.Fatalf("Run returned %v after %d records, want %d", r.runErr, r.Rec.Len(), n)
		default:
			r.t.Fatalf("got %d records in %v, want %d", r.Rec.Len(), timeout, n)
		}
	}
	return r.Rec.Records()
}

// Done is closed when Run has returned, by itself or after Stop.
func (r *Running) Done() <-chan struct{} { return r.done }

// StopTimeout is how long Stop waits for Run to return once its context is cancelled.
const StopTimeout = 30 * time.Second

// Stop cancels Run's context, waits for Run to return (failing the test when it has not
// within StopTimeout), then calls Close when the input is a pipeline.Closer (a Close error
// fails the test). It returns Run's error. Calling it again only returns that error.
func (r *Running) Stop() error {
	r.once.Do(func() {
		r.cancel()
		timer := time.NewTimer(StopTimeout)
		defer timer.Stop()
		select {
		case <-r.done:
		case <-timer.C:
			r.t.Fatalf("Run did not return within %v of its context being cancelled", StopTimeout)
		}
		if c, ok := r.in.(pipeline.Closer); ok {
			if err := c.Close(context.Background()); err != nil {
				r.t.Errorf("Close: %v", err)
			}
		}
	})
	<-r.done
	return r.runErr
}

// Collect starts in (StartInput), waits for n records, stops it, and returns the first n.
// It fails the test on timeout or when Run returns an error.
func Collect(t testing.TB, in pipeline.Input, env pipeline.Env, n int, timeout time.Duration) []Record {
	t.Helper()
	r := StartInput(t, in, env, nil)
	recs := r.Wait(n, timeout)
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return recs[:n]
}

// Init calls p's Init with env when p is a pipeline.Initializer, as the engine does before
// Run, Filter or Flush, fails the test when it returns an error, and returns p. A nil
// env.Logger becomes one that discards. Close is left to the test.
func Init[T any](t testing.TB, p T, env pipeline.Env) T {
	t.Helper()
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if i, ok := any(p).(pipeline.Initializer); ok {
		if err := i.Init(context.Background(), env); err != nil {
			t.Fatalf("Init: %v", err)
		}
	}
	return p
}

// RunToEnd starts in (StartInput) and waits for Run to return by itself, as an input with
// a fixed amount of work does (dummy's samples), then stops it and returns every record.
// It fails the test when Run returns an error or is still running after timeout.
func RunToEnd(t testing.TB, in pipeline.Input, env pipeline.Env, timeout time.Duration) []Record {
	t.Helper()
	r := StartInput(t, in, env, nil)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.Done():
	case <-timer.C:
		t.Fatalf("Run did not finish within %v (%d records)", timeout, r.Rec.Len())
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r.Rec.Records()
}

// RunFor starts in (StartInput), lets it run for d, stops it and returns its records, for
// tests of what an input does over some intervals (log once, keep going): time is what
// they wait for. It fails the test when Run returns an error, or returns before d.
func RunFor(t testing.TB, in pipeline.Input, env pipeline.Env, d time.Duration) []Record {
	t.Helper()
	r := StartInput(t, in, env, nil)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Done():
		t.Fatalf("Run returned %v before %v, want it to keep going", r.Stop(), d)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Run = %v, want it to keep going", err)
	}
	return r.Rec.Records()
}
