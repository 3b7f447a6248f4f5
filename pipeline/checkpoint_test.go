package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ckptInput keeps the checkpoints the engine gives it at Init.
type ckptInput struct {
	idleInput
	got map[string][]byte
}

func (c *ckptInput) Init(_ context.Context, env Env) error {
	c.got = env.Checkpoints
	return nil
}

func checkCkpts(t *testing.T, got map[string][]byte, kv ...string) {
	t.Helper()
	if got == nil {
		t.Fatal("no checkpoints given to a filesystem input")
	}
	if len(got) != len(kv)/2 {
		t.Fatalf("checkpoints %q, want %q", got, kv)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if string(got[kv[i]]) != kv[i+1] {
			t.Fatalf("checkpoints %q, want %q", got, kv)
		}
	}
}

func ck(kv ...string) []Checkpoint {
	var out []Checkpoint
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Checkpoint{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

// entriesFrom encodes records from..to-1.
func entriesFrom(t *testing.T, from, to int) []byte {
	t.Helper()
	all := mustEntries(t, to)
	if from == 0 {
		return all
	}
	return all[len(mustEntries(t, from)):]
}

// TestCheckpointsSurviveDelivery: checkpoints written with records into chunks of several
// tags, and with a batch the filters dropped whole, reach the next engine's input once
// every chunk is delivered and removed: the latest value of each key, deletions kept.
func TestCheckpointsSurviveDelivery(t *testing.T) {
	dir := t.TempDir()
	opts := fsOpts(dir, SyncNormal)
	e := NewEngine(opts)
	first := &ckptInput{}
	em := e.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: first}).(CheckpointEmitter)
	e.AddFilter(FilterSpec{Plugin: "odd", Match: "f.*", Filter: oddDropper{}})
	out := newCollect(6)
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	checkCkpts(t, first.got)
	steps := []struct {
		tag      string
		from, to int
		cp       []Checkpoint
	}{
		{"a", 0, 2, ck("x", "2", "gone", "1")},
		{"b", 2, 4, ck("y", "4")},
		{"f.x", 5, 6, ck("x", "6")},     // record 5 is odd: dropped, the checkpoint stays
		{"a", 4, 5, ck("gone", "")},     // deleted
		{"nomatch", 0, 0, ck("z", "1")}, // nothing to emit: a checkpoint only
	}
	for _, s := range steps {
		if err := em.EmitRawCheckpoint(s.tag, entriesFrom(t, s.from, s.to), s.to-s.from, s.cp); err != nil {
			t.Fatal(err)
		}
	}
	if err := em.EmitRawCheckpoint("b", entriesFrom(t, 6, 7), 1, ck("y", "7")); err != nil {
		t.Fatal(err)
	}
	out.waitAll(t, 10*time.Second)
	e.Stop(context.Background())
	out.mu.Lock()
	if len(out.seen) != 6 || out.seen[5] != 0 || out.seen[6] != 1 {
		t.Errorf("delivered %v", out.seen)
	}
	out.mu.Unlock()
	if _, files := diskBytes(t, dir); files != 0 {
		t.Fatalf("%d chunk files left", files)
	}
	if _, err := os.Stat(filepath.Join(dir, "ck", "checkpoints")); err != nil {
		t.Fatal(err)
	}

	e2 := NewEngine(opts)
	next := &ckptInput{}
	e2.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: next})
	mem := &ckptInput{}
	e2.AddInput(InputSpec{Plugin: "tail", Alias: "mem", Input: mem})
	e2.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: newCollect(0)})
	startEngine(t, e2)
	defer e2.Stop(context.Background())
	checkCkpts(t, next.got, "x", "6", "y", "7", "z", "1")
	if mem.got != nil {
		t.Fatalf("a memory input got checkpoints %q", mem.got)
	}
}

