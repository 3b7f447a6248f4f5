// Package fluentbit is the agent as a Go library: build it from a Fluent Bit configuration
// (YAML or classic) or from code, push records into it from your own program, and plug in
// your own inputs, filters and outputs next to the built-in ones.
//
// An Agent owns one pipeline engine. Start runs it, Push feeds it records (as Fluent Bit's
// lib input does), Reload swaps in a new configuration without losing buffered records, and
// Stop flushes what is buffered within the grace period. The package registers no plugin by
// itself: import the plugin packages you need (or plugins/all for every one) for their
// registration side effects.
package fluentbit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/handoff"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/internal/offheap"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Version is the agent's version, stamped at build time with
// -ldflags "-X github.com/fluentbit-go/fluentbit-go.Version=...".
var Version = "0.1.0-dev"

// Service holds the [SERVICE] section's keys. Keys Fluent Bit has that only matter to
// features still to come are accepted (so its configs load) and listed in the README.
type Service struct {
	Flush         time.Duration `conf:"flush"`
	Grace         time.Duration `conf:"grace"`
	LogLevel      string        `conf:"log_level"`
	LogFile       string        `conf:"log_file"`
	Daemon        bool          `conf:"daemon"`
	SchedulerBase time.Duration `conf:"scheduler.base"`
	SchedulerCap  time.Duration `conf:"scheduler.cap"`
	HotReload     bool          `conf:"hot_reload"`

	HTTPServer          bool   `conf:"http_server"`
	HTTPListen          string `conf:"http_listen"`
	HTTPPort            int    `conf:"http_port"`
	HealthCheck         bool   `conf:"health_check"`
	HCErrorsCount       int    `conf:"hc_errors_count"`
	HCRetryFailureCount int    `conf:"hc_retry_failure_count"`
	HCPeriod            int    `conf:"hc_period"`

	ParsersFile []string `conf:"parsers_file"`
	PluginsFile string   `conf:"plugins_file"`
	StreamsFile string   `conf:"streams_file"`

	StoragePath             string      `conf:"storage.path"`
	StorageSync             string      `conf:"storage.sync"`
	StorageChecksum         bool        `conf:"storage.checksum"`
	StorageMetrics          bool        `conf:"storage.metrics"`
	StorageBacklogMemLimit  config.Size `conf:"storage.backlog.mem_limit"`
	StorageMaxChunksUp      int         `conf:"storage.max_chunks_up"`
	StorageDeleteIrrecover  bool        `conf:"storage.delete_irrecoverable_chunks"`
	CoroStackSize           int         `conf:"coro_stack_size"`
	StorageInherit          bool        `conf:"storage.inherit"`
	StorageTrimFiles        bool        `conf:"storage.trim_files"`
	StorageBacklogFlushOnSh bool        `conf:"storage.backlog.flush_on_shutdown"`
	StorageKeepRejected     bool        `conf:"storage.keep.rejected"`
	StorageRejectedPath     string      `conf:"storage.rejected.path"`

	// MemoryLimit is the whole process's memory budget (memory_limit, a size or off;
	// the daemon's default is DaemonMemoryLimit, the library's off). See docs/memory.md.
	MemoryLimit MemoryLimit `conf:"memory_limit"`
}

// MemoryLimit is a memory_limit value in bytes; 0 is off (no limit).
type MemoryLimit int64

// DaemonMemoryLimit is the daemon's memory_limit when the configuration gives none.
const DaemonMemoryLimit = "48M"

// minMemoryLimit is the smallest memory_limit accepted: the runtime and a few chunks.
const minMemoryLimit = 8_000_000

// UnmarshalConf reads a size ("48M") or off.
func (m *MemoryLimit) UnmarshalConf(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "false", "no", "0", "unlimited":
		*m = 0
		return nil
	}
	n, err := config.ParseSize(s)
	if err != nil {
		return fmt.Errorf("want a size (48M) or off: %w", err)
	}
	if n < minMemoryLimit {
		return fmt.Errorf("want at least 8M (or off)")
	}
	*m = MemoryLimit(n)
	return nil
}

