package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
)

// This file is the Engine and its lifecycle: NewEngine, Start (plugins initialised,
// goroutines started), the flush timer, Stop (drain, close) and Adopt, and the dispatch of
// sealed chunks to the outputs that owe them. The units it drives live beside it:
// input.go (Emitter, backpressure), filter.go, output.go (queue, workers, retry), chunk.go,
// fsbuffer.go (filesystem storage), router.go (tag matching), options.go.

// Engine moves records from inputs through filters into chunks and from chunks to outputs.
// Build it with NewEngine and Add*, then Start; Stop drains it.
type Engine struct {
	opts    Options
	log     *slog.Logger
	inputs  []*inputInst
	filters []*filterInst
	procs   []*filterInst // every input's and output's processors, for their lifecycle
	outputs []*outputInst

	routes     sync.Map // tag -> *route
	routeCount atomic.Int64

	liveMu   sync.Mutex
	live     map[*chunk]struct{} // sealed chunks some output still owes
	progress chan struct{}       // poked whenever a chunk is released

	state    atomic.Int32 // 0 new, 1 running, 2 stopping, 3 stopped
	inCancel context.CancelFunc
	inWG     sync.WaitGroup
	outCtx   context.Context
	outStop  context.CancelFunc
	outWG    sync.WaitGroup
	tickStop chan struct{}
	tickWG   sync.WaitGroup

	noRouteMu   sync.Mutex
	noRouteTags map[string]struct{}

	bufs         bufPool            // chunk buffers, reserved from opts.Budget
	budgetCtx    context.Context    // waits for the budget end with it (StopInputs)
	budgetCancel context.CancelFunc // ends budgetCtx

	store    *storage.Store // nil without storage.path
	upChunks atomic.Int64   // sealed filesystem chunks held in memory
	seq      atomic.Uint64  // dispatch order: lower is older

	// A reload's handover (handover.go).
	inputsStopped atomic.Bool  // StopInputs has run
	sealed        atomic.Bool  // no more appends: the last FlushAll is under way
	stopCalled    atomic.Bool  // Stop has run (or runs)
	sharedFrom    *Engine      // the engine whose store this one took (ShareStorage)
	storeLent     atomic.Bool  // the store went to the next engine: not ours to close
	adoptMu       sync.RWMutex // Adopt (read) against Stop's last look at live (write)
	adoptClosed   bool         // under adoptMu: Stop has collected what is left
}

const (
	stateNew int32 = iota
	stateRunning
	stateStopping
	stateStopped
)

// NewEngine returns an engine with no plugins.
func NewEngine(opts Options) *Engine {
	opts.setDefaults()
	e := &Engine{
		opts:        opts,
		log:         opts.Logger,
		live:        map[*chunk]struct{}{},
		progress:    make(chan struct{}, 1),
		noRouteTags: map[string]struct{}{},
		bufs:        bufPool{budget: opts.Budget, maxBytes: 2 * chunkCap(0, opts.ChunkLimit, opts.ChunkLimit)},
	}
	e.budgetCtx, e.budgetCancel = context.WithCancel(context.Background())
	return e
}

// Budget returns the memory budget the engine reserves from (nil: off).
func (e *Engine) Budget() *membudget.Budget { return e.opts.Budget }

// Options returns the engine's settings with defaults applied.
func (e *Engine) Options() Options { return e.opts }

func instanceName(plugin, alias string, idx int) string {
	if alias != "" {
		return alias
	}
	return fmt.Sprintf("%s.%d", plugin, idx)
}

