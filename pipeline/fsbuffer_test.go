package pipeline

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

func fsOpts(dir, sync string) Options {
	o := fastOpts()
	o.Storage = StorageOptions{Path: dir, Sync: sync, Checksum: true}
	return o
}

// diskBytes is the size of the chunk files under dir.
func diskBytes(t *testing.T, dir string) (total int64, files int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".flb") {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
				files++
			}
		}
		return nil
	})
	return total, files
}

// TestFilesystemBacklogSurvivesRestart: records accepted while the output is down stay on
// disk when the engine stops, and the next engine on the same path delivers them, each to
// the outputs that still owe it: an output that had delivered gets nothing twice.
func TestFilesystemBacklogSurvivesRestart(t *testing.T) {
	for _, sync := range []string{SyncNormal, SyncFull} {
		t.Run(sync, func(t *testing.T) {
			n := 2000
			if sync == SyncFull {
				n = 200 // an fsync per record: slow on a VM's disk
			}
			dir := t.TempDir()
			opts := fsOpts(dir, sync)
			opts.Grace = 50 * time.Millisecond
			opts.ChunkLimit = 4 << 10
			e := NewEngine(opts)
			em := e.AddInput(InputSpec{Plugin: "test", Filesystem: true, Input: idleInput{}})
			up := newCollect(n)
			down := newCollect(n)
			down.failN.Store(1 << 40)
			e.AddOutput(OutputSpec{Plugin: "up", Alias: "up", Match: "*", Output: up, RetryLimit: RetryForever})
			e.AddOutput(OutputSpec{Plugin: "down", Alias: "down", Match: "*", Output: down, RetryLimit: RetryForever})
			startEngine(t, e)
			for i := 0; i < n; i++ {
				if err := em.Emit("app", rec(i)); err != nil {
					t.Fatal(err)
				}
			}
			up.waitAll(t, 10*time.Second)
			if left := e.Stop(context.Background()); len(left) != 0 {
				t.Fatalf("Stop returned %d chunks: filesystem chunks stay on disk", len(left))
			}
			if sync == SyncFull && e.store.Fsyncs() == 0 {
				t.Fatal("sync full made no fsync")
			}
			if _, files := diskBytes(t, dir); files == 0 {
				t.Fatal("no chunk left on disk for the output that is down")
			}

			if sync == SyncNormal {
				// The backlog stays on disk and is read back chunk by chunk.
				opts.Storage.BacklogMemLimit = 1
			}
			e2 := NewEngine(opts)
			e2.AddInput(InputSpec{Plugin: "test", Filesystem: true, Input: idleInput{}})
			up2 := newCollect(n)
			down2 := newCollect(n)
			e2.AddOutput(OutputSpec{Plugin: "up", Alias: "up", Match: "*", Output: up2, RetryLimit: RetryForever})
			e2.AddOutput(OutputSpec{Plugin: "down", Alias: "down", Match: "*", Output: down2, RetryLimit: RetryForever})
			startEngine(t, e2)
			if sm := e2.StorageMetrics(); sync == SyncNormal && sm.ChunksUp != 0 {
				t.Errorf("backlog over backlog.mem_limit loaded up: %+v", sm)
			}
			down2.waitAll(t, 10*time.Second)
			e2.Stop(context.Background())
			down2.checkOnce(t, n)
			if got := up2.flushes.Load(); got != 0 {
				t.Fatalf("the output that had delivered was sent %d chunks again", got)
			}
			if _, files := diskBytes(t, dir); files != 0 {
				t.Fatalf("%d chunk files left after everything was delivered", files)
			}
		})
	}
}

// TestFilesystemChunksDownAreReadBack: with one chunk allowed up, the rest wait on disk and
// are read back for delivery; memory stays under mem_buf_limit and the input never pauses.
func TestFilesystemChunksDownAreReadBack(t *testing.T) {
	const n = 5000
	opts := fsOpts(t.TempDir(), SyncNormal)
	opts.ChunkLimit = 2 << 10
	opts.Storage.MaxChunksUp = 1
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", Filesystem: true, MemBufLimit: 16 << 10, Input: idleInput{}})
	out := newCollect(n)
	out.gate = make(chan struct{})
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	var maxBuf int64
	for i := 0; i < n; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
		if b := e.Metrics().Inputs[0].Buffered; b > maxBuf {
			maxBuf = b
		}
	}
	if sm := e.StorageMetrics(); !sm.Enabled || sm.ChunksDown == 0 || sm.ChunksUp > 1 {
		t.Fatalf("storage metrics %+v: want chunks down and at most one up", sm)
	}
	close(out.gate)
	out.waitAll(t, 10*time.Second)
	e.Stop(context.Background())
	out.checkOnce(t, n)
	if limit := int64(16<<10 + 2<<10 + 200); maxBuf > limit {
		t.Fatalf("buffered up to %d bytes in memory, limit %d", maxBuf, limit)
	}
	if p := e.Metrics().Inputs[0].Pauses; p != 0 {
		t.Fatalf("filesystem input paused %d times", p)
	}
}

