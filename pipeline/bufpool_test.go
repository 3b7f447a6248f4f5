package pipeline

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
)

// benchEntries is 64 KiB of encoded entries, as the forward input hands them on.
func benchEntries(b *testing.B) ([]byte, int) {
	var out []byte
	n := 0
	for len(out) < 64<<10 {
		ev := rec(n)
		var err error
		if out, err = event.AppendEntry(out, &ev); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return out, n
}

// BenchmarkEmitRawChunks is forward pass-through into the buffer: 64 KiB batches of
// entries appended (EmitRaw) into 2 MB chunks that a null output releases at once. With
// the pool ("pooled") a released chunk's buffer is the next chunk's; "fresh" is the
// buffer allocated (and zeroed) anew for every chunk, as before the pool. SetBytes
// makes MB/s the buffer's throughput.
func BenchmarkEmitRawChunks(b *testing.B) {
	entries, n := benchEntries(b)
	for _, mode := range []string{"fresh", "pooled", "pooled+budget"} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{Flush: time.Second, Grace: 10 * time.Second}
			if mode == "pooled+budget" {
				opts.Budget = membudget.New(36 << 20)
			}
			e := NewEngine(opts)
			if mode == "fresh" {
				e.bufs.maxBytes = 0
			}
			em := e.AddInput(InputSpec{Plugin: "bench", MemBufLimit: 64 << 20, Input: idleInput{}})
			e.AddOutput(OutputSpec{Plugin: "null", Match: "*", Output: OutputFunc(func(context.Context, *Chunk) error { return nil })})
			if err := e.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(entries)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := em.EmitRaw("bench", entries, n); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			e.Stop(context.Background())
		})
	}
}

// A released chunk's buffer is reused by the next chunk: the pool keeps its reservation,
// gives it back when drained, and the budget is whole after Stop.
func TestChunkBuffersAreReused(t *testing.T) {
	opts := fastOpts()
	opts.ChunkLimit = 64 << 10
	opts.Budget = membudget.New(16 << 20)
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "a", Input: idleInput{}})
	e.AddOutput(OutputSpec{Plugin: "null", Match: "*", Output: OutputFunc(func(context.Context, *Chunk) error { return nil })})
	startEngine(t, e)
	big := make([]byte, 0, 70<<10)
	n := 0
	for len(big) < 66<<10 {
		ev := rec(n)
		big, _ = event.AppendEntry(big, &ev)
		n++
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	allocs := testing.AllocsPerRun(20, func() {
		if err := em.EmitRaw("app", big, n); err != nil { // one full chunk, dispatched
			t.Fatal(err)
		}
		e.waitIdle(t)
	})
	runtime.ReadMemStats(&ms)
	perChunk := (ms.TotalAlloc - before) / 21
	if allocs > 10 || perChunk > 16<<10 {
		t.Fatalf("%.0f allocations, %d bytes per 66 KiB chunk: buffers are not reused", allocs, perChunk)
	}
	e.Stop(context.Background())
	if u := opts.Budget.Used(); u != 0 {
		t.Fatalf("%d bytes reserved after Stop", u)
	}
}

// waitIdle waits until no sealed chunk is owed (every dispatched chunk released).
func (e *Engine) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.liveMu.Lock()
		n := len(e.live)
		e.liveMu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks still owed", n)
		}
		select {
		case <-e.progress:
		case <-time.After(10 * time.Millisecond):
		}
	}
}