// Start initialises every plugin (outputs first, so nothing is emitted before it can be
// delivered) and starts inputs, output workers and the flush timer. If a plugin fails to
// initialise, those already initialised are closed and the error names the instance.
func (e *Engine) Start(ctx context.Context) error {
	if !e.state.CompareAndSwap(stateNew, stateRunning) {
		return errors.New("pipeline: engine already started")
	}
	type initedPlugin struct {
		p   any
		log *slog.Logger
	}
	var inited []initedPlugin
	fail := func(kind, name string, sec *config.Section, err error) error {
		e.releaseStore(true)
		for i := len(inited) - 1; i >= 0; i-- {
			closePlugin(ctx, inited[i].p, inited[i].log)
		}
		e.state.Store(stateStopped)
		if sec != nil {
			return config.Place(sec, fmt.Sprintf("%s %s: init", kind, name), err)
		}
		return fmt.Errorf("%s %s: init: %w", kind, name, err)
	}
	if err := e.openStore(); err != nil {
		e.state.Store(stateStopped)
		return err
	}
	for _, o := range e.outputs {
		if i, ok := o.out.(Initializer); ok {
			if err := i.Init(ctx, Env{Name: o.name, Logger: o.log, Budget: e.opts.Budget}); err != nil {
				return fail("output", o.name, o.sec, err)
			}
		}
		inited = append(inited, initedPlugin{o.out, o.log})
	}
	for _, f := range slices.Concat(e.filters, e.procs) {
		if i, ok := f.f.(Initializer); ok {
			if err := i.Init(ctx, Env{Name: f.name, Logger: f.log, Emitter: f.emitter, Budget: e.opts.Budget}); err != nil {
				return fail("filter", f.name, f.sec, err)
			}
		}
		inited = append(inited, initedPlugin{f.f, f.log})
	}
	// The backlog is read before the inputs start: it holds their checkpoints. A shared
	// store (ShareStorage) has them in memory already, with the lender's latest writes.
	var backlog []*storage.Loaded
	if e.store != nil && e.sharedFrom == nil {
		var err error
		if backlog, err = e.store.Load(); err != nil {
			e.log.Error("storage: cannot load the backlog", "err", err)
		}
	}
	for _, in := range e.inputs {
		if i, ok := in.in.(Initializer); ok {
			env := Env{Name: in.name, Tag: in.tag, Logger: in.log, Exit: e.opts.Exit, Budget: e.opts.Budget}
			if in.fs && e.store != nil {
				env.Checkpoints = e.store.Checkpoints(in.name)
			}
			if err := i.Init(ctx, env); err != nil {
				return fail("input", in.name, in.sec, err)
			}
		}
		inited = append(inited, initedPlugin{in.in, in.log})
	}

	// Plugin goroutines must outlive the caller's ctx only through Stop: they get contexts of
	// their own, detached from ctx's cancellation but keeping its values.
	base := context.WithoutCancel(ctx)
	e.outCtx, e.outStop = context.WithCancel(base)
	for _, o := range e.outputs {
		for w := 0; w < o.workers; w++ {
			e.outWG.Add(1)
			go o.work(e.outCtx)
		}
	}
	if len(backlog) > 0 {
		e.loadBacklog(backlog) // a shared store's backlog comes from the engine that lent it
	}
	var inCtx context.Context
	inCtx, e.inCancel = context.WithCancel(base)
	for _, in := range e.inputs {
		e.inWG.Add(1)
		go in.run(inCtx)
	}
	e.tickStop = make(chan struct{})
	e.tickWG.Add(1)
	go e.flushLoop()
	e.log.Info("engine started", "inputs", len(e.inputs), "filters", len(e.filters), "outputs", len(e.outputs), "flush", e.opts.Flush)
	return nil
}

func (e *Engine) flushLoop() {
	defer e.tickWG.Done()
	t := time.NewTicker(e.opts.Flush)
	defer t.Stop()
	for {
		select {
		case <-e.tickStop:
			return
		case <-t.C:
			e.FlushAll()
		}
	}
}

// FlushAll seals every open chunk and hands it to its outputs now, without waiting for the
// flush interval.
func (e *Engine) FlushAll() {
	for _, in := range e.inputs {
		in.mu.Lock()
		sealed := in.sealAllLocked()
		in.mu.Unlock()
		in.dispatchAll(sealed)
	}
}

