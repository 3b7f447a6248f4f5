package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
)

// This file is the engine's chunk: a Chunk with the bookkeeping of who owes it, how its
// memory is given back, and how its buffer grows.

// chunk is a Chunk plus its bookkeeping.
type chunk struct {
	Chunk
	in      *inputInst // nil for adopted and backlog chunks
	pending atomic.Int32
	seq     uint64       // dispatch order
	mem     int64        // bytes counted in in.buffered, given back at release
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
	if c.file != nil {
		if c.up {
			c.e.upChunks.Add(-1)
		}
		if err := c.file.Remove(); err != nil {
			c.e.log.Warn("storage: cannot remove a delivered chunk", "err", err)
		}
	}
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
