package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// TestEmitAfterStopIsRefused: once Stop has begun, Emit returns ErrStopped, as the
// Emitter promises, instead of putting the record in an open chunk nobody seals.
func TestEmitAfterStopIsRefused(t *testing.T) {
	for _, fs := range []bool{false, true} {
		opts := fastOpts()
		if fs {
			opts = fsOpts(t.TempDir(), SyncNormal)
		}
		e := NewEngine(opts)
		em := e.AddInput(InputSpec{Plugin: "test", Filesystem: fs, Input: idleInput{}})
		out := newCollect(1)
		e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out})
		startEngine(t, e)
		if err := em.Emit("app", rec(0)); err != nil {
			t.Fatal(err)
		}
		e.Stop(context.Background())
		if err := em.Emit("app", rec(1)); !errors.Is(err, ErrStopped) {
			t.Errorf("filesystem %v: Emit after Stop: %v, want ErrStopped", fs, err)
		}
		if err := em.EmitRaw("app", nil, 0); !errors.Is(err, ErrStopped) {
			t.Errorf("filesystem %v: EmitRaw after Stop: %v, want ErrStopped", fs, err)
		}
		if got := e.Metrics().Inputs[0].Records; got != 1 {
			t.Errorf("filesystem %v: records %d, want 1: refused records are not taken in", fs, got)
		}
	}
}

// TestEmitRacingStopLosesNothing: emitters racing Stop either get nil (and the record is
// delivered) or ErrStopped; never nil for a record that is then lost.
func TestEmitRacingStopLosesNothing(t *testing.T) {
	for round := 0; round < 20; round++ {
		e := NewEngine(fastOpts())
		em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
		out := newCollect(-1)
		e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: out})
		startEngine(t, e)
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					if err := em.Emit("app", rec(g*10000+i)); err != nil {
						return
					}
					accepted.Add(1)
				}
			}(g)
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond) // Stop at different points of the stream
		if left := e.Stop(context.Background()); len(left) != 0 {
			t.Fatalf("round %d: %d chunks undelivered", round, len(left))
		}
		wg.Wait()
		out.mu.Lock()
		total := out.total
		out.mu.Unlock()
		if int64(total) != accepted.Load() {
			t.Fatalf("round %d: %d records accepted (Emit returned nil), %d delivered", round, accepted.Load(), total)
		}
	}
}

// TestStorageRefusedRecordsAreNotCounted: records refused because their chunk file cannot
// be written (disk full) are not counted in the input's records (the forward input's
// `records` metric, records_in): the sender keeps them and sends them again.
func TestStorageRefusedRecordsAreNotCounted(t *testing.T) {
	dir := t.TempDir()
	e := NewEngine(fsOpts(dir, SyncNormal))
	em := e.AddInput(InputSpec{Plugin: "test", Alias: "in", Filesystem: true, Input: idleInput{}})
	e.AddOutput(OutputSpec{Plugin: "c", Match: "*", Output: newCollect(-1), RetryLimit: RetryForever})
	startEngine(t, e)
	defer e.Stop(context.Background())
	stream := filepath.Join(dir, "in")
	if err := os.WriteFile(stream, nil, 0o600); err != nil { // the stream directory cannot be made
		t.Fatal(err)
	}
	entries := mustEntries(t, 3)
	if err := em.EmitRaw("app", entries, 3); !errors.Is(err, ErrStorage) {
		t.Fatalf("EmitRaw with no room: %v, want ErrStorage", err)
	}
	if err := em.Emit("app", rec(9)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Emit with no room: %v, want ErrStorage", err)
	}
	m := e.Metrics().Inputs[0]
	if m.Records != 0 || m.Bytes != 0 {
		t.Errorf("refused records counted: records %d bytes %d, want 0 and 0", m.Records, m.Bytes)
	}
	os.Remove(stream)
	if err := em.EmitRaw("app", entries, 3); err != nil {
		t.Fatal(err)
	}
	if got := e.Metrics().Inputs[0].Records; got != 3 {
		t.Errorf("records %d after an accepted batch of 3", got)
	}
}

func mustEntries(t testing.TB, n int) []byte {
	t.Helper()
	var b []byte
	for i := 0; i < n; i++ {
		ev := rec(i)
		var err error
		if b, err = event.AppendEntry(b, &ev); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestHandoverDeliversEverything is a reload: the old engine stops its inputs while its
// output is down, the next one takes the same storage.path and new records at once, the
// old one is stopped (its grace runs out) and the next adopts what it left, memory and
// disk chunks alike. Every record is delivered once the output is up, each once.
func TestHandoverDeliversEverything(t *testing.T) {
	for _, fs := range []bool{false, true} {
		dir := t.TempDir()
		opts := fastOpts()
		if fs {
			opts = fsOpts(dir, SyncNormal)
		}
		opts.Grace = 50 * time.Millisecond
		old := NewEngine(opts)
		em := old.AddInput(InputSpec{Plugin: "test", Filesystem: fs, Input: idleInput{}})
		down := newCollect(-1)
		down.failN.Store(1 << 40)
		old.AddOutput(OutputSpec{Plugin: "c", Alias: "out", Match: "*", Output: down, RetryLimit: RetryForever})
		startEngine(t, old)
		for i := 0; i < 500; i++ {
			if err := em.Emit("app", rec(i)); err != nil {
				t.Fatal(err)
			}
		}
		next := NewEngine(opts)
		em2 := next.AddInput(InputSpec{Plugin: "test", Filesystem: fs, Input: idleInput{}})
		up := newCollect(1000)
		next.AddOutput(OutputSpec{Plugin: "c", Alias: "out", Match: "*", Output: up, RetryLimit: RetryForever})
		if !old.StopInputs() {
			t.Fatal("StopInputs on a running engine")
		}
		if shared := next.ShareStorage(old); shared != fs {
			t.Fatalf("filesystem %v: ShareStorage %v", fs, shared)
		}
		startEngine(t, next) // with filesystem storage, the store's lock is old's: shared
		for i := 500; i < 1000; i++ {
			if err := em2.Emit("app", rec(i)); err != nil {
				t.Fatal(err)
			}
		}
		left := old.Stop(context.Background())
		if un := next.Adopt(left); len(un) != 0 {
			t.Fatalf("%d chunks not adopted", len(un))
		}
		up.waitAll(t, 10*time.Second)
		next.Stop(context.Background())
		up.checkOnce(t, 1000)
		if fs {
			if _, files := diskBytes(t, dir); files != 0 {
				t.Errorf("%d chunk files left after everything was delivered", files)
			}
		}
	}
}
