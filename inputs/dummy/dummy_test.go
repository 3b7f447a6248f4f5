package dummy

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

var env = pipeline.Env{Name: "dummy.0", Tag: "dummy.0"}

// run runs the dummy input configured from props until it finishes (it must, within
// 10s) and returns the records.
func run(t *testing.T, props ...string) []pipelinetest.Record {
	t.Helper()
	return pipelinetest.RunToEnd(t, pipelinetest.Input[*Input](t, "dummy", props...), env, 10*time.Second)
}

func TestDefaults(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "dummy")
	want := New()
	if in.Dummy != want.Dummy || in.Rate != 1 || in.Copies != 1 || in.Samples != 0 ||
		in.StartTimeSec != -1 || in.StartTimeNsec != -1 || in.FixedTimestamp || in.Metadata != "" {
		t.Errorf("defaults = %+v", in)
	}
	if in.period != time.Second {
		t.Errorf("period = %v, want 1s", in.period)
	}
}

func TestDecodeEveryKey(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "dummy",
		"Dummy", `[{"a":1},{"b":"x"}]`,
		"Metadata", `{"m":true}`,
		"Rate", "50",
		"Interval_Sec", "2",
		"Interval_Nsec", "500000000",
		"Samples", "7",
		"Start_Time_Sec", "1700000000",
		"Start_Time_Nsec", "42",
		"Fixed_Timestamp", "on",
		"Copies", "3",
		"Flush_On_Startup", "true",
	)
	if in.Dummy != `[{"a":1},{"b":"x"}]` || in.Metadata != `{"m":true}` || in.Rate != 50 ||
		in.IntervalSec != 2*time.Second || in.IntervalNsec != 500000000 || in.Samples != 7 ||
		in.StartTimeSec != 1700000000 || in.StartTimeNsec != 42 || !in.FixedTimestamp ||
		in.Copies != 3 || !in.FlushOnStartup {
		t.Errorf("decoded = %+v", in)
	}
	if in.period != 2500*time.Millisecond {
		t.Errorf("period = %v: interval_sec + interval_nsec must override rate", in.period)
	}
	if in.perGen != 6 {
		t.Errorf("records per generation = %d, want 2 objects × 3 copies", in.perGen)
	}
}

func TestRateSetsPeriod(t *testing.T) {
	for _, tc := range []struct {
		rate string
		want time.Duration
	}{{"1", time.Second}, {"4", 250 * time.Millisecond}, {"100000", 10 * time.Microsecond}} {
		if got := pipelinetest.Input[*Input](t, "dummy", "rate", tc.rate).period; got != tc.want {
			t.Errorf("rate %s: period %v, want %v", tc.rate, got, tc.want)
		}
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"rate", "fast"},
		{"rate", "0"},
		{"rate", "-5"},
		{"copies", "0"},
		{"copies", "x"},
		{"samples", "-1"},
		{"samples", "1.5"},
		{"interval_sec", "-1"},
		{"interval_sec", "soon"},
		{"interval_nsec", "-1"},
		{"interval_nsec", "50ms"},
		{"start_time_sec", "-2"},
		{"start_time_nsec", "1000000000"},
		{"fixed_timestamp", "maybe"},
		{"flush_on_startup", "2"},
		{"dummy", `{"message":`},
		{"dummy", `"just a string"`},
		{"dummy", `[1, 2]`},
		{"dummy", `[]`},
		{"dummy", `{"a":1} trailing`},
		{"metadata", `[{"a":1}]`},
		{"metadata", `{nope}`},
	} {
		_, err := pipelinetest.NewInput("dummy", tc.key, tc.value)
		if err == nil {
			t.Errorf("%s %q: no error", tc.key, tc.value)
			continue
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s %q: error %q does not name the key", tc.key, tc.value, err)
		}
	}
	_, err := pipelinetest.NewInput("dummy", "ratee", "5")
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `did you mean "rate"`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestSamplesThenFinish(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "dummy", "rate", "1000", "samples", "3")
	recs := pipelinetest.RunToEnd(t, in, env, 10*time.Second)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Event.Record.ToMap(), map[string]any{"message": "dummy"}) {
			t.Errorf("record %d = %v", i, r.Event.Record)
		}
		if r.Event.Metadata != nil {
			t.Errorf("record %d has metadata %v without the metadata key", i, r.Event.Metadata)
		}
		if r.Tag != "" {
			t.Errorf("record %d tag %q, want the instance tag (\"\")", i, r.Tag)
		}
	}
	// A finished input stays finished if the engine were to call Run again.
	if recs := pipelinetest.RunToEnd(t, in, env, 10*time.Second); len(recs) != 0 {
		t.Errorf("second Run emitted %d records", len(recs))
	}
}

