// Package filters_test measures chains of filters through a real engine. (The filters are
// in the subpackages; this directory holds only this benchmark.)
package filters_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	_ "github.com/fluentbit-go/fluentbit-go/filters/grep"
	_ "github.com/fluentbit-go/fluentbit-go/filters/lua"
	_ "github.com/fluentbit-go/fluentbit-go/filters/modify"
	_ "github.com/fluentbit-go/fluentbit-go/filters/nest"
	_ "github.com/fluentbit-go/fluentbit-go/filters/record_modifier"
	_ "github.com/fluentbit-go/fluentbit-go/filters/throttle"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

type filterConf struct {
	name  string
	props []string
}

// fiveFilters is the chain the < 2 µs/record target is about: five simple filters.
var fiveFilters = []filterConf{
	{"grep", []string{"regex", "level ^info$"}},
	{"modify", []string{"rename", "temp temperature", "add", "unit C"}},
	{"record_modifier", []string{"record", "host gateway-1"}},
	{"nest", []string{"operation", "nest", "wildcard", "Mem.*", "nest_under", "mem"}},
	{"throttle", []string{"rate", "1000000000000", "window", "5", "interval", "1s"}},
}

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

// BenchmarkChain pushes records through an engine (input Emit, filters, chunk encoding,
// router, output) with no filter, then with chains of five, in the same run. The figure to
// read is each chain's ns/record minus the no-filter baseline's: what the filters cost.
//
//	go test -run XXX -bench Chain -benchmem ./filters/
func BenchmarkChain(b *testing.B) {
	five := fiveFilters
	withLua := append(append([]filterConf{}, five[:4]...),
		filterConf{"lua", []string{"call", "cb", "code", `function cb(tag, ts, r) r["tag"] = tag return 2, ts, r end`}})
	for _, bc := range []struct {
		name    string
		filters []filterConf
	}{
		{"baseline-no-filter", nil},
		{"5-filters", five},
		{"4-filters+lua", withLua},
	} {
		b.Run(bc.name, func(b *testing.B) { runChain(b, bc.filters) })
	}
}

func runChain(b *testing.B, filters []filterConf) {
	e, in, delivered := newChainEngine(b, filters)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := in.Emit("", event.Event{Time: now, Record: benchRecord()}); err != nil {
			b.Fatal(err)
		}
	}
	e.Stop(context.Background())
	elapsed := time.Since(start)
	b.StopTimer()
	if got := delivered.Load(); got != int64(b.N) {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/record")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

func benchRecord() event.Map {
	return event.Map{{"message", "dummy"}, {"level", "info"}, {"temp", 21.5}, {"Mem.used", int64(1024)}, {"Mem.free", int64(2048)}}
}

// BenchmarkChainInterleaved runs the no-filter engine and the 5-filter engine side by side,
// alternating batches of 256 records, so that load from other processes falls on both
// alike. filters-ns/record is the difference: what the five filters add per record.
//
//	go test -run XXX -bench ChainInterleaved -benchmem ./filters/
func BenchmarkChainInterleaved(b *testing.B) {
	base, baseIn, baseN := newChainEngine(b, nil)
	chain, chainIn, chainN := newChainEngine(b, fiveFilters)
	now := time.Now()
	var tBase, tChain, cBase, cChain time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(256, b.N-done)
		for _, side := range []struct {
			in   pipeline.Emitter
			t, c *time.Duration
		}{{baseIn, &tBase, &cBase}, {chainIn, &tChain, &cChain}} {
			start, cpu := time.Now(), cpuTime()
			for i := 0; i < n; i++ {
				if err := side.in.Emit("", event.Event{Time: now, Record: benchRecord()}); err != nil {
					b.Fatal(err)
				}
			}
			*side.t += time.Since(start)
			*side.c += cpuTime() - cpu
		}
		done += n
	}
	b.StopTimer()
	base.Stop(context.Background())
	chain.Stop(context.Background())
	if baseN.Load() != int64(b.N) || chainN.Load() != int64(b.N) {
		b.Fatalf("delivered %d and %d of %d", baseN.Load(), chainN.Load(), b.N)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(tBase), "baseline-ns/record")
	b.ReportMetric(per(tChain), "chain-ns/record")
	b.ReportMetric(per(tChain)-per(tBase), "filters-ns/record")
	b.ReportMetric(per(cChain)-per(cBase), "filters-cpu-ns/record")
}

// BenchmarkFiveFiltersDirect calls the five filters' Filter methods one after the other on a
// fresh record, without an engine, beside making the record alone (the baseline).
func BenchmarkFiveFiltersDirect(b *testing.B) {
	fs := make([]pipeline.Filter, 0, len(fiveFilters))
	for _, fc := range fiveFilters {
		fs = append(fs, configureFilter(b, fc))
	}
	b.Run("baseline-make-record", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			ev := event.Event{Record: benchRecord()}
			sink = ev.Record
		}
		reportCPU(b, cpu)
	})
	b.Run("5-filters", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			ev := event.Event{Record: benchRecord()}
			for _, f := range fs {
				if v, err := f.Filter("bench", &ev); err != nil || v != pipeline.Keep {
					b.Fatal(v, err)
				}
			}
			sink = ev.Record
		}
		reportCPU(b, cpu)
	})
}

var sink event.Map

// cpuTime is the process's user+system CPU time. On a loaded machine wall time per record
// says more about the neighbours than about the code; CPU time much less so.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Nanoseconds())/float64(b.N), "cpu-ns/record")
}

func configureFilter(b *testing.B, fc filterConf) pipeline.Filter {
	return pipelinetest.Init(b, pipelinetest.Filter[pipeline.Filter](b, fc.name, fc.props...), pipeline.Env{Name: fc.name})
}

func newChainEngine(b *testing.B, filters []filterConf) (*pipeline.Engine, pipeline.Emitter, *atomic.Int64) {
	e := pipeline.NewEngine(pipeline.Options{Flush: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	in := e.AddInput(pipeline.InputSpec{Plugin: "bench", Tag: "bench", MemBufLimit: 64 << 20, Input: idle{}})
	for _, fc := range filters {
		f, ok := pipeline.NewFilter(fc.name)
		if !ok {
			b.Fatalf("no filter %s", fc.name)
		}
		var props []config.Property
		for i := 0; i+1 < len(fc.props); i += 2 {
			props = append(props, config.Property{Key: fc.props[i], Value: fc.props[i+1]})
		}
		if err := pipeline.Configure(f, props); err != nil {
			b.Fatal(err)
		}
		e.AddFilter(pipeline.FilterSpec{Plugin: fc.name, Match: "*", Filter: f})
	}
	delivered := new(atomic.Int64)
	e.AddOutput(pipeline.OutputSpec{Plugin: "count", Match: "*", Output: pipeline.OutputFunc(func(_ context.Context, c *pipeline.Chunk) error {
		delivered.Add(int64(c.Records))
		return nil
	})})
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e, in, delivered
}