// TestTotalLimitSizeDropsOldest: under an outage far longer than the limit holds, the
// output's chunks on disk stay under storage.total_limit_size (plus the open chunk), the
// oldest are dropped and counted, and the newest are delivered when it comes back.
func TestTotalLimitSizeDropsOldest(t *testing.T) {
	const n = 20000
	const limit = 64 << 10
	dir := t.TempDir()
	opts := fsOpts(dir, SyncNormal)
	opts.ChunkLimit = 4 << 10
	opts.Flush = time.Hour // seal by size only, so the sizes below are exact
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", Filesystem: true, Input: idleInput{}})
	out := newCollect(n)
	out.failN.Store(1 << 40)
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out, RetryLimit: RetryForever, TotalLimitSize: limit})
	startEngine(t, e)
	var maxDisk int64
	for i := 0; i < n; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			if d, _ := diskBytes(t, dir); d > maxDisk {
				maxDisk = d
			}
		}
	}
	// One chunk may be in the worker's hands and one open: they are over the limit.
	if bound := int64(limit + 3*(4<<10+200)); maxDisk > bound {
		t.Fatalf("chunk files reached %d bytes; total_limit_size %d", maxDisk, limit)
	}
	dropped := e.Metrics().Outputs[0].DroppedRecords
	if dropped == 0 {
		t.Fatal("nothing dropped over the limit")
	}
	out.failN.Store(0)
	e.FlushAll()
	if !poll.Until(10*time.Second, func() bool { m := e.Metrics().Outputs[0]; return m.ProcRecords+m.DroppedRecords == n }) {
		m := e.Metrics().Outputs[0]
		t.Fatalf("delivered %d + dropped %d, want %d", m.ProcRecords, m.DroppedRecords, n)
	}
	e.Stop(context.Background())
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.seen[n-1] != 1 {
		t.Fatal("the newest record was not delivered")
	}
	if out.seen[0] != 0 {
		t.Fatal("the oldest record was delivered: it should have been dropped first")
	}
}

// BenchmarkEmitStorage is an input's Emit into a memory buffer (the baseline) and into
// filesystem storage with sync normal and full, side by side, from 8 goroutines at once
// (sync full shares fsyncs between concurrent emitters). It reports fsyncs per record.
func BenchmarkEmitStorage(b *testing.B) {
	for _, mode := range []string{"memory", SyncNormal, SyncFull} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{Flush: 100 * time.Millisecond, Grace: 10 * time.Second}
			if mode != "memory" {
				opts.Storage = StorageOptions{Path: b.TempDir(), Sync: mode}
			}
			e := NewEngine(opts)
			em := e.AddInput(InputSpec{Plugin: "bench", Filesystem: mode != "memory", MemBufLimit: 64 << 20, Input: idleInput{}})
			e.AddOutput(OutputSpec{Plugin: "null", Match: "*", Output: OutputFunc(func(context.Context, *Chunk) error { return nil })})
			if err := e.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			ev := rec(1)
			b.ReportAllocs()
			b.SetParallelism(4) // 4 x GOMAXPROCS emitters
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := em.Emit("bench", ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if e.store != nil {
				b.ReportMetric(float64(e.store.Fsyncs())/float64(b.N), "fsyncs/record")
			}
			e.Stop(context.Background())
		})
	}
}

