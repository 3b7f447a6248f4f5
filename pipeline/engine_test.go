package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

func TestMatchTag(t *testing.T) {
	for _, tc := range []struct {
		pattern, tag string
		want         bool
	}{
		{"*", "anything.at.all", true},
		{"*", "", true},
		{"sensor.*", "sensor.temp", true},
		{"sensor.*", "sensor.", true},
		{"sensor.*", "sensor", false},
		{"sensor.*", "other.temp", false},
		{"*.temp", "room1.temp", true},
		{"*.temp", "room1.temp.x", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"kube.*.log", "kube.a.b.log", true},
		{"", "x", false},
	} {
		if got := MatchTag(tc.pattern, tc.tag); got != tc.want {
			t.Errorf("MatchTag(%q, %q) = %v, want %v", tc.pattern, tc.tag, got, tc.want)
		}
	}
}

// collectOutput records every delivered record's "n" field; it can fail on demand.
type collectOutput struct {
	mu      sync.Mutex
	seen    map[int64]int
	total   int
	failN   atomic.Int64 // fail this many more flushes
	perm    bool         // failures are permanent instead of retryable
	gate    chan struct{}
	flushes atomic.Int64
	all     chan struct{}
	want    int
}

func newCollect(want int) *collectOutput {
	return &collectOutput{seen: map[int64]int{}, all: make(chan struct{}), want: want}
}

func (o *collectOutput) Flush(ctx context.Context, c *Chunk) error {
	o.flushes.Add(1)
	if o.gate != nil {
		select {
		case <-o.gate:
		case <-ctx.Done():
			return Retry(ctx.Err())
		}
	}
	if o.failN.Load() > 0 {
		o.failN.Add(-1)
		if o.perm {
			return errors.New("permanent failure")
		}
		return Retry(errors.New("destination down"))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	err := c.Events(func(ev event.Event) error {
		n, _ := ev.Record.Value("n").(int64)
		o.seen[n]++
		o.total++
		return nil
	})
	if o.total == o.want {
		close(o.all)
	}
	return err
}

func (o *collectOutput) waitAll(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-o.all:
	case <-time.After(d):
		o.mu.Lock()
		defer o.mu.Unlock()
		t.Fatalf("delivered %d records, want %d", o.total, o.want)
	}
}

func (o *collectOutput) checkOnce(t *testing.T, n int) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := 0; i < n; i++ {
		if o.seen[int64(i)] != 1 {
			t.Fatalf("record %d delivered %d times, want once", i, o.seen[int64(i)])
		}
	}
	if len(o.seen) != n {
		t.Fatalf("delivered %d distinct records, want %d", len(o.seen), n)
	}
}

func fastOpts() Options {
	return Options{Flush: 5 * time.Millisecond, Grace: 5 * time.Second, SchedulerBase: time.Millisecond, SchedulerCap: 4 * time.Millisecond}
}

func rec(n int) event.Event {
	return event.Event{Time: time.Unix(1700000000, int64(n)), Record: event.Map{{"n", int64(n)}, {"msg", "hello world"}}}
}

