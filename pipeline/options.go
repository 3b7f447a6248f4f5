package pipeline

import (
	"log/slog"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
)

// This file holds the engine's settings: its defaults, Options (the service section) and
// the specs of the input, filter and output instances added to an engine.

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
	// KeepRejected (storage.keep.rejected) keeps each chunk an output gives up on in
	// RejectedPath (storage.rejected.path, default "rejected"; relative to Path), see
	// rejected.go.
	KeepRejected bool
	RejectedPath string
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
	// Exit is handed to inputs in Env.Exit: how one asks the program to exit with a code.
	Exit func(code int)
	// Budget is the process's memory budget (service.memory_limit), shared by every
	// engine of a process across reloads; nil is off (unlimited). Input chunk buffers are
	// reserved from it (chunk.go) and plugins get it in Env.
	Budget *membudget.Budget
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
	// Processors run, in order, on this input's records before the filters and routing.
	Processors []FilterSpec
}

// TagMatcher decides whether a tag is routed to a filter or output (match_regex). A
// *regexp.Regexp is one; configurations get Fluent Bit's Onigmo syntax (internal/regex).
type TagMatcher interface {
	MatchString(tag string) bool
}

// FilterSpec describes one filter instance.
type FilterSpec struct {
	Plugin     string
	Alias      string
	Match      string
	MatchRegex TagMatcher
	Filter     Filter
	Section    *config.Section
}

// OutputSpec describes one output instance.
type OutputSpec struct {
	Plugin     string
	Alias      string
	Match      string
	MatchRegex TagMatcher
	RetryLimit int // retries after the first attempt; RetryForever keeps trying
	Workers    int // concurrent flushes; default 1
	// TotalLimitSize caps the bytes of filesystem chunks this output owes
	// (storage.total_limit_size); when over, its oldest chunks are dropped. 0: no cap.
	TotalLimitSize int64
	Output         Output
	Section        *config.Section
	// Processors run, in order, on each chunk before this output's Flush only.
	Processors []FilterSpec
}
