package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// kitIn counts to Limit (forever when 0), one record a millisecond, after Init.
type kitIn struct {
	Limit  int  `conf:"limit"`
	Fail   bool `conf:"fail"`
	inited bool
	closed atomic.Bool
}

func (in *kitIn) Validate() error {
	if in.Limit < 0 {
		return config.KeyErrorf("limit", "negative: %d", in.Limit)
	}
	return nil
}

func (in *kitIn) Init(_ context.Context, env pipeline.Env) error {
	env.Logger.Info("init") // a nil logger would panic here
	in.inited = true
	return nil
}

func (in *kitIn) Run(ctx context.Context, emit pipeline.Emitter) error {
	if !in.inited {
		return errors.New("Run before Init")
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for i := 0; in.Limit == 0 || i < in.Limit; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := emit.Emit("", event.Event{Record: event.Map{{"i", i}}}); err != nil {
			return err
		}
	}
	if in.Fail {
		return errors.New("boom")
	}
	return nil
}

func (in *kitIn) Close(context.Context) error { in.closed.Store(true); return nil }

type kitOut struct {
	Format string `conf:"format"`
}

func (*kitOut) Flush(context.Context, *pipeline.Chunk) error { return nil }

func init() {
	pipeline.RegisterInput("pipelinetest_in", func() pipeline.Input { return &kitIn{} })
	pipeline.RegisterFilter("pipelinetest_filter", func() pipeline.Filter {
		return pipeline.FilterFunc(func(string, *event.Event) (pipeline.Verdict, error) { return pipeline.Keep, nil })
	})
	pipeline.RegisterOutput("pipelinetest_out", func() pipeline.Output { return &kitOut{} })
}

func TestPropsArePlacedOneALine(t *testing.T) {
	ps := Props("a", "1", "b", "2")
	if len(ps) != 2 || ps[1].Key != "b" || ps[1].Value != "2" || ps[1].File != File || ps[1].Line != 2 {
		t.Fatalf("Props = %+v", ps)
	}
	defer func() {
		if recover() == nil {
			t.Error("odd Props: no panic")
		}
	}()
	Props("a")
}

func TestSorted(t *testing.T) {
	if got := strings.Join(Sorted(map[string]string{"b": "2", "a": "1"}), " "); got != "a 1 b 2" {
		t.Errorf("Sorted = %s", got)
	}
}

func TestNewPluginsAndTheirTypes(t *testing.T) {
	if in := Input[*kitIn](t, "pipelinetest_in", "limit", "3"); in.Limit != 3 {
		t.Errorf("limit = %d", in.Limit)
	}
	if o := Output[*kitOut](t, "pipelinetest_out", "format", "x"); o.Format != "x" {
		t.Errorf("format = %q", o.Format)
	}
	if f, err := NewFilter("pipelinetest_filter"); err != nil || f == nil {
		t.Errorf("NewFilter = %v, %v", f, err)
	}
	for _, err := range []error{
		func() error { _, err := NewInput("pipelinetest_none"); return err }(),
		func() error { _, err := NewFilter("pipelinetest_none"); return err }(),
		func() error { _, err := NewOutput("pipelinetest_none"); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "not registered") {
			t.Errorf("unregistered plugin: %v", err)
		}
	}
	if _, err := As[*kitOut](NewInput("pipelinetest_in")); err == nil || !strings.Contains(err.Error(), "*pipelinetest.kitIn") {
		t.Errorf("As with the wrong type: %v", err)
	}
	_, err := As[*kitIn](NewInput("pipelinetest_in", "x", "1", "limit", "-1"))
	if err == nil || !strings.HasPrefix(err.Error(), `test.conf:1: key "x"`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestConfigurePlacesAsTheAgentDoes(t *testing.T) {
	err := Configure("input", "pipelinetest_in", "fail", "on", "limit", "-1")
	if want := `test.conf:2: key "limit": input "pipelinetest_in": negative: -1`; err == nil || err.Error() != want {
		t.Errorf("Configure = %v, want %s", err, want)
	}
	if err := Configure("output", "pipelinetest_out", "format", "x"); err != nil {
		t.Errorf("Configure with Match added: %v", err)
	}
	if err := Configure("filter", "pipelinetest_filter", "match_regex", "("); err == nil || !strings.HasPrefix(err.Error(), "test.conf:1:") {
		t.Errorf("Configure with a bad match_regex: %v", err)
	}
	if err := Configure("parser", "x"); err == nil {
		t.Error("Configure of a parser: no error")
	}
}

func TestCollectInitsRunsStopsAndCloses(t *testing.T) {
	in := Input[*kitIn](t, "pipelinetest_in")
	recs := Collect(t, in, pipeline.Env{}, 3, 10*time.Second)
	if len(recs) != 3 || recs[2].Event.Record.Value("i") != int64(2) {
		t.Errorf("records = %+v", recs)
	}
	if !in.closed.Load() {
		t.Error("not closed")
	}
}

func TestInitGivesALogger(t *testing.T) {
	in := Init(t, Input[*kitIn](t, "pipelinetest_in"), pipeline.Env{})
	if !in.inited {
		t.Error("Init not called")
	}
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		Init(ft, initFails{}, pipeline.Env{})
	}()
	if !ft.failed || ft.msg != "Init: no" {
		t.Errorf("failed Init: %v %q", ft.failed, ft.msg)
	}
}

type initFails struct{}

func (initFails) Init(context.Context, pipeline.Env) error { return errors.New("no") }

func TestRunToEnd(t *testing.T) {
	recs := RunToEnd(t, Input[*kitIn](t, "pipelinetest_in", "limit", "4"), pipeline.Env{}, 10*time.Second)
	if len(recs) != 4 {
		t.Errorf("%d records, want 4", len(recs))
	}
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		RunToEnd(ft, Input[*kitIn](t, "pipelinetest_in"), pipeline.Env{}, 20*time.Millisecond)
	}()
	if !ft.failed || !strings.HasPrefix(ft.msg, "Run did not finish within 20ms") {
		t.Errorf("endless Run: %v %q", ft.failed, ft.msg)
	}
}