// BufferBudget is the part of the memory limit the buffers may reserve (three quarters:
// the rest is the runtime, goroutines, small per-record values and the garbage the
// collector has not yet freed).
func (m MemoryLimit) BufferBudget() int64 { return int64(m) / 4 * 3 }

// DefaultService returns the service settings used when a key is not given.
func DefaultService() Service {
	return Service{
		Flush:         pipeline.DefaultFlush,
		Grace:         pipeline.DefaultGrace,
		LogLevel:      "info",
		SchedulerBase: pipeline.DefaultSchedulerBase,
		SchedulerCap:  pipeline.DefaultSchedulerCap,
		HTTPListen:    "0.0.0.0",
		HTTPPort:      2020,
		HCErrorsCount: 5, HCRetryFailureCount: 5, HCPeriod: 60,
		StorageSync:            pipeline.SyncNormal,
		StorageMaxChunksUp:     pipeline.DefaultMaxChunksUp,
		StorageBacklogMemLimit: pipeline.DefaultBacklogMemLimit,
	}
}

// ParseService decodes cfg's service section over the defaults.
func ParseService(cfg *config.Config) (Service, error) {
	s := DefaultService()
	props, err := serviceProps(cfg)
	if err != nil {
		return s, err
	}
	// Fluent Bit's keys are suggested for a typo too ("dns.mod"), though they do nothing.
	if err := config.DecodeAlso(props, &s, config.FluentBitKeys("service", "")); err != nil {
		return s, err
	}
	if err := checkPlugins(cfg); err != nil {
		return s, err
	}
	if p, ok := cfg.Service.Get("daemon"); ok && s.Daemon {
		return s, config.Errorf(p, "daemon mode is not supported: run under systemd (packaging/) or with &")
	}
	if p, ok := cfg.Service.Get("storage.sync"); ok {
		switch v := strings.ToLower(strings.TrimSpace(p.Value)); v {
		case pipeline.SyncNormal, pipeline.SyncFull:
			s.StorageSync = v
		default:
			return s, config.Errorf(p, "bad storage.sync %q: want normal or full", p.Value)
		}
	}
	if p, ok := cfg.Service.Get("storage.keep.rejected"); ok && s.StorageKeepRejected && s.StoragePath == "" && !filepath.IsAbs(s.StorageRejectedPath) {
		return s, config.Errorf(p, "storage.keep.rejected needs storage.path (or an absolute storage.rejected.path): the directory rejected chunks are kept in")
	}
	if p, ok := cfg.Service.Get("storage.max_chunks_up"); ok && s.StorageMaxChunksUp < 1 {
		return s, config.Errorf(p, "bad storage.max_chunks_up %q: want 1 or more", p.Value)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"flush", s.Flush}, {"grace", s.Grace}, {"scheduler.base", s.SchedulerBase}, {"scheduler.cap", s.SchedulerCap}} {
		if p, ok := cfg.Service.Get(d.key); ok && d.v <= 0 {
			return s, config.Errorf(p, "bad %s %q: want more than 0 seconds", d.key, p.Value)
		}
	}
	if p, ok := cfg.Service.Get("scheduler.cap"); ok && s.SchedulerCap < s.SchedulerBase {
		return s, config.Errorf(p, "scheduler.cap %v is below scheduler.base %v: no retry could wait that little", s.SchedulerCap, s.SchedulerBase)
	}
	if p, ok := cfg.Service.Get("http_port"); ok && (s.HTTPPort < 0 || s.HTTPPort > 65535) {
		return s, config.Errorf(p, "bad http_port %d: want 0 to 65535", s.HTTPPort)
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"hc_errors_count", s.HCErrorsCount}, {"hc_retry_failure_count", s.HCRetryFailureCount}, {"hc_period", s.HCPeriod}} {
		if p, ok := cfg.Service.Get(n.key); ok && n.v < 1 {
			return s, config.Errorf(p, "bad %s %q: want 1 or more", n.key, p.Value)
		}
	}
	if p, ok := cfg.Service.Get("log_level"); ok {
		if _, err := ParseLogLevel(p.Value); err != nil {
			return s, config.Errorf(p, "%v", err)
		}
	}
	return s, nil
}

