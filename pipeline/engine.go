package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
)

// Defaults of the engine, documented in the README.
const (
	DefaultFlush         = time.Second
	DefaultGrace         = 5 * time.Second
	DefaultChunkLimit    = 2 << 20 // bytes: a chunk is sealed once it reaches this size
	DefaultMemBufLimit   = 16 << 20
	DefaultSchedulerBase = 5 * time.Second
	DefaultSchedulerCap  = 2000 * time.Second
	// RetryForever is the retry limit meaning "keep the chunk until it is delivered".
	RetryForever = -1
	// DefaultMaxChunksUp is storage.max_chunks_up: sealed filesystem chunks kept in memory.
	DefaultMaxChunksUp = 128
	// DefaultBacklogMemLimit is storage.backlog.mem_limit: backlog bytes read up at start.
	DefaultBacklogMemLimit = 5 << 20
)

// Sync policies of filesystem storage (storage.sync).
const (
	// SyncNormal writes every record to its chunk file before Emit returns and fsyncs the
	// file when the chunk is sealed (size limit or flush interval).
	SyncNormal = "normal"
	// SyncFull also fsyncs before Emit returns: an accepted record survives a power loss.
	SyncFull = "full"
)

// StorageOptions are the service's storage.* keys. With Path empty there is no
// filesystem storage: inputs cannot ask for it and no backlog is loaded.
type StorageOptions struct {
	Path                string // storage.path
	Sync                string // storage.sync: SyncNormal (default) or SyncFull
	Checksum            bool   // storage.checksum: verify frame CRCs on every read back too
	MaxChunksUp         int    // storage.max_chunks_up (default DefaultMaxChunksUp)
	BacklogMemLimit     int64  // storage.backlog.mem_limit (default DefaultBacklogMemLimit)
	DeleteIrrecoverable bool   // storage.delete_irrecoverable_chunks
}

// Options are the engine-wide settings (the [SERVICE] section's engine keys).
type Options struct {
	Flush         time.Duration // how often open chunks are sealed and flushed
	Grace         time.Duration // how long Stop waits for outputs to drain
	ChunkLimit    int           // bytes
	SchedulerBase time.Duration // first retry waits between base and 2*base
	SchedulerCap  time.Duration // no retry waits longer than this
	Storage       StorageOptions
	Logger        *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Flush <= 0 {
		o.Flush = DefaultFlush
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.ChunkLimit <= 0 {
		o.ChunkLimit = DefaultChunkLimit
	}
	if o.SchedulerBase <= 0 {
		o.SchedulerBase = DefaultSchedulerBase
	}
	if o.SchedulerCap <= 0 {
		o.SchedulerCap = DefaultSchedulerCap
	}
	if o.SchedulerCap < o.SchedulerBase {
		o.SchedulerCap = o.SchedulerBase
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Storage.Sync == "" {
		o.Storage.Sync = SyncNormal
	}
	if o.Storage.MaxChunksUp <= 0 {
		o.Storage.MaxChunksUp = DefaultMaxChunksUp
	}
	if o.Storage.BacklogMemLimit <= 0 {
		o.Storage.BacklogMemLimit = DefaultBacklogMemLimit
	}
}

// InputSpec describes one input instance.
type InputSpec struct {
	Plugin      string // plugin name, used for the instance name ("cpu.0")
	Alias       string // replaces the instance name when set
	Tag         string // default: the instance name
	MemBufLimit int64  // bytes; 0 = DefaultMemBufLimit, < 0 = unlimited
	// Filesystem puts the input's chunks in files under Options.Storage.Path
	// (storage.type filesystem) instead of memory only.
	Filesystem bool
	Input      Input
	Section    *config.Section // where it was configured, if it was: Init errors get its place
}

// FilterSpec describes one filter instance.
type FilterSpec struct {
	Plugin     string
	Alias      string
	Match      string
	MatchRegex *regexp.Regexp
	Filter     Filter
	Section    *config.Section
}

// OutputSpec describes one output instance.
type OutputSpec struct {
	Plugin     string
	Alias      string
	Match      string
	MatchRegex *regexp.Regexp
	RetryLimit int // retries after the first attempt; RetryForever keeps trying
	Workers    int // concurrent flushes; default 1
	// TotalLimitSize caps the bytes of filesystem chunks this output owes
	// (storage.total_limit_size); when over, its oldest chunks are dropped. 0: no cap.
	TotalLimitSize int64
	Output         Output
	Section        *config.Section
}

// Engine moves records from inputs through filters into chunks and from chunks to outputs.
// Build it with NewEngine and Add*, then Start; Stop drains it.
type Engine struct {
	opts    Options
	log     *slog.Logger
	inputs  []*inputInst
	filters []*filterInst
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

	store    *storage.Store // nil without storage.path
	upChunks atomic.Int64   // sealed filesystem chunks held in memory
	seq      atomic.Uint64  // dispatch order: lower is older
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
	return &Engine{
		opts:        opts,
		log:         opts.Logger,
		live:        map[*chunk]struct{}{},
		progress:    make(chan struct{}, 1),
		noRouteTags: map[string]struct{}{},
	}
}

// Options returns the engine's settings with defaults applied.
func (e *Engine) Options() Options { return e.opts }

func instanceName(plugin, alias string, idx int) string {
	if alias != "" {
		return alias
	}
	return fmt.Sprintf("%s.%d", plugin, idx)
}

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
	e.inputs = append(e.inputs, in)
	return in
}

// AddFilter adds a filter instance; filters apply in the order they are added.
func (e *Engine) AddFilter(s FilterSpec) {
	f := &filterInst{
		name:   instanceName(s.Plugin, s.Alias, len(e.filters)),
		plugin: s.Plugin,
		f:      s.Filter,
		sec:    s.Section,
		match:  matcher{pattern: s.Match, re: s.MatchRegex},
	}
	f.log = e.log.With("filter", f.name)
	if r, ok := s.Filter.(Reemitter); ok {
		alias := "emitter_for_" + f.name
		if n, ok := s.Filter.(EmitterNamer); ok && n.EmitterInputName() != "" {
			alias = n.EmitterInputName()
		}
		f.emitter = e.AddInput(InputSpec{Plugin: "emitter", Alias: alias,
			MemBufLimit: r.EmitterMemBufLimit(), Input: idleInput{}})
	}
	e.filters = append(e.filters, f)
}

// growChunk makes room for size more bytes (at least a small record's worth) in a chunk
// that is sealed at limit bytes. It doubles from 4 KiB, and once a chunk is a quarter of
// the way to its limit it goes straight to the limit (plus an eighth, or the batch): append's
// own growth (×1.25 past 256 KiB) would copy a 2 MB chunk about eight times over, which was
// a third of the agent's CPU in forward pass-through.
func growChunk(b []byte, size, limit int) []byte {
	need := len(b) + max(size, 512)
	if need <= cap(b) {
		return b
	}
	newCap := max(2*cap(b), need, 4096)
	if newCap > limit/4 {
		newCap = max(need, limit+limit/8)
	}
	nb := make([]byte, len(b), newCap)
	copy(nb, b)
	return nb
}

// idleInput is the input behind a Reemitter's Emitter: records come only from the filter.
type idleInput struct{}

func (idleInput) Run(ctx context.Context, _ Emitter) error {
	<-ctx.Done()
	return nil
}

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
	e.outputs = append(e.outputs, o)
}