// TestCheckpointsMergeAcrossChunksOnDisk: with the output down, the chunks of two tags
// stay on disk; the next start merges their checkpoints by order of writing, not by
// chunk, and still delivers every record once.
func TestCheckpointsMergeAcrossChunksOnDisk(t *testing.T) {
	dir := t.TempDir()
	opts := fsOpts(dir, SyncNormal)
	opts.Grace = 50 * time.Millisecond
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: &ckptInput{}}).(CheckpointEmitter)
	down := newCollect(0)
	down.failN.Store(1 << 40)
	e.AddOutput(OutputSpec{Plugin: "c", Alias: "c", Match: "*", Output: down, RetryLimit: RetryForever})
	startEngine(t, e)
	for i, tag := range []string{"a", "b", "a", "b", "a"} {
		v := string(rune('0' + i))
		if err := em.EmitRawCheckpoint(tag, entriesFrom(t, i, i+1), 1, ck("k", v, tag, v)); err != nil {
			t.Fatal(err)
		}
	}
	e.Stop(context.Background())

	e2 := NewEngine(opts)
	next := &ckptInput{}
	e2.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: next})
	up := newCollect(5)
	e2.AddOutput(OutputSpec{Plugin: "c", Alias: "c", Match: "*", Output: up, RetryLimit: RetryForever})
	startEngine(t, e2)
	checkCkpts(t, next.got, "k", "4", "a", "4", "b", "3")
	up.waitAll(t, 10*time.Second)
	e2.Stop(context.Background())
	up.checkOnce(t, 5)

	e3 := NewEngine(opts)
	last := &ckptInput{}
	e3.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: last})
	e3.AddOutput(OutputSpec{Plugin: "c", Alias: "c", Match: "*", Output: newCollect(0)})
	startEngine(t, e3)
	defer e3.Stop(context.Background())
	checkCkpts(t, last.got, "k", "4", "a", "4", "b", "3")
}

// TestCheckpointsAcrossReload: the next engine of a reload (ShareStorage) gives its input
// the checkpoints the old engine's input wrote last, while the old engine still holds
// their chunks.
func TestCheckpointsAcrossReload(t *testing.T) {
	dir := t.TempDir()
	opts := fsOpts(dir, SyncNormal)
	old := NewEngine(opts)
	em := old.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: &ckptInput{}}).(CheckpointEmitter)
	out := newCollect(3)
	out.gate = make(chan struct{})
	old.AddOutput(OutputSpec{Plugin: "c", Alias: "c", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, old)
	for i := 0; i < 3; i++ {
		if err := em.EmitRawCheckpoint("a", entriesFrom(t, i, i+1), 1, ck("k", string(rune('0'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	old.StopInputs()
	next := NewEngine(opts)
	in := &ckptInput{}
	next.AddInput(InputSpec{Plugin: "tail", Alias: "ck", Filesystem: true, Input: in})
	out2 := newCollect(3)
	next.AddOutput(OutputSpec{Plugin: "c", Alias: "c", Match: "*", Output: out2, RetryLimit: RetryForever})
	if !next.ShareStorage(old) {
		t.Fatal("storage not shared")
	}
	startEngine(t, next)
	checkCkpts(t, in.got, "k", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	left := old.Stop(ctx) // the gate stays shut: old delivers nothing
	cancel()
	if un := next.Adopt(left); len(un) != 0 {
		t.Fatalf("%d chunks unrouted", len(un))
	}
	out2.waitAll(t, 10*time.Second)
	next.Stop(context.Background())
	out2.checkOnce(t, 3)
}

// BenchmarkEmitRawCheckpoint: a tail-like input emitting batches of 100 records into a
// filesystem chunk, with and without a checkpoint in the frame (sync normal); chunks are
// delivered to a null output, so each removed chunk also writes the checkpoints file.
func BenchmarkEmitRawCheckpoint(b *testing.B) {
	for _, withCP := range []bool{false, true} {
		name := "plain"
		if withCP {
			name = "checkpoint"
		}
		b.Run(name, func(b *testing.B) {
			e := NewEngine(Options{Flush: 100 * time.Millisecond, Grace: 10 * time.Second,
				Storage: StorageOptions{Path: b.TempDir(), Sync: SyncNormal}})
			em := e.AddInput(InputSpec{Plugin: "bench", Filesystem: true, Input: idleInput{}}).(CheckpointEmitter)
			e.AddOutput(OutputSpec{Plugin: "null", Match: "*", Output: OutputFunc(func(context.Context, *Chunk) error { return nil })})
			if err := e.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			batch := mustEntries(b, 100)
			cp := ck("2049:131075", "123456789 \"/var/log/app.log\"")
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if withCP {
					err = em.EmitRawCheckpoint("app", batch, 100, cp)
				} else {
					err = em.(Emitter).EmitRaw("app", batch, 100)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			e.Stop(context.Background())
			b.ReportMetric(float64(e.store.Fsyncs())/float64(b.N), "fsyncs/batch")
		})
	}
}