// serviceNoEffect are service keys Service decodes (so their values are checked) that
// change nothing here, with what happens instead.
var serviceNoEffect = map[string]string{
	"coro_stack_size":                   "no coroutines (goroutines grow their stacks)",
	"streams_file":                      "no stream processor",
	"storage.inherit":                   "set storage.type on each input",
	"storage.trim_files":                "chunk files are deleted once delivered",
	"storage.backlog.flush_on_shutdown": "the backlog is delivered at the next start instead",
}

// serviceProps returns the service properties Service decodes: a Fluent Bit key this
// agent does not act on is left out with one warning in cfg.Warnings (or refused when
// ignoring it would change what the agent promises); a key neither knows is kept, so
// Decode reports it with a suggestion.
func serviceProps(cfg *config.Config) ([]config.Property, error) {
	ours := map[string]bool{}
	for _, k := range config.KnownKeys(Service{}) {
		ours[k] = true
	}
	var props []config.Property
	warned := map[string]bool{}
	for _, p := range cfg.Service.Props {
		k := strings.ToLower(strings.TrimSpace(p.Key))
		if note, ok := serviceNoEffect[k]; ok && !warned[k] {
			warned[k] = true
			cfg.AddWarning(config.Errorf(p, "service: a Fluent Bit key, accepted, no effect here: %s", note))
		}
		if ours[k] || !config.FluentBitKnows("service", "", k) {
			props = append(props, p)
			continue
		}
		w, refused := config.FluentBitKeyWarning("service", "", p)
		if refused != nil {
			return nil, refused
		}
		if !warned[k] {
			warned[k] = true
			cfg.AddWarning(w)
		}
	}
	return props, nil
}

// checkPlugins accepts a plugins_file, a classic [PLUGINS] section or a YAML plugins list
// only when it names no plugin (Fluent Bit's stock plugins.conf holds an empty [PLUGINS]):
// external .so plugins cannot be loaded, Go plugins are registered with the library.
func checkPlugins(cfg *config.Config) error {
	const why = "external plugins (.so) cannot be loaded: register Go plugins with the library instead"
	for _, o := range cfg.Other {
		if o.Kind == "plugins" && len(o.Props) > 0 {
			return config.Errorf(o.Props[0], "%s", why)
		}
	}
	p, ok := cfg.Service.Get("plugins_file")
	if !ok || strings.TrimSpace(p.Value) == "" {
		return nil
	}
	path := p.Value
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.File), path)
	}
	pc, err := config.Load(path)
	if err != nil {
		return config.Errorf(p, "plugins_file: %v", err)
	}
	if len(pc.Inputs)+len(pc.Filters)+len(pc.Outputs)+len(pc.Parsers) > 0 || len(pc.Service.Props) > 0 {
		return config.Errorf(p, "plugins_file %s: want only a [PLUGINS] section", p.Value)
	}
	for _, o := range pc.Other {
		if o.Kind != "plugins" {
			return config.SectionErrorf(o, "plugins_file %s: want only a [PLUGINS] section", p.Value)
		}
		if len(o.Props) > 0 {
			return config.Errorf(o.Props[0], "%s", why)
		}
	}
	return nil
}

// storageOptions maps the storage.* keys to the engine's options.
func (s Service) storageOptions() pipeline.StorageOptions {
	return pipeline.StorageOptions{
		Path: s.StoragePath, Sync: s.StorageSync, Checksum: s.StorageChecksum,
		MaxChunksUp: s.StorageMaxChunksUp, BacklogMemLimit: int64(s.StorageBacklogMemLimit),
		DeleteIrrecoverable: s.StorageDeleteIrrecover,
		KeepRejected:        s.StorageKeepRejected, RejectedPath: s.StorageRejectedPath,
	}
}

// ParseLogLevel maps Fluent Bit's log levels to slog's.
func ParseLogLevel(v string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off":
		return slog.LevelError + 100, nil
	case "error":
		return slog.LevelError, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "debug", "trace":
		return slog.LevelDebug, nil
	}
	return 0, fmt.Errorf("bad log_level %q: want off, error, warn, info, debug or trace", v)
}

