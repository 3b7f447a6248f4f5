package pipeline

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/internal/offheap"
	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

// Chunk buffers come out of the process's memory budget: with a slow output, inputs wait
// for room instead of allocating past it, every record is delivered once, and the budget
// is whole again after Stop.
func TestMemoryBudgetBoundsChunkBuffers(t *testing.T) {
	const n = 4000
	const limit = 48 << 10
	opts := fastOpts()
	opts.ChunkLimit = 4 << 10
	opts.Budget = membudget.New(limit)
	mapped := offheap.Mapped()
	e := NewEngine(opts)
	ems := []Emitter{
		e.AddInput(InputSpec{Plugin: "a", Input: idleInput{}}),
		e.AddInput(InputSpec{Plugin: "b", Input: idleInput{}}),
	}
	out := newCollect(n)
	out.gate = make(chan struct{})
	e.AddOutput(OutputSpec{Plugin: "slow", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the output flushes one chunk per tick
		defer wg.Done()
		tk := time.NewTicker(500 * time.Microsecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				select {
				case out.gate <- struct{}{}:
				case <-stop:
					return
				}
			}
		}
	}()
	var peak atomic.Int64
	var sawFull atomic.Bool
	var emitters sync.WaitGroup
	for k, em := range ems {
		emitters.Add(1)
		go func() {
			defer emitters.Done()
			for i := k; i < n; i += len(ems) {
				if err := em.Emit("app", rec(i)); err != nil {
					t.Error(err)
					return
				}
				if u := opts.Budget.Used(); u > peak.Load() {
					peak.Store(u)
				}
				if em.Paused() {
					sawFull.Store(true)
				}
			}
		}()
	}
	emitters.Wait()
	out.waitAll(t, 30*time.Second)
	close(stop)
	wg.Wait()
	out.checkOnce(t, n)
	if p := peak.Load(); p > limit {
		t.Fatalf("chunk buffers reached %d bytes of a %d-byte budget", p, limit)
	}
	if opts.Budget.Waits() == 0 || !sawFull.Load() {
		t.Fatalf("nobody waited for the budget (waits %d, paused seen %v): the test did not fill it", opts.Budget.Waits(), sawFull.Load())
	}
	e.Stop(context.Background())
	if u := opts.Budget.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved after Stop", u)
	}
	if m := offheap.Mapped(); m != mapped {
		t.Fatalf("%d bytes mapped off the heap after Stop, %d before Start: a chunk buffer leaked", m, mapped)
	}
	t.Logf("peak %d of %d, %d waits, %v waited", peak.Load(), limit, opts.Budget.Waits(), opts.Budget.Waited())
}

// An emitter waiting for memory returns ErrStopped when the engine stops.
func TestMemoryBudgetWaitEndsAtStop(t *testing.T) {
	opts := fastOpts()
	opts.ChunkLimit = 4 << 10
	opts.Budget = membudget.New(16 << 10)
	mapped := offheap.Mapped()
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "a", Input: idleInput{}})
	out := newCollect(-1)
	out.gate = make(chan struct{}) // never opens: nothing is delivered
	e.AddOutput(OutputSpec{Plugin: "stuck", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := em.Emit("app", rec(i)); err != nil {
				done <- err
				return
			}
		}
	}()
	if !poll.Until(10*time.Second, opts.Budget.Full) {
		t.Fatal("the budget never filled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	left := e.Stop(ctx)
	if err := <-done; err != ErrStopped {
		t.Fatalf("blocked Emit returned %v, want ErrStopped", err)
	}
	if u := opts.Budget.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved after Stop", u)
	}
	// The undelivered chunks handed back own their data (on the heap): every buffer off
	// the heap is unmapped, and the records are all there.
	if m := offheap.Mapped(); m != mapped {
		t.Fatalf("%d bytes mapped off the heap after Stop, %d before Start", m, mapped)
	}
	records := 0
	for _, c := range left {
		n := 0
		if err := event.Entries(c.Data, func(event.Event) error { n++; return nil }); err != nil || n != c.Records {
			t.Fatalf("a chunk handed back at Stop reads %d of %d records (%v)", n, c.Records, err)
		}
		records += n
	}
	if records == 0 {
		t.Fatal("no undelivered chunk handed back: the test did not hold any")
	}
}