// TestFilesystemWriteFailureRefusesRecords: when a chunk cannot be written (here its
// directory is replaced by a file; a full disk is the same), Emit returns ErrStorage —
// the records were not accepted — and the input reports Paused so listeners refuse work;
// once writing works again the input takes records again.
func TestFilesystemWriteFailureRefusesRecords(t *testing.T) {
	dir := t.TempDir()
	e := NewEngine(fsOpts(dir, SyncNormal))
	em := e.AddInput(InputSpec{Plugin: "test", Alias: "in", Filesystem: true, Input: idleInput{}})
	out := newCollect(2)
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	defer e.Stop(context.Background())
	if err := em.Emit("app", rec(0)); err != nil {
		t.Fatal(err)
	}
	e.FlushAll()
	if !poll.Until(10*time.Second, func() bool {
		return e.StorageMetrics().Chunks == 0 && len(mustGlob(t, filepath.Join(dir, "in", "*.flb"))) == 0
	}) {
		t.Fatal("first record not delivered")
	}
	stream := filepath.Join(dir, "in")
	if err := os.RemoveAll(stream); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stream, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := em.Emit("app", rec(1))
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("Emit with an unwritable chunk directory: %v, want ErrStorage", err)
	}
	if !em.Paused() || !e.Metrics().Inputs[0].Paused {
		t.Fatal("input not reported paused after a failed write")
	}
	os.Remove(stream)
	if !poll.Until(10*time.Second, func() bool { return !em.Paused() }) {
		t.Fatal("still paused after the disk came back")
	}
	if err := em.Emit("app", rec(1)); err != nil {
		t.Fatal(err)
	}
	e.FlushAll()
	out.waitAll(t, 10*time.Second)
	out.checkOnce(t, 2)
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFilesystemChunksStayWholeAtMemBufLimit: with the output down, chunks the flush timer
// sealed part-full while there was room stay up in memory. New chunks must still fill to
// the chunk size before they go down, not be cut after every batch because the chunks up
// leave no room for an open one: each chunk costs a file, an fsync and a flush attempt (a
// bench run with the output down made 3.4 times the fsyncs and chunks that way).
func TestFilesystemChunksStayWholeAtMemBufLimit(t *testing.T) {
	const chunkLimit, memLimit = 4 << 10, 16 << 10
	opts := fsOpts(t.TempDir(), SyncNormal)
	opts.ChunkLimit = chunkLimit
	opts.Flush = time.Hour // seal by size, or by FlushAll below as the timer would
	opts.Grace = time.Millisecond
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", Filesystem: true, MemBufLimit: memLimit, Input: idleInput{}})
	out := newCollect(0)
	out.gate = make(chan struct{}) // the output is down: its worker holds the first chunk
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	defer e.Stop(context.Background())
	i := 0
	emit := func(bytes uint64) {
		t.Helper()
		for start := e.Metrics().Inputs[0].Bytes; e.Metrics().Inputs[0].Bytes-start < bytes; i++ {
			if err := em.Emit("app", rec(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A quiet spell: small chunks sealed by the flush timer, up while they fit.
	for k := 0; k < 30; k++ {
		emit(512)
		e.FlushAll()
	}
	// Then a burst: it must go into whole chunks.
	const burst = 64 << 10
	before := e.StorageMetrics().Chunks
	emit(burst)
	e.FlushAll()
	if got, most := e.StorageMetrics().Chunks-before, burst/chunkLimit+2; got > most {
		t.Fatalf("a %d-byte burst was sealed into %d chunks; chunks of %d bytes make at most %d", burst, got, chunkLimit, most)
	}
	if b := e.Metrics().Inputs[0].Buffered; b > memLimit+chunkLimit {
		t.Fatalf("buffered %d bytes in memory; mem_buf_limit %d", b, memLimit)
	}
}

// TestFailedSealKeepsRecordsInMemory: when a chunk cannot be sealed (here its directory
// was removed under the agent, so the directory fsync fails and the file is gone), its
// records stay in memory and are delivered, as the log line says, even when the chunk
// would otherwise have gone down to disk (a mem_buf_limit smaller than a chunk).
func TestFailedSealKeepsRecordsInMemory(t *testing.T) {
	dir := t.TempDir()
	opts := fsOpts(dir, SyncNormal)
	opts.Flush = time.Hour // sealed by FlushAll below, not by the timer
	opts.ChunkLimit = 64 << 10
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", Alias: "in", Filesystem: true, MemBufLimit: 32 << 10, Input: idleInput{}})
	out := newCollect(10)
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	defer e.Stop(context.Background())
	for i := 0; i < 10; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "in")); err != nil {
		t.Fatal(err)
	}
	e.FlushAll()
	out.waitAll(t, 10*time.Second)
	out.checkOnce(t, 10)
}