// Re-exported plugin types, so a firmware service can write plugins importing only this
// package and event.
type (
	Input    = pipeline.Input
	Filter   = pipeline.Filter
	Output   = pipeline.Output
	Emitter  = pipeline.Emitter
	Chunk    = pipeline.Chunk
	Verdict  = pipeline.Verdict
	Env      = pipeline.Env
	Metrics  = pipeline.Metrics
	Event    = event.Event
	Map      = event.Map
	Section  = config.Section
	Property = config.Property
)

// Verdicts a Filter returns.
const (
	Keep = pipeline.Keep
	Drop = pipeline.Drop
)

// RegisterInput registers an input type under name so configurations can use it.
func RegisterInput(name string, factory func() Input) { pipeline.RegisterInput(name, factory) }

// RegisterFilter registers a filter type under name.
func RegisterFilter(name string, factory func() Filter) { pipeline.RegisterFilter(name, factory) }

// RegisterOutput registers an output type under name.
func RegisterOutput(name string, factory func() Output) { pipeline.RegisterOutput(name, factory) }

// Retry marks an output error as temporary: the chunk is retried with backoff.
func Retry(err error) error { return pipeline.Retry(err) }

// Option changes how an Agent is built.
type Option func(*options)

type options struct {
	noPush      bool
	logger      *slog.Logger
	libTag      string
	libMemLimit int64
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithPushLimit sets the mem_buf_limit of the records pushed with Push (default 16M):
// Push blocks while that many bytes are buffered and not yet delivered.
func WithPushLimit(bytes int64) Option { return func(o *options) { o.libMemLimit = bytes } }

// WithoutPush leaves out the input behind Push (the daemon has no use for it, and it would
// show in the metrics).
func WithoutPush() Option { return func(o *options) { o.noPush = true } }

// Agent is a running pipeline built from a configuration.
type Agent struct {
	opts options

	mu      sync.Mutex
	cfg     *config.Config
	service Service
	eng     *pipeline.Engine
	current atomic.Pointer[pipeline.Engine] // eng, for Metrics without waiting on mu (held through a Reload)
	reloads atomic.Int64                    // successful Reloads
	lib     *libInput
	started bool
	ctx     context.Context

	budgetMu    sync.Mutex
	budget      *membudget.Budget // memory_limit's buffer budget, kept across reloads
	memLimitSet bool              // debug.SetMemoryLimit was called (under mu)

	// Pipelines replaced by a Reload deliver what they hold in the background (up to
	// grace) and hand the rest to the current one.
	drains   sync.WaitGroup
	totalsMu sync.Mutex
	draining map[*pipeline.Engine]struct{} // replaced, still delivering
	retired  RunTotals                     // counts of the pipelines done

	exitC chan int // the first exit code an input asked for (ExitRequested)
}

// ExitRequested delivers the exit code an input asked the program to exit with (the exec
// input's exit_after_oneshot), once. The daemon then stops the agent as on SIGTERM and
// exits with the code; a program embedding the agent decides for itself.
func (a *Agent) ExitRequested() <-chan int { return a.exitC }

// requestExit is the engines' Options.Exit: the first request is kept, later ones are
// dropped.
func (a *Agent) requestExit(code int) {
	select {
	case a.exitC <- code:
	default:
	}
}

// RunTotals are record counts over an agent's whole run: every pipeline it has had,
// the current one and those Reloads replaced.
type RunTotals struct {
	RecordsIn      uint64 // records the inputs took in
	RecordsOut     uint64 // records the outputs delivered
	RecordsDropped uint64 // records the outputs gave up on
}

func (t *RunTotals) add(m Metrics) {
	for _, i := range m.Inputs {
		t.RecordsIn += i.Records
	}
	for _, o := range m.Outputs {
		t.RecordsOut += o.ProcRecords
		t.RecordsDropped += o.DroppedRecords
	}
}

// Totals returns the record counts of the whole run: unlike Metrics (the current
// pipeline, as the monitoring API shows it), they do not start again at a Reload.
func (a *Agent) Totals() RunTotals {
	a.totalsMu.Lock()
	t := a.retired
	for e := range a.draining {
		t.add(e.Metrics())
	}
	a.totalsMu.Unlock()
	if e := a.current.Load(); !a.isDraining(e) {
		t.add(e.Metrics())
	}
	return t
}

func (a *Agent) isDraining(e *pipeline.Engine) bool {
	a.totalsMu.Lock()
	defer a.totalsMu.Unlock()
	_, ok := a.draining[e]
	return ok
}

// New builds an agent from cfg: it checks every section and key (errors name the file,
// line and key) but starts nothing.
func New(cfg *config.Config, opts ...Option) (*Agent, error) {
	a := &Agent{opts: options{logger: slog.Default(), libTag: "lib"}, draining: map[*pipeline.Engine]struct{}{},
		exitC: make(chan int, 1)}
	for _, o := range opts {
		o(&a.opts)
	}
	eng, svc, lib, err := a.build(cfg)
	if err != nil {
		return nil, err
	}
	a.cfg, a.service, a.eng, a.lib = cfg, svc, eng, lib
	a.current.Store(a.eng)
	return a, nil
}

// NewFromFile loads a YAML or classic configuration file and builds an agent from it.
func NewFromFile(path string, opts ...Option) (*Agent, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return New(cfg, opts...)
}

// Check validates cfg as New does, without keeping anything.
func Check(cfg *config.Config) error {
	_, err := New(cfg, WithLogger(slog.New(slog.DiscardHandler)))
	return err
}

func (a *Agent) build(cfg *config.Config) (*pipeline.Engine, Service, *libInput, error) {
	svc, err := ParseService(cfg)
	if err != nil {
		return nil, svc, nil, err
	}
	eng := pipeline.NewEngine(pipeline.Options{
		Flush: svc.Flush, Grace: svc.Grace,
		SchedulerBase: svc.SchedulerBase, SchedulerCap: svc.SchedulerCap,
		Storage: svc.storageOptions(),
		Logger:  a.opts.logger,
		Exit:    a.requestExit,
		Budget:  a.budgetFor(svc.MemoryLimit),
	})
	// Parsers first, so a broken parser definition is reported even when no plugin names
	// it. Plugins that take `parser` build their own set from cfg (they are ConfigAware):
	// nothing here is shared with another agent, a Check or a failed Reload.
	ps, err := parser.Load(cfg)
	if err != nil {
		return nil, svc, nil, err
	}
	for _, w := range ps.Warnings() {
		a.opts.logger.Warn("parser: accepted as Fluent Bit does", "warning", w)
	}
	if err := eng.AddConfigured(cfg); err != nil {
		return nil, svc, nil, err
	}
	lib := &libInput{}
	if a.opts.noPush {
		return eng, svc, lib, nil
	}
	lib.emit = eng.AddInput(pipeline.InputSpec{Plugin: "lib", Tag: a.opts.libTag, MemBufLimit: a.opts.libMemLimit, Input: lib})
	return eng, svc, lib, nil
}

// budgetFor returns the process's memory budget for limit: the agent's one, its limit
// changed (a reload), so that chunks of a pipeline still delivering and those of the
// next one count against the same bytes; nil when limit is off.
func (a *Agent) budgetFor(limit MemoryLimit) *membudget.Budget {
	if limit <= 0 {
		return nil
	}
	a.budgetMu.Lock()
	defer a.budgetMu.Unlock()
	if a.budget == nil {
		a.budget = membudget.New(limit.BufferBudget())
	} else {
		a.budget.SetLimit(limit.BufferBudget())
	}
	return a.budget
}

// applyMemoryLimit sets Go's soft memory limit from memory_limit, so that the garbage
// collector runs harder as the heap nears it rather than letting it reach twice what is
// live: the limit less what the chunk buffers hold off the Go heap (package offheap
// keeps it so as they come and go); off gives back the runtime's default (no limit), if
// the agent had set one.
func (a *Agent) applyMemoryLimit(limit MemoryLimit) {
	switch {
	case limit > 0:
		offheap.SetLimit(int64(limit))
		a.memLimitSet = true
	case a.memLimitSet:
		offheap.SetLimit(0)
		a.memLimitSet = false
	}
}

// MemoryBudget returns the process's memory budget (nil when memory_limit is off).
func (a *Agent) MemoryBudget() *membudget.Budget { return a.current.Load().Budget() }

// Service returns the service settings in force.
func (a *Agent) Service() Service {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.service
}

// Config returns the configuration in force.
func (a *Agent) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Start initialises the plugins and starts the pipeline. Plugins run until Stop, not until
// ctx is done: ctx bounds only the initialisation.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("fluentbit: agent already started")
	}
	if err := a.eng.Start(ctx); err != nil {
		return err
	}
	a.applyMemoryLimit(a.service.MemoryLimit)
	a.started = true
	a.ctx = context.WithoutCancel(ctx)
	return nil
}