// Samples counts generations, as in Fluent Bit: each holds copies × objects records, in
// the order of the dummy array.
func TestCopiesAndArrays(t *testing.T) {
	recs := run(t, "dummy", `[{"n":1},{"n":2}]`, "copies", "2", "samples", "3", "rate", "1000")
	if len(recs) != 12 {
		t.Fatalf("got %d records, want 3 samples × 2 copies × 2 objects", len(recs))
	}
	for i, r := range recs {
		if want := int64(i%2 + 1); r.Event.Record.Value("n") != want {
			t.Errorf("record %d: n = %v, want %d", i, r.Event.Record.Value("n"), want)
		}
		// All records of one generation share its time.
		if gen := i / 4; !r.Event.Time.Equal(recs[gen*4].Event.Time) {
			t.Errorf("record %d: time %v differs from its generation's %v", i, r.Event.Time, recs[gen*4].Event.Time)
		}
	}
}

func TestFixedTimestampWithStartTime(t *testing.T) {
	recs := run(t, "rate", "1000", "samples", "5", "fixed_timestamp", "on",
		"start_time_sec", "1700000000", "start_time_nsec", "123456789", "metadata", `{"source":"test"}`)
	if len(recs) != 5 {
		t.Fatalf("got %d records, want 5", len(recs))
	}
	want := time.Unix(1700000000, 123456789)
	for i, r := range recs {
		if !r.Event.Time.Equal(want) {
			t.Errorf("record %d: time %v, want %v", i, r.Event.Time, want)
		}
		if !reflect.DeepEqual(r.Event.Metadata.ToMap(), map[string]any{"source": "test"}) {
			t.Errorf("record %d: metadata %v", i, r.Event.Metadata)
		}
	}
}

// Without a start time, fixed_timestamp uses the time the input started.
func TestFixedTimestampWithoutStartTime(t *testing.T) {
	before := time.Now()
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "dummy", "rate", "1000", "samples", "3", "fixed_timestamp", "on"), env)
	after := time.Now()
	recs := pipelinetest.RunToEnd(t, struct{ pipeline.Input }{in}, env, 10*time.Second) // Init was above
	if len(recs) != 3 {
		t.Fatalf("got %d records", len(recs))
	}
	for i, r := range recs {
		if !r.Event.Time.Equal(recs[0].Event.Time) {
			t.Errorf("record %d: time %v, want %v like the first", i, r.Event.Time, recs[0].Event.Time)
		}
	}
	if tm := recs[0].Event.Time; tm.Before(before.Round(0)) || tm.After(after) {
		t.Errorf("fixed time %v not within Init [%v, %v]", tm, before, after)
	}
}

// With a start time and no fixed timestamp, time moves on from the start time at the
// configured pace: records are exactly one period apart.
func TestStartTimeAdvances(t *testing.T) {
	recs := run(t, "interval_nsec", "2000000", "samples", "4", "start_time_sec", "1000", "start_time_nsec", "0")
	if len(recs) != 4 {
		t.Fatalf("got %d records", len(recs))
	}
	start := time.Unix(1000, 0)
	if first := recs[0].Event.Time; first.Before(start) || first.After(start.Add(time.Minute)) {
		t.Errorf("first time %v, want shortly after %v", first, start)
	}
	for i := 1; i < len(recs); i++ {
		if d := recs[i].Event.Time.Sub(recs[i-1].Event.Time); d != 2*time.Millisecond {
			t.Errorf("record %d is %v after the previous, want 2ms", i, d)
		}
	}
}

