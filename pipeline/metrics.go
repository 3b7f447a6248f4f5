package pipeline

import "time"

// InputMetrics are one input instance's counters. Field names follow Fluent Bit's
// /api/v1/metrics JSON.
type InputMetrics struct {
	Name     string `json:"-"`
	Plugin   string `json:"-"`
	Records  uint64 `json:"records"`
	Bytes    uint64 `json:"bytes"`
	Buffered int64  `json:"-"` // bytes held now (open chunks and chunks owed to outputs)
	Limit    int64  `json:"-"` // mem_buf_limit; <= 0 unlimited
	Paused   bool   `json:"-"`
	Pauses   uint64 `json:"-"` // times the input was paused by backpressure

	// Chunks this input holds: open ones and those some output still owes.
	Chunks          int   `json:"-"`
	ChunksUp        int   `json:"-"` // in memory
	ChunksDown      int   `json:"-"` // on disk only (filesystem storage)
	ChunksBusy      int   `json:"-"` // being flushed now
	ChunksBusyBytes int64 `json:"-"` // bytes of the busy chunks held in memory
}

// FilterMetrics are one filter instance's counters.
type FilterMetrics struct {
	Name        string `json:"-"`
	Plugin      string `json:"-"`
	DropRecords uint64 `json:"drop_records"`
	AddRecords  uint64 `json:"add_records"`
	Records     uint64 `json:"records"`
	Errors      uint64 `json:"-"`
}

// OutputMetrics are one output instance's counters.
type OutputMetrics struct {
	Name           string `json:"-"`
	Plugin         string `json:"-"`
	ProcRecords    uint64 `json:"proc_records"`
	ProcBytes      uint64 `json:"proc_bytes"`
	Errors         uint64 `json:"errors"`
	Retries        uint64 `json:"retries"`
	RetriesFailed  uint64 `json:"retries_failed"`
	DroppedRecords uint64 `json:"dropped_records"`
	RetriedRecords uint64 `json:"retried_records"`
	// RejectedChunks counts the chunks given up on (a permanent error from Flush, or
	// retry_limit reached); RejectedKept those of them kept by storage.keep.rejected.
	RejectedChunks uint64 `json:"-"`
	RejectedKept   uint64 `json:"-"`
	Queued         int    `json:"-"` // chunks waiting for a worker or a retry

	Routes      []RouteMetrics   `json:"-"` // deliveries per input, in first-delivery order
	TotalLimit  int64            `json:"-"` // storage.total_limit_size (0: none)
	Owed        int64            `json:"-"` // bytes of filesystem chunks owed, under TotalLimit
	Connections *ConnectionStats `json:"-"` // nil unless the output is a ConnectionReporter
}

// Metrics is a snapshot of every instance's counters, in configuration order.
type Metrics struct {
	Inputs  []InputMetrics
	Filters []FilterMetrics
	Outputs []OutputMetrics
	Chunks  ChunkCounts // every chunk open or owed, memory and filesystem
	// Memory is the process's memory budget (service memory_limit); zero when off.
	Memory MemoryMetrics
}

// MemoryMetrics are the process's memory budget: its size, what is reserved from it now
// and the time spent waiting for room in it (every waiter's time summed).
type MemoryMetrics struct {
	Limit  int64 // bytes; 0: no budget (memory_limit off)
	Used   int64 // bytes reserved now
	Waited time.Duration
	Waits  int64 // reservations that had to wait
}

// Metrics returns a snapshot of the counters. It is cheap and safe to call at any time.
func (e *Engine) Metrics() Metrics {
	// Sized up front: the monitor reads this every second, and growing by append made
	// most of an idle agent's garbage after the inputs' own.
	var m Metrics
	if n := len(e.inputs); n > 0 {
		m.Inputs = make([]InputMetrics, 0, n)
	}
	if n := len(e.filters); n > 0 {
		m.Filters = make([]FilterMetrics, 0, n)
	}
	if n := len(e.outputs); n > 0 {
		m.Outputs = make([]OutputMetrics, 0, n)
	}
	for _, in := range e.inputs {
		in.mu.Lock()
		buffered, paused := in.buffered, in.pausedLocked()
		in.mu.Unlock()
		m.Inputs = append(m.Inputs, InputMetrics{
			Name: in.name, Plugin: in.plugin, Records: in.records.Load(), Bytes: in.bytes.Load(),
			Buffered: buffered, Limit: in.limit, Paused: paused, Pauses: in.pauses.Load(),
		})
	}
	for _, f := range e.filters {
		m.Filters = append(m.Filters, FilterMetrics{
			Name: f.name, Plugin: f.plugin, DropRecords: f.dropped.Load(),
			Records: f.records.Load(), Errors: f.errors.Load(),
		})
	}
	for _, o := range e.outputs {
		o.mu.Lock()
		queued := len(o.queue) + len(o.retrying)
		o.mu.Unlock()
		om := OutputMetrics{
			Name: o.name, Plugin: o.plugin, ProcRecords: o.procRecords.Load(), ProcBytes: o.procBytes.Load(),
			Errors: o.errors.Load(), Retries: o.retries.Load(), RetriesFailed: o.retriesFailed.Load(),
			DroppedRecords: o.droppedRecords.Load(), RetriedRecords: o.retriedRecords.Load(), Queued: queued,
			RejectedChunks: o.rejectedChunks.Load(), RejectedKept: o.rejectedKept.Load(),
			Routes: o.routeMetrics(),
		}
		om.TotalLimit, om.Owed = o.capacityPercent()
		if cr, ok := o.out.(ConnectionReporter); ok {
			total, busy := cr.Connections()
			om.Connections = &ConnectionStats{Total: total, Busy: busy}
		}
		m.Outputs = append(m.Outputs, om)
	}
	m.Chunks = e.chunkCounts(&m)
	if b := e.opts.Budget; b != nil {
		m.Memory = MemoryMetrics{Limit: b.Limit(), Used: b.Used(), Waited: b.Waited(), Waits: b.Waits()}
	}
	return m
}