// Push hands one record to the pipeline under tag, timestamped now. It runs the filters
// that match tag and returns once the record is buffered; it blocks while the pushed
// records' buffer is full (backpressure) and fails after Stop. The record's keys keep their
// order through filters and outputs; build it as a literal (event.Map{{"msg", "hi"}}), with
// Set, or from a Go map with event.FromMap (keys sorted).
func (a *Agent) Push(tag string, record event.Map) error {
	return a.PushEvent(tag, event.Event{Time: time.Now(), Record: record})
}

// PushEvent is Push with the event's own time and metadata.
func (a *Agent) PushEvent(tag string, ev event.Event) error {
	for {
		a.mu.Lock()
		em, started := a.lib.emit, a.started
		a.mu.Unlock()
		if !started {
			return errors.New("fluentbit: push before Start or after Stop")
		}
		if em == nil {
			return errors.New("fluentbit: agent built WithoutPush")
		}
		err := em.Emit(tag, ev)
		if !errors.Is(err, pipeline.ErrStopped) {
			return err
		}
		// A Reload stopped the engine under us: push to its successor, if there is one.
		a.mu.Lock()
		same := a.lib.emit == em
		a.mu.Unlock()
		if same {
			return err
		}
	}
}

// Reloads returns how many times Reload replaced the configuration.
func (a *Agent) Reloads() int { return int(a.reloads.Load()) }

