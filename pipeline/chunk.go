package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/internal/offheap"

	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
)

// This file is the engine's chunk: a Chunk with the bookkeeping of who owes it, how its
// memory is given back, and how its buffer grows.

// chunk is a Chunk plus its bookkeeping.
type chunk struct {
	Chunk
	in      *inputInst // nil for adopted and backlog chunks
	pending atomic.Int32
	seq     uint64 // dispatch order
	mem     int64  // bytes counted in in.buffered, given back at release
	// reserved is cap(Data) as reserved from the memory budget (engine's bufPool): the
	// buffer goes back to the pool at release.
	reserved int64
	// region is the buffer bufPool allocated off the heap for this chunk (Data is a prefix
	// of it), nil when Data is heap memory; freed (or pooled) once, at release.
	region  []byte
	created time.Time    // when the first record went in (latency metric); zero if unknown
	busy    atomic.Int32 // flushes in progress (busy chunks metric)

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
	if c.reserved != 0 {
		e := c.e
		if c.in != nil {
			e = c.in.e
		}
		e.bufs.put(c)
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

// chunkCap is the capacity a chunk's buffer grows to when it needs need bytes and has
// oldCap, for a chunk sealed at limit bytes. It doubles from 4 KiB, and once a chunk is a
// quarter of the way to its limit it goes straight to the limit (plus an eighth, or the
// batch): append's own growth (×1.25 past 256 KiB) would copy a 2 MB chunk about eight
// times over, which was a third of the agent's CPU in forward pass-through.
func chunkCap(oldCap, need, limit int) int {
	newCap := max(2*oldCap, need, 4096)
	if newCap > limit/4 {
		newCap = max(need, limit+limit/8)
	}
	return newCap
}

// minPooled is the smallest buffer worth keeping for reuse.
const minPooled = 64 << 10

// bufPool is the engine's chunk buffers: each buffer is reserved from the memory budget
// before it is allocated (chunk.reserved is its capacity), and allocated off the Go heap
// (package offheap: its pages are given back to the kernel when the chunk is released,
// instead of waiting for a collection, and they do not swell the heap the collector paces
// itself by). A released chunk's buffer is kept for the next chunk that needs that much,
// so a busy input does not map (and fault in) a fresh 2 MB buffer per chunk. A pooled
// buffer keeps its reservation; the pool is small (two chunks' worth) and is drained
// whenever someone waits for the budget.
//
// A chunk's buffer is its own: Data shares it (Data = region[:len]) until an append
// outgrows it (a record larger than guessed), when Data moves to the heap and the region
// is freed at once.
type bufPool struct {
	budget   *membudget.Budget
	maxBytes int

	mu    sync.Mutex
	free  [][]byte
	bytes int
}

// grow gives c's buffer room for need bytes, reusing a pooled buffer or allocating one
// reserved from the budget (credit first: bytes the caller reserved already). It returns
// false, changing nothing, when the budget has no room.
func (p *bufPool) grow(c *chunk, need, limit int, credit *int64) bool {
	newCap := offheap.Size(chunkCap(cap(c.Data), need, limit))
	if nb := p.get(need); nb != nil {
		nb = append(nb[:0], c.Data...)
		p.freeRegion(c)
		p.budget.Release(c.reserved)
		c.Data, c.region, c.reserved = nb, nb, int64(cap(nb))
		return true
	}
	delta := int64(newCap) - c.reserved
	use := min(*credit, max(delta, 0))
	if delta-use > 0 && !p.budget.TryReserve(delta-use) {
		return false
	}
	*credit -= use
	nb := offheap.Alloc(newCap)
	nb = append(nb, c.Data...)
	p.freeRegion(c)
	c.Data, c.region, c.reserved = nb, nb, int64(newCap)
	if delta < 0 {
		p.budget.Release(-delta)
	}
	return true
}

// freeRegion unmaps c's own buffer, if it has one; its reservation is the caller's.
func (p *bufPool) freeRegion(c *chunk) {
	if c.region != nil {
		offheap.Free(c.region)
		c.region = nil
	}
}

// regrown counts a buffer append grew (beyond what grow gave it) against the budget,
// without waiting: the bytes are allocated already, on the heap. The chunk's own buffer,
// copied from by append, is freed.
func (p *bufPool) regrown(c *chunk, oldCap, newCap int) {
	p.freeRegion(c)
	p.budget.Overdraw(int64(newCap) - c.reserved)
	c.reserved = int64(newCap)
	_ = oldCap
}

// get takes the smallest pooled buffer that holds need bytes, with its reservation.
func (p *bufPool) get(need int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= need && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := p.free[best]
	p.free = append(p.free[:best], p.free[best+1:]...)
	p.bytes -= cap(b)
	return b
}

// put takes back a chunk's buffer: into the pool when it is worth keeping and fits,
// otherwise it is freed and its reservation given back.
func (p *bufPool) put(c *chunk) {
	b, r := c.region, c.reserved
	c.Data, c.region, c.reserved = nil, nil, 0
	if r == 0 {
		return
	}
	if b != nil && cap(b) >= minPooled {
		p.mu.Lock()
		if p.bytes+cap(b) <= p.maxBytes {
			p.free = append(p.free, b[:0])
			p.bytes += cap(b)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	if b != nil {
		offheap.Free(b)
	}
	p.budget.Release(r)
}

// drain empties the pool, freeing its buffers and giving their reservations back.
func (p *bufPool) drain() {
	p.mu.Lock()
	free := p.free
	n := p.bytes
	p.free, p.bytes = nil, 0
	p.mu.Unlock()
	for _, b := range free {
		offheap.Free(b)
	}
	p.budget.Release(int64(n))
}
