// Package filters_test measures chains of filters through a real engine. (The filters are
// in the subpackages; this directory holds only this benchmark.)
package filters_test

import (
	"context"
	"log/slog"
	"sync/atomic"
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
)

type filterConf struct {
	name  string
	props []string
}

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

// BenchmarkChain pushes records through an engine (input Emit, filters, chunk encoding,
// router, output) with no filter, then with chains of five, in the same run. The figure to
// read is each chain's ns/record minus the no-filter baseline's: what the filters cost.
//
//	go test -run XXX -bench Chain -benchmem ./filters/
func BenchmarkChain(b *testing.B) {
	five := []filterConf{
		{"grep", []string{"regex", "level ^info$"}},
		{"modify", []string{"rename", "temp temperature", "add", "unit C"}},
		{"record_modifier", []string{"record", "host gateway-1"}},
		{"nest", []string{"operation", "nest", "wildcard", "Mem.*", "nest_under", "mem"}},
		{"throttle", []string{"rate", "1000000000000", "window", "5", "interval", "1s"}},
	}
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
	var delivered atomic.Int64
	e.AddOutput(pipeline.OutputSpec{Plugin: "count", Match: "*", Output: pipeline.OutputFunc(func(_ context.Context, c *pipeline.Chunk) error {
		delivered.Add(int64(c.Records))
		return nil
	})})
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rec := map[string]any{"message": "dummy", "level": "info", "temp": 21.5, "Mem.used": int64(1024), "Mem.free": int64(2048)}
		if err := in.Emit("", event.Event{Time: now, Record: rec}); err != nil {
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
