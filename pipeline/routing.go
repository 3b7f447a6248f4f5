package pipeline

import (
	"sync"
	"time"
)

// This file is the bookkeeping behind Fluent Bit's v2 routing, latency, chunk and
// connection metrics: what each output delivered from each input, how long a chunk took
// from creation to delivery, and how many chunks each input holds.

// LatencyBuckets are the upper bounds, in seconds, of fluentbit_output_latency_seconds
// (Fluent Bit's buckets).
var LatencyBuckets = []float64{0.5, 1, 1.5, 2.5, 5, 10, 20, 30}

// Histogram is a Prometheus histogram snapshot: Counts[i] is the number of observations
// at most Bounds[i] (cumulative), the last Count being +Inf.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	Count  uint64
}

// RouteMetrics is what one output delivered of one input's records.
type RouteMetrics struct {
	Input   string    // the input instance's name
	Records uint64    // records delivered (Fluent Bit's routing_logs_records_total)
	Bytes   uint64    // their bytes
	Latency Histogram // seconds from the chunk's creation to its delivery

	DropRecords uint64 // records given up (routing_logs_drop_records_total)
	DropBytes   uint64 // their bytes
}

// ConnectionReporter is implemented by outputs that hold network connections; the
// monitoring API serves their counts as fluentbit_output_upstream_*_connections.
type ConnectionReporter interface {
	// Connections returns the connections open now and, of those, the ones in use.
	Connections() (total, busy int)
}

// ConnectionStats are an output's connection counts.
type ConnectionStats struct{ Total, Busy int }

// routeStats is one (input, output) pair's counters.
type routeStats struct {
	records, bytes uint64
	dropRecords    uint64 // given up (routing_logs_drop_records_total)
	dropBytes      uint64
	buckets        []uint64 // per bucket (not cumulative), len(LatencyBuckets)+1
	sum            float64
}

// routes is an output's per-input delivery counters.
type routes struct {
	mu    sync.Mutex
	order []*inputInst // first delivery order, as Fluent Bit lists its label sets
	by    map[*inputInst]*routeStats
}

// routeLocked returns in's counters, made at first use.
func (o *outputInst) routeLocked(in *inputInst) *routeStats {
	if o.routes.by == nil {
		o.routes.by = map[*inputInst]*routeStats{}
	}
	r := o.routes.by[in]
	if r == nil {
		r = &routeStats{buckets: make([]uint64, len(LatencyBuckets)+1)}
		o.routes.by[in] = r
		o.routes.order = append(o.routes.order, in)
	}
	return r
}

// droppedRoute counts a chunk o gave up. Chunks without an input count only in the
// output's own counters.
func (o *outputInst) droppedRoute(c *chunk) {
	if c.in == nil {
		return
	}
	size := int64(len(c.Data))
	if size == 0 && c.file != nil {
		size = c.file.Size()
	}
	o.routes.mu.Lock()
	defer o.routes.mu.Unlock()
	r := o.routeLocked(c.in)
	r.dropRecords += uint64(c.Records)
	r.dropBytes += uint64(max(size, 0))
}

// delivered counts a chunk o delivered. Chunks without an input (handed over by a
// reload, or read back from storage at start) count only in the output's own counters.
func (o *outputInst) delivered(c *chunk, ch *Chunk) {
	if c.in == nil {
		return
	}
	o.routes.mu.Lock()
	defer o.routes.mu.Unlock()
	r := o.routeLocked(c.in)
	r.records += uint64(ch.Records)
	r.bytes += uint64(len(ch.Data))
	if !c.created.IsZero() {
		lat := time.Since(c.created).Seconds()
		i := 0
		for i < len(LatencyBuckets) && lat > LatencyBuckets[i] {
			i++
		}
		r.buckets[i]++
		r.sum += lat
	}
}

func (o *outputInst) routeMetrics() []RouteMetrics {
	o.routes.mu.Lock()
	defer o.routes.mu.Unlock()
	if len(o.routes.order) == 0 {
		return nil
	}
	out := make([]RouteMetrics, 0, len(o.routes.order))
	for _, in := range o.routes.order {
		r := o.routes.by[in]
		h := Histogram{Bounds: LatencyBuckets, Counts: make([]uint64, len(r.buckets)), Sum: r.sum}
		for i, n := range r.buckets {
			h.Count += n
			h.Counts[i] = h.Count
		}
		out = append(out, RouteMetrics{Input: in.name, Records: r.records, Bytes: r.bytes, Latency: h,
			DropRecords: r.dropRecords, DropBytes: r.dropBytes})
	}
	return out
}

// capacityPercent returns what Fluent Bit's chunk_available_capacity_percent is made of:
// storage.total_limit_size and the bytes owed under it.
func (o *outputInst) capacityPercent() (total, owed int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.totalLimit, o.owed
}

// chunkCounts fills each input's chunk counts and returns the engine's: open chunks
// (being appended to, in memory) and sealed chunks some output owes.
func (e *Engine) chunkCounts(m *Metrics) ChunkCounts {
	idx := make(map[*inputInst]*InputMetrics, len(e.inputs))
	for i, in := range e.inputs {
		idx[in] = &m.Inputs[i]
	}
	var cc ChunkCounts
	e.liveMu.Lock()
	for c := range e.live {
		cc.count(c)
		im := idx[c.in]
		if im == nil {
			continue
		}
		im.Chunks++
		if c.down {
			im.ChunksDown++
		} else {
			im.ChunksUp++
		}
		if c.busy.Load() > 0 {
			im.ChunksBusy++
			im.ChunksBusyBytes += int64(len(c.Data))
		}
	}
	e.liveMu.Unlock()
	for _, in := range e.inputs {
		in.mu.Lock()
		for _, c := range in.open {
			cc.count(c)
			if im := idx[in]; im != nil {
				im.Chunks++
				im.ChunksUp++
			}
		}
		in.mu.Unlock()
	}
	return cc
}

// ChunkCounts are the engine's chunks, open and owed (Fluent Bit's fluentbit_storage_*).
type ChunkCounts struct {
	Total  int // every chunk
	Mem    int // memory-only chunks
	FS     int // filesystem chunks
	FSUp   int // filesystem chunks held in memory
	FSDown int // filesystem chunks on disk only
}

func (cc *ChunkCounts) count(c *chunk) {
	cc.Total++
	if c.file == nil {
		cc.Mem++
		return
	}
	cc.FS++
	if c.down {
		cc.FSDown++
	} else {
		cc.FSUp++
	}
}
