package fluentbit_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/config"
	_ "github.com/fluentbit-go/fluentbit-go/filters/modify"
)

var runs atomic.Int64

// sinks collects what the "test_sink" outputs receive, by their `sink` key.
var sinks sync.Map // name -> *sink

type sink struct {
	mu   sync.Mutex
	recs []map[string]any
	tags []string
	got  chan struct{} // signalled on every flush
}

func getSink(name string) *sink {
	s, _ := sinks.LoadOrStore(name, &sink{got: make(chan struct{}, 1024)})
	return s.(*sink)
}

type sinkOutput struct {
	Name string `conf:"sink"`
	Down bool   `conf:"down"` // refuse every chunk (temporarily: retried)
}

func (o *sinkOutput) Flush(_ context.Context, c *fluentbit.Chunk) error {
	if o.Down {
		return fluentbit.Retry(errors.New("destination down"))
	}
	s := getSink(o.Name)
	s.mu.Lock()
	err := c.Events(func(ev fluentbit.Event) error {
		s.recs = append(s.recs, ev.Record.ToMap())
		s.tags = append(s.tags, c.Tag)
		return nil
	})
	s.mu.Unlock()
	s.got <- struct{}{}
	return err
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// counterInput is a user's own input: it emits n records numbered from 0, then returns.
type counterInput struct {
	N int `conf:"n"`
}

func (c *counterInput) Run(ctx context.Context, em fluentbit.Emitter) error {
	for i := 0; i < c.N; i++ {
		if err := em.Emit("", fluentbit.Event{Record: event.Map{{"i", i}}}); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	fluentbit.RegisterOutput("test_sink", func() fluentbit.Output { return &sinkOutput{} })
	fluentbit.RegisterInput("test_counter", func() fluentbit.Input { return &counterInput{} })
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "SINK", t.Name()+strconv.Itoa(int(runs.Add(1)))) // a fresh sink per run (-count=N)
	cfg, err := config.Parse(t.Name()+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPushFilterDeliver(t *testing.T) {
	cfg := parse(t, `
service:
  flush: 3600
pipeline:
  inputs:
    - name: test_counter
      tag: counter
      n: 100
  filters:
    - name: modify
      match: 'dev.*'
      set: stage filtered
  outputs:
    - name: test_sink
      match: '*'
      sink: SINK
`)
	agent, err := fluentbit.New(cfg, fluentbit.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Push("dev.x", event.Map{{"a", 1}}); err == nil {
		t.Fatal("Push before Start succeeded")
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := agent.Push("dev.x", event.Map{{"i", i}}); err != nil {
			t.Fatal(err)
		}
	}
	// flush is an hour: nothing is delivered until Stop flushes it all.
	if err := agent.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	s := sinkOf(agent)
	if s.count() != 150 {
		t.Fatalf("delivered %d records, want 150 (100 from the user input, 50 pushed)", s.count())
	}
	filtered := 0
	for i, r := range s.recs {
		if r["stage"] == "filtered" {
			filtered++
			if s.tags[i] != "dev.x" {
				t.Errorf("filtered record under tag %q", s.tags[i])
			}
		}
	}
	if filtered != 50 {
		t.Errorf("%d records went through the filter, want 50", filtered)
	}
	m := agent.Metrics()
	if len(m.Outputs) != 1 || m.Outputs[0].ProcRecords != 150 {
		t.Errorf("metrics: %+v", m.Outputs)
	}
	if err := agent.Push("dev.x", event.Map{{"late", true}}); err == nil {
		t.Error("Push after Stop succeeded")
	}
}

func TestReloadKeepsBufferedRecords(t *testing.T) {
	// The first pipeline's destination is down: its records are still buffered when the
	// reload comes, and must reach the second pipeline's output.
	const first = `
service:
  flush: 0.05
  grace: 0.2
pipeline:
  outputs:
    - name: test_sink
      match: '*'
      sink: SINK
      down: on
`
	agent, err := fluentbit.New(parse(t, first), fluentbit.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := agent.Push("before", event.Map{{"i", i}}); err != nil {
			t.Fatal(err)
		}
	}
	// A bad configuration leaves the running one alone.
	if err := agent.Reload(parse(t, "pipeline:\n  outputs:\n    - name: nope\n      match: '*'\n")); err == nil {
		t.Fatal("reload with an unknown plugin succeeded")
	}
	if sinkOf(agent).count() != 0 {
		t.Fatal("records were delivered while the destination was down")
	}
	if err := agent.Reload(parse(t, strings.Replace(strings.Replace(first, "down: on", "down: off", 1), "grace: 0.2", "grace: 1", 1))); err != nil {
		t.Fatal(err)
	}
	for i := 30; i < 40; i++ {
		if err := agent.Push("after", event.Map{{"i", i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := agent.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	s := sinkOf(agent)
	seen := map[int64]int{}
	for _, r := range s.recs {
		seen[r["i"].(int64)]++
	}
	for i := int64(0); i < 40; i++ {
		if seen[i] != 1 {
			t.Errorf("record %d delivered %d times", i, seen[i])
		}
	}
	if agent.Service().Grace != time.Second {
		t.Errorf("service after reload: grace %v", agent.Service().Grace)
	}
}

func TestNewErrorsNamePlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(path, []byte("[SERVICE]\n    flush 1\n[OUTPUT]\n    name  test_sink\n    match *\n    snk   x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := fluentbit.NewFromFile(path)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Line != 6 || ce.Key != "snk" || !strings.HasPrefix(err.Error(), path+":6: key \"snk\": unknown key (did you mean \"sink\"?)") {
		t.Fatalf("got %v", err)
	}
	if err := fluentbit.Check(parse(t, "service:\n  flush: soon\n")); err == nil || !strings.Contains(err.Error(), `key "flush": bad duration "soon"`) {
		t.Fatalf("bad service value: %v", err)
	}
	if err := fluentbit.Check(parse(t, "service:\n  daemon: on\n")); err == nil || !strings.Contains(err.Error(), "daemon mode is not supported") {
		t.Fatalf("daemon on: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func sinkOf(a *fluentbit.Agent) *sink {
	p, _ := a.Config().Outputs[0].Get("sink")
	return getSink(p.Value)
}

// TestServiceValuesOutOfRangeAreErrors: values that cannot mean anything are refused with
// the file, line and key (so --dry-run catches them), not quietly replaced by defaults.
func TestServiceValuesOutOfRangeAreErrors(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"flush", "-1", "want more than 0"},
		{"flush", "0", "want more than 0"},
		{"grace", "-5", "want more than 0"},
		{"grace", "0", "want more than 0"},
		{"scheduler.base", "-1", "want more than 0"},
		{"scheduler.cap", "-1", "want more than 0"},
		{"scheduler.cap", "0", "want more than 0"},
		{"http_port", "70000", "want 0 to 65535"},
		{"hc_period", "0", "want 1 or more"},
		{"memory_limit", "lots", "want a size (48M) or off"},
		{"memory_limit", "1M", "want at least 8M"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			cfg := parse(t, "service:\n  log_level: info\n  "+tc.key+": "+tc.value+"\n")
			err := fluentbit.Check(cfg)
			wantPrefix := fmt.Sprintf("%s.yaml:3: key %q: ", t.Name(), tc.key)
			if err == nil || !strings.HasPrefix(err.Error(), wantPrefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %s... %s", err, wantPrefix, tc.want)
			}
		})
	}
	cfg := parse(t, "service:\n  scheduler.base: 10\n  scheduler.cap: 5\n")
	if err := fluentbit.Check(cfg); err == nil || !strings.Contains(err.Error(), `key "scheduler.cap"`) {
		t.Errorf("scheduler.cap below scheduler.base: %v", err)
	}
	cfg = parse(t, "service:\n  flush: 0.5\n  grace: 1\n  scheduler.base: 1\n  scheduler.cap: 1\n")
	if err := fluentbit.Check(cfg); err != nil {
		t.Errorf("sensible values refused: %v", err)
	}
}

func TestMemoryLimitValues(t *testing.T) {
	for _, tc := range []struct {
		value  string
		want   fluentbit.MemoryLimit
		budget int64
	}{{"off", 0, 0}, {"48M", 48_000_000, 36_000_000}, {"64MB", 64_000_000, 48_000_000}} {
		cfg := parse(t, "service:\n  memory_limit: "+tc.value+"\n")
		svc, err := fluentbit.ParseService(cfg)
		if err != nil {
			t.Fatalf("memory_limit %s: %v", tc.value, err)
		}
		if svc.MemoryLimit != tc.want || svc.MemoryLimit.BufferBudget() != tc.budget {
			t.Errorf("memory_limit %s: %d bytes, buffer budget %d; want %d, %d", tc.value, svc.MemoryLimit, svc.MemoryLimit.BufferBudget(), tc.want, tc.budget)
		}
		a, err := fluentbit.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.MemoryBudget().Limit(); got != tc.budget {
			t.Errorf("memory_limit %s: the agent's budget is %d, want %d", tc.value, got, tc.budget)
		}
	}
}

// gateOutput delivers to a sink, and can be made to fail its Init (a reload that cannot
// start) or its flushes (a destination down), from the test.
type gateOutput struct {
	Name string `conf:"sink"`
}

var gateInitFails, gateFlushFails atomic.Bool

func (o *gateOutput) Init(context.Context, fluentbit.Env) error {
	if gateInitFails.Load() {
		return errors.New("cannot initialise")
	}
	return nil
}

func (o *gateOutput) Flush(ctx context.Context, c *fluentbit.Chunk) error {
	if gateFlushFails.Load() {
		return fluentbit.Retry(errors.New("destination down"))
	}
	return (&sinkOutput{Name: o.Name}).Flush(ctx, c)
}

func init() {
	fluentbit.RegisterOutput("test_gate", func() fluentbit.Output { return &gateOutput{} })
}

// TestFailedReloadLosesNothing: a reload whose new pipeline cannot start, while the
// previous configuration cannot start again either, leaves the agent with the old
// pipeline still delivering what it buffered (not dropped without a word), and the error
// says that no input takes records. Once the destination is back everything arrives.
func TestFailedReloadLosesNothing(t *testing.T) {
	cfg := parse(t, `
service:
  flush: 0.05
  grace: 1
  scheduler.base: 0.02
  scheduler.cap: 0.05
pipeline:
  outputs:
    - name: test_gate
      match: '*'
      sink: SINK
`)
	gateInitFails.Store(false)
	gateFlushFails.Store(true)
	defer gateFlushFails.Store(false)
	defer gateInitFails.Store(false)
	agent, err := fluentbit.New(cfg, fluentbit.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := agent.Push("app", event.Map{{"i", i}}); err != nil {
			t.Fatal(err)
		}
	}
	gateInitFails.Store(true)
	err = agent.Reload(cfg)
	if err == nil || !strings.Contains(err.Error(), "no input takes records until the next reload") {
		t.Fatalf("Reload: %v, want an error saying no input takes records", err)
	}
	gateInitFails.Store(false)
	gateFlushFails.Store(false)
	p, _ := cfg.Outputs[0].Get("sink")
	s := getSink(p.Value)
	deadline := time.After(10 * time.Second)
	for s.count() < 20 {
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("%d of 20 buffered records delivered after the failed reload", s.count())
		}
	}
	// The next reload brings the inputs back.
	if err := agent.Reload(cfg); err != nil {
		t.Fatalf("Reload once the outputs can start: %v", err)
	}
	if err := agent.Push("app", event.Map{{"i", 20}}); err != nil {
		t.Fatalf("Push after the reload: %v", err)
	}
	if err := agent.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if s.count() != 21 {
		t.Fatalf("%d records delivered, want 21", s.count())
	}
}

// TestPushRacingReloadAndStopLosesNothing: Push from several goroutines while the agent
// reloads twice and stops. Every Push that returned nil is delivered; the others returned
// an error (after Stop), none vanished in a chunk nobody flushes.
func TestPushRacingReloadAndStopLosesNothing(t *testing.T) {
	for round := 0; round < 5; round++ {
		cfg := parse(t, `
service:
  flush: 0.05
  grace: 5
pipeline:
  outputs:
    - name: test_sink
      match: '*'
      sink: SINK
`)
		agent, err := fluentbit.New(cfg, fluentbit.WithLogger(discard()))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := agent.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 3000; i++ {
					if agent.Push("app", event.Map{{"i", i}}) != nil {
						return
					}
					accepted.Add(1)
				}
			}()
		}
		for i := 0; i < 2; i++ {
			if err := agent.Reload(cfg); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Duration(round) * time.Millisecond) // Stop at different points
		if err := agent.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		wg.Wait()
		if got := sinkOf(agent).count(); int64(got) != accepted.Load() {
			t.Fatalf("round %d: %d pushes returned nil, %d records delivered", round, accepted.Load(), got)
		}
		if tot := agent.Totals(); tot.RecordsIn != uint64(accepted.Load()) || tot.RecordsOut != uint64(accepted.Load()) {
			t.Fatalf("round %d: totals %+v, want %d in and out", round, tot, accepted.Load())
		}
	}
}
