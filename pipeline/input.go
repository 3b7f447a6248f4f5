package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
)

// This file is an input instance: the Emitter the engine hands to an input's Run, the
// input's open chunks per tag and its backpressure (mem_buf_limit), with the pause and
// resume logic in one place (setPausedLocked).

// AddInput adds an input instance; it must be called before Start. It returns the
// instance's emitter, which library users may call directly (Agent.Push does).
func (e *Engine) AddInput(s InputSpec) Emitter {
	in := &inputInst{
		e:      e,
		name:   instanceName(s.Plugin, s.Alias, len(e.inputs)),
		plugin: s.Plugin,
		in:     s.Input,
		sec:    s.Section,
		limit:  s.MemBufLimit,
		fs:     s.Filesystem,
		open:   map[string]*chunk{},
	}
	if in.limit == 0 {
		in.limit = DefaultMemBufLimit
	}
	in.tag = s.Tag
	if in.tag == "" {
		in.tag = in.name
	}
	in.cond = sync.NewCond(&in.mu)
	in.log = e.log.With("input", in.name)
	in.procs = e.newProcessors(in.name, s.Processors)
	e.inputs = append(e.inputs, in)
	return in
}

// idleInput is the input behind a Reemitter's Emitter: records come only from the filter.
type idleInput struct{}

func (idleInput) Run(ctx context.Context, _ Emitter) error {
	<-ctx.Done()
	return nil
}

// inputInst is a running input and its buffer.
type inputInst struct {
	e      *Engine
	name   string
	plugin string
	tag    string
	in     Input
	sec    *config.Section
	log    *slog.Logger
	limit  int64
	procs  []*filterInst // processors: this input's own filters, before routing

	mu       sync.Mutex
	cond     *sync.Cond
	buffered int64             // bytes in this input's chunks, open or owed to an output
	open     map[string]*chunk // per tag
	paused   bool
	fs       bool // storage.type filesystem

	storageErrAt atomic.Int64 // unix nanoseconds of the last failed chunk write (fs)

	records atomic.Uint64
	bytes   atomic.Uint64
	pauses  atomic.Uint64
}

// maxInputRestartWait caps the wait before a failed input is restarted.
const maxInputRestartWait = 30 * time.Second

func (in *inputInst) run(ctx context.Context) {
	defer in.e.inWG.Done()
	wait := time.Second
	for {
		err := in.in.Run(ctx, in)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			in.log.Debug("input finished")
			return
		}
		in.log.Error("input failed; restarting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxInputRestartWait)
	}
}

// Paused reports whether the input is over its mem_buf_limit or, with filesystem
// storage, whether a chunk write failed (disk full) in the last second, or whether the
// process's memory budget is spent.
func (in *inputInst) Paused() bool {
	in.mu.Lock()
	p := in.pausedLocked()
	// An input that asks before emitting (a listener answering 503, a reader that stops
	// reading) is paused and resumed here, as one blocked in Emit is in appendEntries.
	// A filesystem input is never paused for memory: it puts chunks down to disk instead.
	var sealed []*chunk
	if !in.fs {
		sealed = in.setPausedLocked(p)
	}
	in.mu.Unlock()
	in.dispatchAll(sealed)
	// The process's memory budget spent (or someone waiting for it) holds back every
	// input that asks, so what it would take in is not allocated.
	return p || in.e.opts.Budget.Full()
}

// storagePause is how long a filesystem input reports Paused after a failed write.
const storagePause = time.Second

func (in *inputInst) pausedLocked() bool {
	if in.fs {
		at := in.storageErrAt.Load()
		return at != 0 && time.Since(time.Unix(0, at)) < storagePause
	}
	return in.overLimitLocked()
}

// overLimitLocked reports whether a memory input's buffered bytes have reached its
// mem_buf_limit.
func (in *inputInst) overLimitLocked() bool { return in.limit > 0 && in.buffered >= in.limit }