func startEngine(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDeliversEveryRecordOnce(t *testing.T) {
	const n = 10000
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(n)
	e.AddOutput(OutputSpec{Plugin: "collect", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	for i := 0; i < n; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	out.waitAll(t, 10*time.Second)
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Fatalf("%d chunks left after delivery", len(left))
	}
	out.checkOnce(t, n)
	m := e.Metrics()
	if m.Inputs[0].Records != n || m.Outputs[0].ProcRecords != n {
		t.Fatalf("metrics: input records %d, output proc_records %d, want %d", m.Inputs[0].Records, m.Outputs[0].ProcRecords, n)
	}
	if m.Inputs[0].Buffered != 0 {
		t.Fatalf("buffered %d bytes after everything was delivered", m.Inputs[0].Buffered)
	}
}

func TestBackpressureKeepsBufferUnderLimit(t *testing.T) {
	const n = 3000
	const limit = 8 << 10
	opts := fastOpts()
	opts.ChunkLimit = 1 << 10
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", MemBufLimit: limit, Input: idleInput{}})
	out := newCollect(n)
	out.gate = make(chan struct{})
	e.AddOutput(OutputSpec{Plugin: "slow", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)

	// The output is slow: it may flush one chunk per tick.
	stop := make(chan struct{})
	var feeder sync.WaitGroup
	feeder.Add(1)
	go func() {
		defer feeder.Done()
		tk := time.NewTicker(200 * time.Microsecond)
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
	defer func() { close(stop); feeder.Wait() }()

	var maxBuffered int64
	recSize := 0
	for i := 0; i < n; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
		if recSize == 0 {
			b, _ := event.AppendEntry(nil, &event.Event{Time: time.Unix(1, 0), Record: rec(i).Record})
			recSize = len(b)
		}
		if b := e.Metrics().Inputs[0].Buffered; b > maxBuffered {
			maxBuffered = b
		}
	}
	out.waitAll(t, 30*time.Second)
	out.checkOnce(t, n)
	m := e.Metrics().Inputs[0]
	if m.Pauses == 0 {
		t.Fatalf("the input was never paused: the test did not exercise backpressure (max buffered %d)", maxBuffered)
	}
	if maxBuffered > limit+int64(recSize) {
		t.Fatalf("buffered up to %d bytes, limit %d (+ one %d-byte record)", maxBuffered, limit, recSize)
	}
	t.Logf("max buffered %d bytes of limit %d, paused %d times", maxBuffered, limit, m.Pauses)
	e.Stop(context.Background())
}

func TestRetriesThenDeliversOnce(t *testing.T) {
	const n = 500
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(n)
	out.failN.Store(3)
	e.AddOutput(OutputSpec{Plugin: "flaky", Match: "*", Output: out, RetryLimit: 5})
	startEngine(t, e)
	for i := 0; i < n; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushAll()
	out.waitAll(t, 10*time.Second)
	e.Stop(context.Background())
	out.checkOnce(t, n)
	m := e.Metrics().Outputs[0]
	// Failed attempts that are retried are retries, not errors (Fluent Bit's counting).
	if m.Retries != 3 || m.Errors != 0 || m.RetriesFailed != 0 || m.DroppedRecords != 0 {
		t.Fatalf("metrics %+v: want 3 retries, 0 errors, nothing dropped", m)
	}
}

func TestRetryLimitDropsAndCounts(t *testing.T) {
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(-1)
	out.failN.Store(1 << 30)
	e.AddOutput(OutputSpec{Plugin: "dead", Match: "*", Output: out, RetryLimit: 2})
	startEngine(t, e)
	for i := 0; i < 10; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushAll()
	if !poll.Until(10*time.Second, func() bool { return e.Metrics().Outputs[0].RetriesFailed > 0 }) {
		t.Fatal("chunk was never given up")
	}
	m := e.Metrics()
	// Given up after its retries: retries_failed, not errors (Fluent Bit's counting).
	if o := m.Outputs[0]; o.DroppedRecords != 10 || o.Retries != 2 || o.RetriesFailed != 1 || o.Errors != 0 {
		t.Fatalf("metrics %+v: want 10 dropped records after 2 retries, 1 retry failed, 0 errors", o)
	}
	if m.Inputs[0].Buffered != 0 {
		t.Fatalf("a dropped chunk still holds %d buffered bytes", m.Inputs[0].Buffered)
	}
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Fatalf("%d chunks left", len(left))
	}
}

func TestPermanentErrorDropsWithoutRetry(t *testing.T) {
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(-1)
	out.failN.Store(1)
	out.perm = true
	e.AddOutput(OutputSpec{Plugin: "bad", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	if err := em.Emit("app", rec(1)); err != nil {
		t.Fatal(err)
	}
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Fatalf("%d chunks left", len(left))
	}
	if o := e.Metrics().Outputs[0]; o.DroppedRecords != 1 || o.Retries != 0 {
		t.Fatalf("metrics %+v: want 1 dropped record, no retries", o)
	}
}

func TestStopFlushesOpenChunks(t *testing.T) {
	opts := fastOpts()
	opts.Flush = time.Hour // only Stop flushes
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(100)
	e.AddOutput(OutputSpec{Plugin: "collect", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	for i := 0; i < 100; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Fatalf("%d chunks left", len(left))
	}
	out.checkOnce(t, 100)
	if err := em.Emit("app", rec(1)); !errors.Is(err, ErrStopped) && err != nil {
		t.Fatalf("emit after stop: %v", err)
	}
}

func TestStopHandsUndeliveredChunksToNextEngine(t *testing.T) {
	opts := fastOpts()
	opts.Grace = 50 * time.Millisecond
	e1 := NewEngine(opts)
	em := e1.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	down := newCollect(-1)
	down.failN.Store(1 << 30)
	e1.AddOutput(OutputSpec{Plugin: "down", Match: "*", Output: down, RetryLimit: RetryForever})
	startEngine(t, e1)
	for i := 0; i < 50; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	left := e1.Stop(context.Background())
	if len(left) == 0 {
		t.Fatal("no chunks handed back although the output never delivered")
	}
	if o := e1.Metrics().Outputs[0]; o.DroppedRecords != 0 {
		t.Fatalf("records dropped at stop: %+v", o)
	}

	e2 := NewEngine(fastOpts())
	up := newCollect(50)
	e2.AddOutput(OutputSpec{Plugin: "up", Match: "app", Output: up, RetryLimit: RetryForever})
	startEngine(t, e2)
	if un := e2.Adopt(left); len(un) != 0 {
		t.Fatalf("%d chunks unrouted", len(un))
	}
	up.waitAll(t, 10*time.Second)
	e2.Stop(context.Background())
	up.checkOnce(t, 50)
}

// oddDropper drops records whose n is odd and marks the others.
type oddDropper struct{}

func (oddDropper) Filter(tag string, ev *event.Event) (Verdict, error) {
	if ev.Record.Value("n").(int64)%2 == 1 {
		return Drop, nil
	}
	ev.Record.Set("seen_by", "filter")
	return Keep, nil
}

func TestFiltersApplyByMatch(t *testing.T) {
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	e.AddFilter(FilterSpec{Plugin: "odd", Match: "filtered.*", Filter: oddDropper{}})
	var mu sync.Mutex
	got := map[string][]map[string]any{}
	e.AddOutput(OutputSpec{Plugin: "fn", Match: "*", Output: OutputFunc(func(ctx context.Context, c *Chunk) error {
		mu.Lock()
		defer mu.Unlock()
		return c.Events(func(ev event.Event) error { got[c.Tag] = append(got[c.Tag], ev.Record.ToMap()); return nil })
	})})
	startEngine(t, e)
	for i := 0; i < 10; i++ {
		_ = em.Emit("filtered.a", rec(i))
		_ = em.Emit("plain", rec(i))
	}
	e.Stop(context.Background())
	if len(got["filtered.a"]) != 5 || len(got["plain"]) != 10 {
		t.Fatalf("filtered.a got %d records (want 5), plain %d (want 10)", len(got["filtered.a"]), len(got["plain"]))
	}
	for _, r := range got["filtered.a"] {
		if r["seen_by"] != "filter" {
			t.Fatalf("record not changed by the filter: %v", r)
		}
	}
	for _, r := range got["plain"] {
		if _, ok := r["seen_by"]; ok {
			t.Fatalf("filter applied to a tag it does not match: %v", r)
		}
	}
	if f := e.Metrics().Filters[0]; f.DropRecords != 5 || f.Records != 10 {
		t.Fatalf("filter metrics %+v", f)
	}
}

func TestEmitRawPassesBytesThrough(t *testing.T) {
	var raw []byte
	for i := 0; i < 20; i++ {
		ev := rec(i)
		ev.Metadata = event.Map{}
		raw, _ = event.AppendEntry(raw, &ev)
	}
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	var mu sync.Mutex
	var got []byte
	e.AddOutput(OutputSpec{Plugin: "fn", Match: "*", Output: OutputFunc(func(ctx context.Context, c *Chunk) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c.Data...)
		return nil
	})})
	startEngine(t, e)
	if err := em.EmitRaw("fwd", raw, 20); err != nil {
		t.Fatal(err)
	}
	e.Stop(context.Background())
	if !bytes.Equal(got, raw) {
		t.Fatalf("raw entries changed on the way: got %d bytes, sent %d", len(got), len(raw))
	}
}

func TestDeadOutputDoesNotStallOtherInputs(t *testing.T) {
	const n = 2000
	opts := fastOpts()
	opts.ChunkLimit = 1 << 10
	opts.SchedulerBase = 10 * time.Millisecond
	opts.SchedulerCap = 20 * time.Millisecond
	opts.Grace = 20 * time.Millisecond
	e := NewEngine(opts)
	emA := e.AddInput(InputSpec{Plugin: "a", MemBufLimit: 4 << 10, Input: idleInput{}})
	emB := e.AddInput(InputSpec{Plugin: "b", MemBufLimit: 4 << 10, Input: idleInput{}})
	dead := newCollect(-1)
	dead.failN.Store(1 << 30)
	live := newCollect(n)
	e.AddOutput(OutputSpec{Plugin: "dead", Match: "a.*", Output: dead, RetryLimit: RetryForever})
	e.AddOutput(OutputSpec{Plugin: "live", Match: "b.*", Output: live, RetryLimit: RetryForever})
	startEngine(t, e)

	// Input a fills up and pauses; its emitter blocks in its own goroutine.
	blocked := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := emA.Emit("a.x", rec(i)); err != nil {
				blocked <- err
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		if err := emB.Emit("b.x", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	live.waitAll(t, 30*time.Second)
	live.checkOnce(t, n)
	if !e.Metrics().Inputs[0].Paused {
		t.Fatal("input a should be paused behind its dead output")
	}
	e.Stop(context.Background())
	if err := <-blocked; !errors.Is(err, ErrStopped) {
		t.Fatalf("blocked emitter returned %v, want ErrStopped", err)
	}
}

// retagger re-emits records of tag "in" under "out.<n>" and drops the original, as
// rewrite_tag with keep false does.
type retagger struct{ em Emitter }

func (r *retagger) EmitterMemBufLimit() int64 { return 1 << 20 }
func (r *retagger) Init(_ context.Context, env Env) error {
	r.em = env.Emitter
	if r.em == nil {
		return errors.New("no emitter")
	}
	return nil
}
func (r *retagger) Filter(tag string, ev *event.Event) (Verdict, error) {
	if tag != "in" {
		return Keep, nil
	}
	return Drop, r.em.Emit(fmt.Sprintf("out.%v", ev.Record.Value("n")), *ev)
}

func TestReemitterRecordsEnterThePipelineAgain(t *testing.T) {
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	e.AddFilter(FilterSpec{Plugin: "retag", Match: "*", Filter: &retagger{}})
	e.AddFilter(FilterSpec{Plugin: "odd", Match: "out.*", Filter: oddDropper{}})
	var mu sync.Mutex
	got := map[string]int{}
	e.AddOutput(OutputSpec{Plugin: "fn", Match: "*", Output: OutputFunc(func(ctx context.Context, c *Chunk) error {
		mu.Lock()
		defer mu.Unlock()
		got[c.Tag] += c.Records
		return nil
	})})
	startEngine(t, e)
	for i := 0; i < 10; i++ {
		if err := em.Emit("in", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.Stop(context.Background())
	// The even records survive the second filter under their new tags; none under "in".
	if len(got) != 5 || got["in"] != 0 || got["out.0"] != 1 || got["out.8"] != 1 {
		t.Fatalf("delivered by tag: %v", got)
	}
	m := e.Metrics()
	if len(m.Inputs) != 2 || m.Inputs[1].Name != "emitter_for_retag.0" || m.Inputs[1].Records != 10 {
		t.Fatalf("emitter input metrics: %+v", m.Inputs)
	}
}

// An input that asks Paused before emitting (as a listener answering 503 does) gets the
// same handling as one blocked in Emit: the pause is counted and its open chunks go to the
// outputs at once, not at the next flush tick, so the pause ends.
func TestPausedQueryHandsOpenChunksToOutputs(t *testing.T) {
	opts := fastOpts()
	opts.Flush = time.Hour
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", MemBufLimit: 256, Input: idleInput{}})
	e.AddOutput(OutputSpec{Plugin: "null", Match: "*", Output: OutputFunc(func(context.Context, *Chunk) error { return nil })})
	startEngine(t, e)
	i := 0
	for ; !em.Paused(); i++ {
		if i == 1000 {
			t.Fatal("never paused")
		}
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if m := e.Metrics().Inputs[0]; m.Pauses != 1 {
		t.Fatalf("pauses %d, want 1", m.Pauses)
	}
	// With flush an hour, only the pause can have sent the records to the output.
	if !poll.Until(30*time.Second, func() bool { return e.Metrics().Outputs[0].ProcRecords == uint64(i) && !em.Paused() }) {
		t.Fatalf("delivered %d of %d, paused %v", e.Metrics().Outputs[0].ProcRecords, i, em.Paused())
	}
	e.Stop(context.Background())
}