func TestRunFor(t *testing.T) {
	if recs := RunFor(t, Input[*kitIn](t, "pipelinetest_in"), pipeline.Env{}, 30*time.Millisecond); len(recs) == 0 {
		t.Error("no records in 30ms at one a millisecond")
	}
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		RunFor(ft, Input[*kitIn](t, "pipelinetest_in", "limit", "1", "fail", "on"), pipeline.Env{}, time.Minute)
	}()
	if !ft.failed || !strings.HasPrefix(ft.msg, "Run returned boom before 1m0s") {
		t.Errorf("Run that ends early: %v %q", ft.failed, ft.msg)
	}
}

func TestConcurrently(t *testing.T) {
	var calls atomic.Int32
	seen := make([]atomic.Int32, 4)
	Concurrently(t, 4, 100, func(w, i int) error {
		calls.Add(1)
		seen[w].Add(1)
		return nil
	})
	if calls.Load() != 400 || seen[3].Load() != 100 {
		t.Errorf("%d calls, worker 3 made %d; want 400 and 100", calls.Load(), seen[3].Load())
	}
	ft := &fakeT{TB: t}
	Concurrently(ft, 3, 100, func(w, i int) error {
		if i == 5 {
			return fmt.Errorf("worker %d failed", w)
		}
		return nil
	})
	if ft.errors != 3 {
		t.Errorf("%d errors reported, want one a worker", ft.errors)
	}
}

func TestRunningReportsRunsError(t *testing.T) {
	var logs Logs
	r := StartInput(t, Input[*kitIn](t, "pipelinetest_in", "limit", "2", "fail", "on"), logs.Env("in.0"), nil)
	<-r.Done()
	if err := r.Stop(); err == nil || err.Error() != "boom" {
		t.Errorf("Stop = %v, want boom", err)
	}
	if r.Rec.Len() != 2 || logs.Count(slog.LevelInfo) != 1 {
		t.Errorf("%d records, %d logs", r.Rec.Len(), logs.Count(slog.LevelInfo))
	}
	// Wait after Run returned short of n fails the test rather than waiting out the timeout.
	ft := &fakeT{TB: t}
	start := time.Now()
	func() {
		defer func() { _ = recover() }()
		r.t = ft
		r.Wait(3, time.Minute)
	}()
	if !ft.failed || !strings.Contains(ft.msg, "Run returned boom after 2 records, want 3") || time.Since(start) > 10*time.Second {
		t.Errorf("Wait: failed=%v %q after %v", ft.failed, ft.msg, time.Since(start))
	}
}

// fakeT records a fatal failure instead of ending the real test.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
	errors int
}

func (f *fakeT) Error(...any) { f.errors++ }

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}

func TestLogsWait(t *testing.T) {
	var l Logs
	go l.Logger().Warn("late")
	if !l.Wait(10*time.Second, func(rs []slog.Record) bool { return len(rs) == 1 && rs[0].Message == "late" }) {
		t.Fatal("Logs.Wait missed a record")
	}
	if l.Wait(10*time.Millisecond, func(rs []slog.Record) bool { return len(rs) == 2 }) {
		t.Error("Logs.Wait: true for a record never logged")
	}
}