// An emitter whose chunk cannot grow within the budget waits (its open chunk is sealed
// and goes out) and goes on once room is given back.
func TestMemoryBudgetWaitResumesAfterRelease(t *testing.T) {
	opts := fastOpts()
	opts.Flush = time.Hour // the chunk stays open: its growth is what is asked for
	opts.ChunkLimit = 64 << 10
	opts.Budget = membudget.New(100 << 10)
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "a", Input: idleInput{}})
	e.AddOutput(OutputSpec{Plugin: "null", Match: "*", Output: OutputFunc(func(context.Context, *Chunk) error { return nil })})
	startEngine(t, e)
	defer e.Stop(context.Background())
	// Fill the chunk to just under 16 KiB (a quarter of the limit): its buffer is 16 KiB.
	i := 0
	for ; opts.Budget.Used() < 16<<10; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	for em.(*inputInst).bufferedNow() < 15<<10 {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
		i++
	}
	// Leave 30 KiB free: a fresh chunk's 4 KiB fits, the jump to 72 KiB does not.
	held := opts.Budget.Limit() - opts.Budget.Used() - 30<<10
	if !opts.Budget.TryReserve(held) {
		t.Fatal("could not hold the budget")
	}
	done := make(chan error, 1)
	go func() {
		for j := 0; j < 200; j++ {
			if err := em.Emit("app", rec(i+j)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if !poll.Until(10*time.Second, func() bool { return opts.Budget.Waits() > 0 }) {
		t.Fatal("the emitter never waited for the budget")
	}
	opts.Budget.Release(held)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// sizedOutput is an output that says how large its encoding of a chunk is, and records the
// budget in use while it flushes.
type sizedOutput struct {
	budget *membudget.Budget
	mu     sync.Mutex
	during []int64
	sizes  []int
}

func (s *sizedOutput) EncodedSize(c *Chunk) int { return 3 * len(c.Data) }

func (s *sizedOutput) Flush(_ context.Context, c *Chunk) error {
	s.mu.Lock()
	s.during = append(s.during, s.budget.Used())
	s.sizes = append(s.sizes, len(c.Data))
	s.mu.Unlock()
	return nil
}

// An output's encoding is counted against the budget while it flushes, and given back.
func TestOutputEncodingCountsAgainstTheBudget(t *testing.T) {
	opts := fastOpts()
	opts.ChunkLimit = 64 << 10
	opts.Budget = membudget.New(16 << 20)
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "a", Input: idleInput{}})
	out := &sizedOutput{budget: opts.Budget}
	e.AddOutput(OutputSpec{Plugin: "sized", Match: "*", Output: out})
	startEngine(t, e)
	for i := 0; i < 100; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushAll()
	e.waitIdle(t)
	out.mu.Lock()
	during, sizes := append([]int64(nil), out.during...), append([]int(nil), out.sizes...)
	out.mu.Unlock()
	if len(during) == 0 {
		t.Fatal("nothing flushed")
	}
	// The chunk's own buffer (at least its data) plus three times its data.
	if want := 4 * int64(sizes[0]); during[0] < want {
		t.Errorf("budget in use during Flush: %d bytes, want at least %d: the encoding was not counted", during[0], want)
	}
	e.Stop(context.Background())
	if u := opts.Budget.Used(); u != 0 {
		t.Fatalf("%d bytes reserved after Stop: the encoding was not given back", u)
	}
}

// A record larger than the chunk's buffer makes append grow it on the heap: the chunk's
// own buffer (off the heap) is freed at once, the growth is counted over the budget, and
// the records arrive whole; after Stop nothing is mapped or reserved.
func TestOversizedRecordMovesTheChunkToTheHeap(t *testing.T) {
	opts := fastOpts()
	opts.ChunkLimit = 1 << 20
	opts.Budget = membudget.New(16 << 20)
	mapped := offheap.Mapped()
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "a", Input: idleInput{}})
	const n = 20
	out := newCollect(n)
	e.AddOutput(OutputSpec{Plugin: "collect", Match: "*", Output: out})
	startEngine(t, e)
	big := strings.Repeat("x", 200<<10) // far past the 512 bytes a record is guessed at
	for i := 0; i < n; i++ {
		ev := rec(i)
		if i%2 == 1 {
			ev.Record.Set("blob", big)
		}
		if err := em.Emit("app", ev); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushAll()
	out.waitAll(t, 10*time.Second)
	out.checkOnce(t, n)
	e.Stop(context.Background())
	if u := opts.Budget.Used(); u != 0 {
		t.Fatalf("%d bytes reserved after Stop", u)
	}
	if m := offheap.Mapped(); m != mapped {
		t.Fatalf("%d bytes mapped off the heap after Stop, %d before Start", m, mapped)
	}
}