// Metrics returns the counters of every plugin instance.
// It does not wait for a Reload in progress: until the new pipeline is in place it
// reports the one being replaced.
func (a *Agent) Metrics() Metrics {
	return a.current.Load().Metrics()
}

// StorageMetrics returns the filesystem storage's chunk counts (for the monitoring API).
func (a *Agent) StorageMetrics() pipeline.StorageMetrics {
	return a.current.Load().StorageMetrics()
}

// Stop stops the inputs, flushes what is buffered within the grace period (or until ctx is
// done) and closes the plugins. It returns an error reporting records that could not be
// delivered in time.
func (a *Agent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started {
		return nil
	}
	a.started = false
	// Pipelines a Reload replaced hand what they could not deliver to the current one
	// first (each within its grace), so that its Stop accounts for everything.
	a.drains.Wait()
	left := a.eng.Stop(ctx)
	if n := countRecords(left); n > 0 {
		a.opts.logger.Error("records not delivered at shutdown", "records", n, "chunks", len(left))
		return fmt.Errorf("fluentbit: %d records in %d chunks not delivered within the grace period", n, len(left))
	}
	return nil
}

// Reload builds an agent from cfg and swaps it in. The inputs keep accepting: the old
// pipeline stops taking records, the new one starts at once and takes over the listening
// sockets (no client is refused in between), while the old one delivers what it holds in
// the background, for up to its grace period, then hands what is left to the new one.
//
// If cfg is invalid nothing changes and the error says so. If the new pipeline cannot
// start (a port taken by another program, an output that fails to initialise), the
// previous configuration is started again in its place; if even that fails, the agent
// has no input until the next Reload, the old pipeline keeps delivering what it holds,
// and the error says all of this. No buffered record is dropped without a log line.
func (a *Agent) Reload(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	eng, svc, lib, err := a.build(cfg)
	if err != nil {
		return fmt.Errorf("fluentbit: reload: %w (the running configuration goes on)", err)
	}
	if !a.started {
		a.cfg, a.service, a.eng, a.lib = cfg, svc, eng, lib
		a.current.Store(a.eng)
		return nil
	}
	release := handoff.Hold() // listeners of the stopping inputs wait for the new ones
	defer release()
	old := a.eng
	old.StopInputs()
	eng.ShareStorage(old)
	if err := eng.Start(a.ctx); err != nil {
		back, _, backLib, berr := a.build(a.cfg)
		if berr == nil {
			back.ShareStorage(old)
			berr = back.Start(a.ctx)
		}
		if berr != nil {
			// old keeps its outputs running: Stop (or the next Reload) collects its chunks.
			a.opts.logger.Error("reload failed and the previous configuration could not be started again: "+
				"no input takes records until the next reload; the records buffered are still being delivered",
				"err", err, "restart_err", berr)
			return fmt.Errorf("fluentbit: reload: %w; the previous configuration could not be started again (%v): "+
				"no input takes records until the next reload", err, berr)
		}
		a.handOver(old, back)
		a.eng, a.lib = back, backLib
		a.current.Store(back)
		a.opts.logger.Error("reload failed; the previous configuration was started again", "err", err)
		return fmt.Errorf("fluentbit: reload: %w (the previous configuration was started again)", err)
	}
	a.handOver(old, eng)
	a.applyMemoryLimit(svc.MemoryLimit)
	a.cfg, a.service, a.eng, a.lib = cfg, svc, eng, lib
	a.current.Store(a.eng)
	a.reloads.Add(1)
	a.opts.logger.Info("configuration reloaded")
	return nil
}