// Stop shuts the engine down: inputs stop, open chunks are sealed, outputs get until the
// grace period (or ctx's deadline, whichever is first) to deliver, then they are stopped
// and plugins closed. Chunks still undelivered are returned: a reload hands them to the
// next engine (Adopt); otherwise the caller reports them lost.
func (e *Engine) Stop(ctx context.Context) []*Chunk {
	if !e.StopInputs() && !e.inputsStopped.Load() {
		return nil // never started, or stopped already
	}
	if !e.stopCalled.CompareAndSwap(false, true) {
		return nil
	}

	grace := time.NewTimer(e.opts.Grace)
	defer grace.Stop()
wait:
	for {
		e.liveMu.Lock()
		n := len(e.live)
		e.liveMu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-e.progress:
		case <-grace.C:
			// Chunks on disk are safe: the next start delivers them. Only memory is lost.
			inMemory := 0
			e.liveMu.Lock()
			for c := range e.live {
				if c.file == nil {
					inMemory++
				}
			}
			e.liveMu.Unlock()
			if inMemory > 0 {
				e.log.Warn("grace period over with chunks undelivered", "chunks", n, "in_memory", inMemory)
			} else {
				e.log.Info("grace period over; undelivered chunks stay on disk for the next start", "chunks", n)
			}
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	for _, o := range e.outputs {
		o.close()
	}
	e.outStop()
	e.outWG.Wait()
	// Close in the reverse of Start's Init order, as a failed Start does: inputs, filters,
	// outputs, each kind last-added first.
	for i := len(e.inputs) - 1; i >= 0; i-- {
		closePlugin(ctx, e.inputs[i].in, e.inputs[i].log)
	}
	for _, fs := range [][]*filterInst{e.procs, e.filters} {
		for i := len(fs) - 1; i >= 0; i-- {
			closePlugin(ctx, fs[i].f, fs[i].log)
		}
	}
	for i := len(e.outputs) - 1; i >= 0; i-- {
		closePlugin(ctx, e.outputs[i].out, e.outputs[i].log)
	}
	e.state.Store(stateStopped)

	e.adoptMu.Lock()
	e.adoptClosed = true
	e.adoptMu.Unlock()
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	lent := e.storeLent.Load()
	left := make([]*Chunk, 0, len(e.live))
	kept, keptRecords := 0, 0
	for c := range e.live {
		if c.file != nil {
			e.bufs.put(c) // the records are in the file
			if lent {
				// The next engine took this storage (a reload): it adopts the chunk.
				left = append(left, c.handOverDisk())
				continue
			}
			// On disk: the next start on this storage.path loads it with the outputs
			// that still owe it.
			kept++
			keptRecords += c.Records
			continue
		}
		// The next engine (or nobody) takes the data: it is no longer the pool's, and a
		// buffer off the heap is freed (the data moves to the heap, which the garbage
		// collector frees whoever ends up with it).
		data := c.Data
		if c.region != nil {
			data = append([]byte(nil), c.Data...)
			e.bufs.freeRegion(c)
		}
		e.opts.Budget.Release(c.reserved)
		c.reserved = 0
		left = append(left, &Chunk{Tag: c.Tag, Data: data, Records: c.Records})
	}
	e.bufs.drain()
	e.budgetCancel()
	e.live = map[*chunk]struct{}{}
	if kept > 0 {
		e.log.Info("undelivered chunks kept in storage for the next start", "chunks", kept, "records", keptRecords, "path", e.store.Dir())
	}
	e.releaseStore(false)
	return left
}

// releaseStore closes the filesystem store unless the next engine of a reload took it;
// an engine that shared its predecessor's store and could not start gives it back.
func (e *Engine) releaseStore(failedStart bool) {
	switch {
	case e.store == nil || e.storeLent.Load():
	case failedStart && e.sharedFrom != nil:
		e.sharedFrom.storeLent.Store(false) // the lender owns it again
	default:
		if err := e.store.Close(); err != nil {
			e.log.Warn("storage: cannot release storage.path", "err", err)
		}
		e.log.Info("storage closed", "fsyncs", e.store.Fsyncs())
	}
}

func closePlugin(ctx context.Context, p any, log *slog.Logger) {
	if c, ok := p.(Closer); ok {
		if err := c.Close(ctx); err != nil {
			log.Warn("close failed", "err", err)
		}
	}
}

// Adopt takes chunks left undelivered by a previous engine (a reload) and routes them to
// this engine's outputs by their tags. Chunks no output matches are returned.
// Filesystem chunks handed over with the store (ShareStorage) go to the outputs that have
// not delivered them yet. An engine that has stopped adopts nothing: every chunk is
// returned (check with Stopped).
func (e *Engine) Adopt(chunks []*Chunk) (unrouted []*Chunk) {
	e.adoptMu.RLock()
	defer e.adoptMu.RUnlock()
	if e.adoptClosed {
		return chunks
	}
	for _, c := range chunks {
		if c.file != nil {
			if !e.adoptFile(c) {
				unrouted = append(unrouted, c)
			}
			continue
		}
		if len(e.route(c.Tag).outputs) == 0 {
			unrouted = append(unrouted, c)
			continue
		}
		e.dispatch(&chunk{Chunk: *c})
	}
	return unrouted
}

// Stopped reports whether Stop has finished with the engine's chunks: it adopts no more.
func (e *Engine) Stopped() bool {
	e.adoptMu.RLock()
	defer e.adoptMu.RUnlock()
	return e.adoptClosed
}

// dispatch hands a sealed chunk to every output whose Match covers its tag.
func (e *Engine) dispatch(c *chunk) {
	if c.in != nil {
		c.mem = int64(len(c.Data))
	}
	if c.file != nil {
		e.sealFile(c)
	}
	e.dispatchTo(c, e.route(c.Tag).outputs)
}

func (e *Engine) dispatchTo(c *chunk, outs []*outputInst) {
	if len(outs) == 0 { // routes are fixed per engine; only adopted chunks can get here
		c.release()
		return
	}
	c.seq = e.seq.Add(1)
	c.pending.Store(int32(len(outs)))
	e.liveMu.Lock()
	e.live[c] = struct{}{}
	e.liveMu.Unlock()
	for _, o := range outs {
		o.enqueue(&task{c: c})
	}
}

// done is called once per output o that has finished with c (delivered or gave up).
func (e *Engine) done(c *chunk, o *outputInst) {
	if c.pending.Add(-1) != 0 {
		if c.file != nil {
			if err := c.file.Ack(o.name); err != nil {
				// The chunk will be sent to o again after a restart: at-least-once holds.
				o.log.Warn("storage: cannot record delivery", "err", err)
			}
		}
		return
	}
	e.liveMu.Lock()
	delete(e.live, c)
	e.liveMu.Unlock()
	c.release()
	select {
	case e.progress <- struct{}{}:
	default:
	}
}

func (e *Engine) noRoute(tag string) {
	e.noRouteMu.Lock()
	defer e.noRouteMu.Unlock()
	if _, seen := e.noRouteTags[tag]; seen || len(e.noRouteTags) > 1000 {
		return
	}
	e.noRouteTags[tag] = struct{}{}
	e.log.Warn("no output matches tag: its records are discarded", "tag", tag)
}