// The interval keys override rate, and records are emitted at that pace.
func TestIntervalPacesEmission(t *testing.T) {
	start := time.Now()
	recs := run(t, "rate", "100000", "interval_nsec", "50000000", "samples", "3")
	took := time.Since(start)
	if len(recs) != 3 {
		t.Fatalf("got %d records", len(recs))
	}
	if took < 150*time.Millisecond {
		t.Errorf("3 records 50ms apart took %v, want at least 150ms", took)
	}
	for i := 1; i < len(recs); i++ {
		if d := recs[i].Event.Time.Sub(recs[i-1].Event.Time); d != 50*time.Millisecond {
			t.Errorf("record %d is %v after the previous, want 50ms", i, d)
		}
	}
	if now := time.Now(); recs[2].Event.Time.After(now) {
		t.Errorf("last record time %v is in the future (now %v)", recs[2].Event.Time, now)
	}
}

func TestFlushOnStartup(t *testing.T) {
	if recs := run(t, "interval_sec", "1h", "flush_on_startup", "on", "samples", "1"); len(recs) != 1 {
		t.Fatalf("got %d records, want 1 at start-up", len(recs))
	}
}

// A high rate is reached by batching: many records per Emit call, at the configured pace.
func TestHighRateBatches(t *testing.T) {
	const n = 20000
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "dummy", "rate", "100000", "samples", "20000"), env)
	var rec pipelinetest.Recorder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := in.Run(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if rec.Len() != n {
		t.Fatalf("got %d records, want %d", rec.Len(), n)
	}
	if took < 190*time.Millisecond {
		t.Errorf("%d records at 100000/s took %v: faster than the rate", n, took)
	}
	if calls := rec.Calls(); calls > n/10 {
		t.Errorf("%d Emit calls for %d records: not batched", calls, n)
	}
	recs := rec.Records()
	for i := 1; i < len(recs); i++ {
		if d := recs[i].Event.Time.Sub(recs[i-1].Event.Time); d != 10*time.Microsecond {
			t.Fatalf("record %d is %v after the previous, want 10µs", i, d)
		}
	}
}

func TestEmitErrorIsReturned(t *testing.T) {
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "dummy", "rate", "1000"), env)
	var rec pipelinetest.Recorder
	boom := errors.New("boom")
	rec.FailWith(boom)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Run(ctx, &rec); !errors.Is(err, boom) {
		t.Errorf("Run = %v, want %v", err, boom)
	}
}

func TestCancelStopsRun(t *testing.T) {
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "dummy", "rate", "1000"), env)
	var rec pipelinetest.Recorder
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, &rec) }()
	if !rec.Wait(5, 10*time.Second) {
		t.Fatal("no records")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Through the engine: a dummy with samples finishes and is not restarted.
func TestEngineRunsDummyToCompletion(t *testing.T) {
	cfg, err := config.ParseClassic("test.conf", []byte(`
[INPUT]
    Name    dummy
    Tag     test
    Dummy   {"n": 1}
    Rate    1000
    Samples 4
`))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []event.Event
	all := make(chan struct{})
	out := pipeline.OutputFunc(func(_ context.Context, c *pipeline.Chunk) error {
		mu.Lock()
		defer mu.Unlock()
		err := c.Events(func(ev event.Event) error { got = append(got, ev); return nil })
		if len(got) == 4 {
			close(all)
		}
		return err
	})
	var logs pipelinetest.Logs
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, Logger: logs.Logger()})
	e.AddOutput(pipeline.OutputSpec{Plugin: "collect", Match: "*", Output: out})
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Error("4 records were not delivered")
	}
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Errorf("%d chunks left undelivered", len(left))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Errorf("delivered %d records, want 4", len(got))
	}
	for _, r := range logs.Records() {
		if r.Level >= slog.LevelWarn {
			t.Errorf("engine logged %v %q: a finished dummy is neither an error nor restarted", r.Level, r.Message)
		}
	}
}