// Start initialises every plugin (outputs first, so nothing is emitted before it can be
// delivered) and starts inputs, output workers and the flush timer. If a plugin fails to
// initialise, those already initialised are closed and the error names the instance.
func (e *Engine) Start(ctx context.Context) error {
	if !e.state.CompareAndSwap(stateNew, stateRunning) {
		return errors.New("pipeline: engine already started")
	}
	var inited []any
	fail := func(kind, name string, sec *config.Section, err error) error {
		if e.store != nil {
			_ = e.store.Close()
		}
		for i := len(inited) - 1; i >= 0; i-- {
			if c, ok := inited[i].(Closer); ok {
				_ = c.Close(ctx)
			}
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
			if err := i.Init(ctx, Env{Name: o.name, Logger: o.log}); err != nil {
				return fail("output", o.name, o.sec, err)
			}
		}
		inited = append(inited, o.out)
	}
	for _, f := range e.filters {
		if i, ok := f.f.(Initializer); ok {
			if err := i.Init(ctx, Env{Name: f.name, Logger: f.log, Emitter: f.emitter}); err != nil {
				return fail("filter", f.name, f.sec, err)
			}
		}
		inited = append(inited, f.f)
	}
	for _, in := range e.inputs {
		if i, ok := in.in.(Initializer); ok {
			if err := i.Init(ctx, Env{Name: in.name, Tag: in.tag, Logger: in.log}); err != nil {
				return fail("input", in.name, in.sec, err)
			}
		}
		inited = append(inited, in.in)
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
	if e.store != nil {
		e.loadBacklog()
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
		for _, c := range sealed {
			e.dispatch(c)
		}
	}
}

// Stop shuts the engine down: inputs stop, open chunks are sealed, outputs get until the
// grace period (or ctx's deadline, whichever is first) to deliver, then they are stopped
// and plugins closed. Chunks still undelivered are returned: a reload hands them to the
// next engine (Adopt); otherwise the caller reports them lost.
func (e *Engine) Stop(ctx context.Context) []*Chunk {
	if !e.state.CompareAndSwap(stateRunning, stateStopping) {
		return nil
	}
	// Wake emitters blocked by backpressure: they return ErrStopped.
	for _, in := range e.inputs {
		in.mu.Lock()
		in.cond.Broadcast()
		in.mu.Unlock()
	}
	e.inCancel()
	e.inWG.Wait()
	close(e.tickStop)
	e.tickWG.Wait()
	e.FlushAll()

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
	for _, in := range e.inputs {
		closePlugin(ctx, in.in, in.log)
	}
	for _, f := range e.filters {
		closePlugin(ctx, f.f, f.log)
	}
	for _, o := range e.outputs {
		closePlugin(ctx, o.out, o.log)
	}
	e.state.Store(stateStopped)

	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	left := make([]*Chunk, 0, len(e.live))
	kept, keptRecords := 0, 0
	for c := range e.live {
		if c.file != nil {
			// On disk: the next engine on this storage.path (a reload, or the next start)
			// loads it with the outputs that still owe it.
			kept++
			keptRecords += c.Records
			continue
		}
		left = append(left, &Chunk{Tag: c.Tag, Data: c.Data, Records: c.Records})
	}
	e.live = map[*chunk]struct{}{}
	if kept > 0 {
		e.log.Info("undelivered chunks kept in storage for the next start", "chunks", kept, "records", keptRecords, "path", e.store.Dir())
	}
	if e.store != nil {
		_ = e.store.Close()
		e.log.Info("storage closed", "fsyncs", e.store.Fsyncs())
	}
	return left
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
func (e *Engine) Adopt(chunks []*Chunk) (unrouted []*Chunk) {
	for _, c := range chunks {
		if len(e.route(c.Tag).outputs) == 0 {
			unrouted = append(unrouted, c)
			continue
		}
		e.dispatch(&chunk{Chunk: *c})
	}
	return unrouted
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

// chunk is a Chunk plus its bookkeeping.
type chunk struct {
	Chunk
	in      *inputInst // nil for adopted and backlog chunks
	pending atomic.Int32
	seq     uint64 // dispatch order
	mem     int64  // bytes counted in in.buffered, given back at release

	// Filesystem chunks only.
	file *storage.File
	up   bool // sealed and held in memory, counted in Engine.upChunks
	down bool // Data is not in memory: each flush reads it from file
	e    *Engine
}

func (c *chunk) release() {
	if c.in != nil && c.mem != 0 {
		c.in.release(c.mem)
	}
	if c.file != nil {
		if c.up {
			c.e.upChunks.Add(-1)
		}
		if err := c.file.Remove(); err != nil {
			c.e.log.Warn("storage: cannot remove a delivered chunk", "err", err)
		}
	}
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
// storage, whether a chunk write failed (disk full) in the last second.
func (in *inputInst) Paused() bool {
	in.mu.Lock()
	p := in.pausedLocked()
	var sealed []*chunk
	// An input that asks before emitting (a listener answering 503, a reader that stops
	// reading) is paused and resumed here, as one blocked in Emit is in appendEntries:
	// counted, logged, and its open chunks handed to the outputs at once.
	switch {
	case p && !in.fs && !in.paused && in.e.state.Load() < stateStopping:
		in.paused = true
		in.pauses.Add(1)
		in.log.Info("paused: mem_buf_limit reached", "buffered", in.buffered, "limit", in.limit)
		sealed = in.sealAllLocked()
	case !p && in.paused:
		in.paused = false
		in.log.Info("resumed", "buffered", in.buffered)
	}
	in.mu.Unlock()
	for _, c := range sealed {
		in.e.dispatch(c)
	}
	return p
}

// storagePause is how long a filesystem input reports Paused after a failed write.
const storagePause = time.Second

func (in *inputInst) pausedLocked() bool {
	if in.fs {
		at := in.storageErrAt.Load()
		return at != 0 && time.Since(time.Unix(0, at)) < storagePause
	}
	return in.limit > 0 && in.buffered >= in.limit
}

// Emit runs the filters for tag on ev and appends it to the tag's open chunk.
func (in *inputInst) Emit(tag string, ev event.Event) error {
	if tag == "" {
		tag = in.tag
	}
	in.records.Add(1)
	if ev.Time.IsZero() {
		ev.Time = time.Now() // before the filters: they may read or copy the time
	}
	r := in.e.route(tag)
	for _, f := range r.filters {
		if f.apply(tag, &ev) == Drop {
			return nil
		}
	}
	if len(r.outputs) == 0 {
		in.e.noRoute(tag)
		return nil
	}
	return in.appendEntries(tag, 1, 0, func(dst []byte) ([]byte, error) { return event.AppendEntry(dst, &ev) })
}

// EmitRaw appends n encoded entries. When a filter applies to tag they are decoded,
// filtered and encoded again; otherwise they go into the chunk as they are.
func (in *inputInst) EmitRaw(tag string, entries []byte, n int) error {
	if tag == "" {
		tag = in.tag
	}
	r := in.e.route(tag)
	if len(r.filters) > 0 {
		// Entries skips a damaged entry and reports it after the good ones are in.
		return event.Entries(entries, func(ev event.Event) error { return in.Emit(tag, ev) })
	}
	in.records.Add(uint64(n))
	if len(r.outputs) == 0 {
		in.e.noRoute(tag)
		return nil
	}
	return in.appendEntries(tag, n, len(entries), func(dst []byte) ([]byte, error) { return append(dst, entries...), nil })
}

// appendEntries waits while the input is over its limit, then appends under the lock.
// size is how many bytes enc will add, when known (0: a single record, small).
func (in *inputInst) appendEntries(tag string, n, size int, enc func([]byte) ([]byte, error)) error {
	if in.fs {
		return in.appendFile(tag, n, enc)
	}
	in.mu.Lock()
	var sealed []*chunk
	for in.limit > 0 && in.buffered >= in.limit {
		if in.e.state.Load() >= stateStopping {
			in.mu.Unlock()
			return ErrStopped
		}
		if !in.paused {
			in.paused = true
			in.pauses.Add(1)
			in.log.Info("paused: mem_buf_limit reached", "buffered", in.buffered, "limit", in.limit)
			// Hand what is open to the outputs now rather than at the next flush tick:
			// delivering it is what frees the space.
			sealed = in.sealAllLocked()
			if len(sealed) > 0 {
				in.mu.Unlock()
				for _, c := range sealed {
					in.e.dispatch(c)
				}
				in.mu.Lock()
				continue
			}
		}
		in.cond.Wait()
	}
	if in.paused {
		in.paused = false
		in.log.Info("resumed", "buffered", in.buffered)
	}
	c := in.open[tag]
	if c == nil {
		c = &chunk{Chunk: Chunk{Tag: tag}, in: in}
		in.open[tag] = c
	}
	c.Data = growChunk(c.Data, size, in.e.opts.ChunkLimit)
	before := len(c.Data)
	data, err := enc(c.Data)
	if err != nil {
		c.Data = data[:before]
		in.mu.Unlock()
		return fmt.Errorf("pipeline: encode record for %q: %w", tag, err)
	}
	c.Data = data
	c.Records += n
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

// filterInst is a configured filter.
type filterInst struct {
	name    string
	plugin  string
	f       Filter
	emitter Emitter // for a Reemitter
	sec     *config.Section
	match   matcher
	log     *slog.Logger

	records atomic.Uint64
	dropped atomic.Uint64
	errors  atomic.Uint64
	logged  atomic.Uint64
}

func (f *filterInst) apply(tag string, ev *event.Event) Verdict {
	f.records.Add(1)
	v, err := f.f.Filter(tag, ev)
	if err != nil {
		// A filter that cannot process a record lets it through unchanged, as Fluent Bit
		// does: losing the record would be worse than not filtering it.
		f.errors.Add(1)
		if n := f.logged.Add(1); n <= 10 || n%1000 == 0 {
			f.log.Warn("filter error; record passed through", "tag", tag, "err", err, "count", n)
		}
		return Keep
	}
	if v == Drop {
		f.dropped.Add(1)
	}
	return v
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
	ch := &c.Chunk
	if c.down {
		var ok bool
		if ch, ok = o.readBack(t); !ok {
			return
		}
	}
	err := o.out.Flush(ctx, ch)
	if err == nil {
		o.procRecords.Add(uint64(ch.Records))
		o.procBytes.Add(uint64(len(ch.Data)))
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
	o.errors.Add(1)
	if !IsRetry(err) {
		o.droppedRecords.Add(uint64(c.Records))
		o.log.Error("chunk cannot be delivered; dropped", "tag", c.Tag, "records", c.Records, "err", err)
		o.finish(t)
		return
	}
	t.attempts++
	if o.retryLimit >= 0 && t.attempts > o.retryLimit {
		// Release first, count after: whoever sees retries_failed go up (the monitoring
		// API, a test) then also sees the chunk's memory given back.
		records := c.Records
		o.log.Error("chunk dropped: retry_limit reached", "tag", c.Tag, "records", records, "retries", t.attempts-1, "err", err)
		o.finish(t)
		o.droppedRecords.Add(uint64(records))
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
