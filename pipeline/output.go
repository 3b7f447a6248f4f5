package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// This file is an output instance as one unit, like an exporter helper: its queue of
// owed chunks, its workers, and retries with backoff around the plugin's Flush.

// AddOutput adds an output instance.
func (e *Engine) AddOutput(s OutputSpec) {
	o := &outputInst{
		e:          e,
		name:       instanceName(s.Plugin, s.Alias, len(e.outputs)),
		plugin:     s.Plugin,
		out:        s.Output,
		sec:        s.Section,
		match:      matcher{pattern: s.Match, re: s.MatchRegex},
		retryLimit: s.RetryLimit,
		workers:    s.Workers,
		totalLimit: s.TotalLimitSize,
		retrying:   map[*task]*time.Timer{},
	}
	if o.workers <= 0 {
		o.workers = 1
	}
	o.cond = sync.NewCond(&o.mu)
	o.log = e.log.With("output", o.name)
	o.procs = e.newProcessors(o.name, s.Processors)
	e.outputs = append(e.outputs, o)
}

// task is one chunk owed to one output.
type task struct {
	c        *chunk
	attempts int
	size     int64 // bytes counted in owed (filesystem chunks under total_limit_size)
}

// outputInst is a configured output with its queue and workers.
type outputInst struct {
	e          *Engine
	name       string
	plugin     string
	out        Output
	sec        *config.Section
	match      matcher
	retryLimit int
	workers    int
	totalLimit int64 // storage.total_limit_size; 0: none
	log        *slog.Logger
	procs      []*filterInst // processors: run on each chunk before Flush

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*task
	retrying map[*task]*time.Timer
	closed   bool
	owed     int64 // bytes of filesystem chunks owed, under totalLimit

	procRecords    atomic.Uint64
	procBytes      atomic.Uint64
	errors         atomic.Uint64
	retries        atomic.Uint64
	retriesFailed  atomic.Uint64
	droppedRecords atomic.Uint64
	retriedRecords atomic.Uint64
	rejectedChunks atomic.Uint64 // chunks given up on (permanent error, retry_limit)
	rejectedKept   atomic.Uint64 // of those, kept with storage.keep.rejected
	routes         routes        // per-input deliveries (routing and latency metrics)
}

func (o *outputInst) enqueue(t *task) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.queue = append(o.queue, t)
	o.cond.Signal()
	dropped := o.overLimitLocked(t)
	o.mu.Unlock()
	for _, v := range dropped {
		o.droppedRecords.Add(uint64(v.c.Records))
		o.droppedRoute(v.c)
		o.log.Warn("storage.total_limit_size reached: oldest chunk dropped for this output",
			"tag", v.c.Tag, "records", v.c.Records, "bytes", v.size, "limit", o.totalLimit)
		o.e.done(v.c, o)
	}
}

// finish ends t for o: the chunk was delivered or given up.
func (o *outputInst) finish(t *task) {
	if t.size > 0 {
		o.mu.Lock()
		o.owed -= t.size
		o.mu.Unlock()
	}
	o.e.done(t.c, o)
}

func (o *outputInst) close() {
	o.mu.Lock()
	o.closed = true
	for t, tm := range o.retrying {
		tm.Stop()
		delete(o.retrying, t)
	}
	o.cond.Broadcast()
	o.mu.Unlock()
}

func (o *outputInst) work(ctx context.Context) {
	defer o.e.outWG.Done()
	for {
		o.mu.Lock()
		for len(o.queue) == 0 && !o.closed {
			o.cond.Wait()
		}
		if o.closed {
			o.mu.Unlock()
			return
		}
		t := o.queue[0]
		o.queue[0] = nil
		o.queue = o.queue[1:]
		o.mu.Unlock()
		o.flush(ctx, t)
	}
}

func (o *outputInst) flush(ctx context.Context, t *task) {
	c := t.c
	c.busy.Add(1)
	defer c.busy.Add(-1)
	ch := &c.Chunk
	if c.down {
		var ok bool
		if ch, ok = o.readBack(t); !ok {
			return
		}
	}
	if len(o.procs) > 0 {
		ch = o.process(ch)
		if ch.Records == 0 {
			o.finish(t) // the processors kept nothing: nothing to send
			return
		}
	}
	if sz, ok := o.out.(EncodingSizer); ok && o.e.opts.Budget != nil {
		n := int64(sz.EncodedSize(ch))
		o.e.opts.Budget.Overdraw(n)
		defer o.e.opts.Budget.Release(n)
	}
	err := o.out.Flush(ctx, ch)
	if err == nil {
		o.procRecords.Add(uint64(ch.Records))
		o.procBytes.Add(uint64(len(ch.Data)))
		o.delivered(c, ch)
		if t.attempts > 0 {
			o.log.Info("chunk delivered after retries", "tag", c.Tag, "retries", t.attempts)
		}
		o.finish(t)
		return
	}
	if ctx.Err() != nil {
		// Shutting down: the chunk stays owed and is handed back by Stop.
		return
	}
	if !IsRetry(err) {
		// Only a chunk given up on a permanent error counts in errors, as Fluent Bit's
		// FLB_ERROR: a failed attempt that will be retried is a retry, so a short outage
		// whose retries succeed leaves hc_errors_count (the health check) untouched.
		o.errors.Add(1)
		o.droppedRecords.Add(uint64(c.Records))
		o.droppedRoute(c)
		o.reject(ch, t.attempts+1, "output refused the chunk (permanent error)", err)
		o.finish(t)
		return
	}
	t.attempts++
	if o.retryLimit >= 0 && t.attempts > o.retryLimit {
		// Keep (or count) first, release, then count the failure: whoever sees
		// retries_failed go up (the monitoring API, a test) then also sees the chunk's
		// memory given back.
		records := c.Records
		o.reject(ch, t.attempts, fmt.Sprintf("retry_limit reached after %d retries", t.attempts-1), err)
		o.finish(t)
		o.droppedRecords.Add(uint64(records))
		o.droppedRoute(c)
		o.retriesFailed.Add(1)
		return
	}
	o.retries.Add(1)
	o.retriedRecords.Add(uint64(c.Records))
	wait := o.backoff(t.attempts, retryDelay(err))
	o.log.Warn("flush failed; will retry", "tag", c.Tag, "attempt", t.attempts, "in", wait.Round(time.Millisecond), "err", err)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.retrying[t] = time.AfterFunc(wait, func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if _, ok := o.retrying[t]; !ok {
			return
		}
		delete(o.retrying, t)
		o.queue = append(o.queue, t)
		o.cond.Signal()
	})
}

// backoff is exponential with full jitter between base and min(cap, base*2^attempt), as
// Fluent Bit's scheduler, raised to what the destination asked for (never above cap).
func (o *outputInst) backoff(attempt int, asked time.Duration) time.Duration {
	base, maxWait := o.e.opts.SchedulerBase, o.e.opts.SchedulerCap
	ceil := base
	for i := 0; i < attempt && ceil < maxWait; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxWait)
	wait := base
	if ceil > base {
		wait += time.Duration(rand.Int64N(int64(ceil - base)))
	}
	if asked > wait {
		wait = min(asked, maxWait)
	}
	return wait
}

// retryError is an output's error that asks for the chunk to be tried again (Retry,
// RetryAfter); any other error from Flush is permanent.
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