// setPausedLocked is the one place a memory input's pause state changes, whether the
// input asked (Paused) or is blocked in Emit (appendEntries). Pausing is counted and
// logged, and seals the input's open chunks, which it returns for the caller to dispatch
// once the lock is released: delivering them is what frees the space, so they go to the
// outputs now rather than at the next flush tick. Resuming is logged. An engine that is
// stopping pauses nothing.
func (in *inputInst) setPausedLocked(over bool) (sealed []*chunk) {
	switch {
	case over && !in.paused && in.e.state.Load() < stateStopping:
		in.paused = true
		in.pauses.Add(1)
		in.log.Info("paused: mem_buf_limit reached", "buffered", in.buffered, "limit", in.limit)
		return in.sealAllLocked()
	case !over && in.paused:
		in.paused = false
		in.log.Info("resumed", "buffered", in.buffered)
	}
	return nil
}

// dispatchAll hands sealed chunks to their outputs; the input's lock must not be held.
func (in *inputInst) dispatchAll(sealed []*chunk) {
	for _, c := range sealed {
		in.e.dispatch(c)
	}
}

// Emit runs the filters for tag on ev and appends it to the tag's open chunk.
func (in *inputInst) Emit(tag string, ev event.Event) error {
	if tag == "" {
		tag = in.tag
	}
	return in.filterEvent(tag, ev, in.appendEvent)
}

// filterEvent runs ev through the input's processors, then the filters of tag's route,
// and hands each record they let through (or split into) to sink.
//
// The filters get ev by pointer, which would move every record's Event to the heap: it is
// lent from a pool instead, for the call (a filter never keeps the pointer: Filter's
// contract is to change ev in place and return).
func (in *inputInst) filterEvent(tag string, ev event.Event, sink func(tag string, r *route, ev *event.Event) error) error {
	p := eventPool.Get().(*event.Event)
	*p = ev
	if p.Time.IsZero() {
		p.Time = time.Now() // before the filters: they may read or copy the time
	}
	r := in.e.route(tag)
	var err error
	if len(in.procs) == 0 {
		err = in.emitFrom(tag, r, 0, p, sink)
	} else {
		// Processors (the input's own filters) run first; each record they let through,
		// or split into, then takes the route's filters.
		err = runChain(tag, in.procs, 0, p, in.dropped, func(ev *event.Event) error { return in.emitFrom(tag, r, 0, ev, sink) })
	}
	*p = event.Event{}
	eventPool.Put(p)
	return err
}

var eventPool = sync.Pool{New: func() any { return new(event.Event) }}

// EmitRawCheckpoint is EmitRaw with the input's checkpoint (CheckpointEmitter): with
// filesystem storage, the entries the filters let through and cp go into one frame.
func (in *inputInst) EmitRawCheckpoint(tag string, entries []byte, n int, cp []Checkpoint) error {
	if !in.fs || in.e.store == nil || len(cp) == 0 {
		if n == 0 {
			return nil
		}
		return in.EmitRaw(tag, entries, n)
	}
	if tag == "" {
		tag = in.tag
	}
	r := in.e.route(tag)
	var ferr error
	if len(r.filters) > 0 || len(in.procs) > 0 {
		// The records the filters let through are gathered, so that they and cp are
		// one append.
		var out []byte
		var encErr error
		kept := 0
		ferr = event.Entries(entries, func(ev event.Event) error {
			return in.filterEvent(tag, ev, func(tag string, r *route, ev *event.Event) error {
				if len(r.outputs) == 0 {
					in.records.Add(1)
					in.e.noRoute(tag)
					return nil
				}
				b, err := event.AppendEntry(out, ev)
				if err != nil {
					encErr = fmt.Errorf("pipeline: encode record for %q: %w", tag, err)
					return encErr
				}
				out, kept = b, kept+1
				return nil
			})
		})
		if encErr != nil {
			return encErr // nothing taken
		}
		entries, n = out, kept
	} else if len(r.outputs) == 0 {
		in.records.Add(uint64(n))
		in.e.noRoute(tag)
		entries, n = nil, 0
	}
	// A damaged entry (event.Entries) is left out, the others and cp are taken, and the
	// error is reported: the input must not read the batch again.
	if err := in.appendFile(tag, n, len(entries), func(dst []byte) ([]byte, error) { return append(dst, entries...), nil }, cp); err != nil {
		return err
	}
	return ferr
}