// handOver lets old, whose inputs have stopped, deliver what it holds in the background
// within its grace period, then hands what is left to the pipeline current at that time
// (next, or a later one if reloads followed).
func (a *Agent) handOver(old, next *pipeline.Engine) {
	a.totalsMu.Lock()
	a.draining[old] = struct{}{}
	a.totalsMu.Unlock()
	a.drains.Add(1)
	go func() {
		defer a.drains.Done()
		left := old.Stop(a.ctx)
		carried, records := len(left), countRecords(left)
		for len(left) > 0 {
			cur := a.current.Load()
			if cur == old {
				cur = next // Reload has not stored next yet
			}
			un := cur.Adopt(left)
			if len(un) > 0 && cur.Stopped() && cur != a.current.Load() {
				left = un // cur was itself replaced meanwhile: try its successor
				continue
			}
			if len(un) > 0 {
				var mem []*pipeline.Chunk
				for _, c := range un {
					if !c.OnDisk() {
						mem = append(mem, c)
					}
				}
				if len(mem) > 0 {
					a.opts.logger.Warn("reload: no output of the new configuration matches these chunks; dropped",
						"chunks", len(mem), "records", countRecords(mem))
				}
				if n := len(un) - len(mem); n > 0 {
					a.opts.logger.Warn("reload: no output of the new configuration matches these chunks; kept on disk for a configuration that has one",
						"chunks", n, "records", countRecords(un)-countRecords(mem))
				}
			}
			break
		}
		a.totalsMu.Lock()
		delete(a.draining, old)
		a.retired.add(old.Metrics())
		a.totalsMu.Unlock()
		if carried > 0 {
			a.opts.logger.Info("reload: the previous pipeline handed over what it had not delivered",
				"chunks", carried, "records", records)
		}
	}()
}

func countRecords(cs []*pipeline.Chunk) int {
	n := 0
	for _, c := range cs {
		n += c.Records
	}
	return n
}

// libInput is the input behind Push: it runs nothing itself.
type libInput struct {
	emit pipeline.Emitter
}

func (l *libInput) Run(ctx context.Context, _ pipeline.Emitter) error {
	<-ctx.Done()
	return nil
}