// runChain runs ev through filters from the one at index from, then hands it to next. A
// filter that splits the record (Splitter) sends it and the records that follow it through
// the rest of the chain, in order. dropped is called for each record a filter drops.
func runChain(tag string, filters []*filterInst, from int, ev *event.Event, dropped func(), next func(*event.Event) error) error {
	for i := from; i < len(filters); i++ {
		v, more := filters[i].apply(tag, ev)
		if len(more) > 0 {
			if v == Drop {
				dropped()
			} else if err := runChain(tag, filters, i+1, ev, dropped, next); err != nil {
				return err
			}
			for j := range more {
				if more[j].Time.IsZero() {
					more[j].Time = ev.Time
				}
				if err := runChain(tag, filters, i+1, &more[j], dropped, next); err != nil {
					return err
				}
			}
			return nil
		}
		if v == Drop {
			dropped()
			return nil
		}
	}
	return next(ev)
}

// dropped counts a record a filter dropped as taken in.
func (in *inputInst) dropped() { in.records.Add(1) }

// emitFrom runs ev through r's filters from the one at index from, then hands it to sink.
func (in *inputInst) emitFrom(tag string, r *route, from int, ev *event.Event, sink func(tag string, r *route, ev *event.Event) error) error {
	// records counts what the input took in: filtered out and unrouted records too, but
	// not records refused (stopped, storage full), which the sender keeps.
	return runChain(tag, r.filters, from, ev, in.dropped, func(ev *event.Event) error { return sink(tag, r, ev) })
}

// appendEvent appends one filtered record to the tag's open chunk, or counts it unrouted.
func (in *inputInst) appendEvent(tag string, r *route, ev *event.Event) error {
	if len(r.outputs) == 0 {
		in.records.Add(1)
		in.e.noRoute(tag)
		return nil
	}
	return in.appendEntries(tag, 1, 0, func(dst []byte) ([]byte, error) { return event.AppendEntry(dst, ev) })
}

// EmitRaw appends n encoded entries. When a filter applies to tag they are decoded,
// filtered and encoded again; otherwise they go into the chunk as they are.
func (in *inputInst) EmitRaw(tag string, entries []byte, n int) error {
	if tag == "" {
		tag = in.tag
	}
	r := in.e.route(tag)
	if len(r.filters) > 0 || len(in.procs) > 0 {
		// Entries skips a damaged entry and reports it after the good ones are in.
		return event.Entries(entries, func(ev event.Event) error { return in.Emit(tag, ev) })
	}
	if len(r.outputs) == 0 {
		in.records.Add(uint64(n))
		in.e.noRoute(tag)
		return nil
	}
	return in.appendEntries(tag, n, len(entries), func(dst []byte) ([]byte, error) { return append(dst, entries...), nil })
}

// appendEntries waits while the input is over its limit, then appends under the lock.
// size is how many bytes enc will add, when known (0: a single record, small). A chunk's
// buffer is reserved from the memory budget before it is allocated; while the budget is
// spent, appendEntries waits for room (backpressure), with the lock released.
func (in *inputInst) appendEntries(tag string, n, size int, enc func([]byte) ([]byte, error)) error {
	if in.fs {
		return in.appendFile(tag, n, size, enc, nil)
	}
	var credit int64 // reserved from the budget while waiting, for grow to use
	defer func() { in.e.bufs.budget.Release(credit) }()
	in.mu.Lock()
	var c *chunk
	for {
		if in.e.sealed.Load() {
			// The inputs have stopped and the open chunks are sealed for the last time: a
			// record taken now would sit in a chunk nobody flushes.
			in.mu.Unlock()
			return ErrStopped
		}
		if in.overLimitLocked() {
			if in.e.state.Load() >= stateStopping {
				in.mu.Unlock()
				return ErrStopped
			}
			if sealed := in.setPausedLocked(true); len(sealed) > 0 {
				in.mu.Unlock()
				in.dispatchAll(sealed)
				in.mu.Lock()
				continue
			}
			in.cond.Wait()
			continue
		}
		in.setPausedLocked(false)
		c = in.open[tag]
		if c == nil {
			c = &chunk{Chunk: Chunk{Tag: tag}, in: in, created: time.Now()}
			in.open[tag] = c
		}
		need := len(c.Data) + max(size, 512)
		if need <= cap(c.Data) || in.e.bufs.grow(c, need, in.e.opts.ChunkLimit, &credit) {
			break
		}
		// The memory budget is spent: seal this input's chunks so they go out (their
		// delivery frees it) and wait for room without the lock, then look again.
		// Enough for this chunk's growth, or for a fresh chunk's first buffer once it is
		// sealed below: grow can then succeed with the credit alone.
		limit := in.e.opts.ChunkLimit
		want := max(int64(chunkCap(cap(c.Data), need, limit))-c.reserved, int64(chunkCap(0, max(size, 512), limit)))
		sealed := in.sealAllLocked()
		in.mu.Unlock()
		in.dispatchAll(sealed)
		in.e.bufs.drain() // pooled buffers hold reservations: give them back first
		if err := in.e.bufs.budget.Reserve(in.e.budgetCtx, want-credit); err != nil {
			if in.e.budgetCtx.Err() != nil {
				return ErrStopped
			}
			return fmt.Errorf("pipeline: buffer for %q: %w", tag, err)
		}
		credit = want
		in.mu.Lock()
	}
	before := len(c.Data)
	oldCap := cap(c.Data)
	data, err := enc(c.Data)
	if cap(data) != oldCap {
		// enc outgrew the buffer (a record larger than guessed): count what append took.
		in.e.bufs.regrown(c, oldCap, cap(data))
	}
	if err != nil {
		c.Data = data[:before]
		in.mu.Unlock()
		return fmt.Errorf("pipeline: encode record for %q: %w", tag, err)
	}
	c.Data = data
	c.Records += n
	// Counted with the append, under the lock: a stop that folds this engine's counters
	// into the agent's totals after the chunk is delivered sees the records too.
	in.records.Add(uint64(n))
	added := int64(len(data) - before)
	in.buffered += added
	in.bytes.Add(uint64(added))
	var full *chunk
	if len(c.Data) >= in.e.opts.ChunkLimit {
		delete(in.open, tag)
		full = c
	}
	in.mu.Unlock()
	if full != nil {
		in.e.dispatch(full)
	}
	return nil
}

func (in *inputInst) sealAllLocked() []*chunk {
	if len(in.open) == 0 {
		return nil
	}
	out := make([]*chunk, 0, len(in.open))
	for tag, c := range in.open {
		delete(in.open, tag)
		if c.Records > 0 {
			out = append(out, c)
		} else if c.file != nil {
			_ = c.file.Remove()
			in.e.bufs.put(c)
		} else {
			in.e.bufs.put(c) // an empty chunk: its buffer goes back
		}
	}
	return out
}

func (in *inputInst) release(n int64) {
	in.mu.Lock()
	in.buffered -= n
	in.cond.Broadcast()
	in.mu.Unlock()
}

func (in *inputInst) putDown(c *chunk) {
	in.mu.Lock()
	in.buffered -= c.mem
	c.mem = 0
	in.cond.Broadcast()
	in.mu.Unlock()
}
