package dummy

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/outputs/null"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// discard is an Emitter that counts records and keeps nothing: the input's own cost.
type discard struct{ records, calls int }

func (d *discard) Emit(string, event.Event) error { d.records++; d.calls++; return nil }
func (d *discard) EmitRaw(_ string, _ []byte, n int) error {
	d.records += n
	d.calls++
	return nil
}
func (d *discard) Paused() bool { return false }

// benchInput is a dummy as fast as it can go: b.N records, one per generation.
func benchInput(b *testing.B, props ...string) *Input {
	b.Helper()
	return pipelinetest.Init(b, pipelinetest.Input[*Input](b, "dummy", append([]string{"rate", "1000000000", "samples", strconv.Itoa(b.N)}, props...)...), env)
}

// BenchmarkGenerate measures the input alone: encoding and batching, no engine.
func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name  string
		props []string
	}{
		{"default", nil},
		{"fixed_timestamp", []string{"fixed_timestamp", "on"}},
		{"metadata", []string{"metadata", `{"k":"v"}`}},
		{"large", []string{"dummy", `{"log":"2024-01-01T00:00:00Z INFO request served in 12ms","status":200,"path":"/api/v1/items","host":"web-1","bytes":5120}`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := benchInput(b, bc.props...)
			var d discard
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if err := in.Run(context.Background(), &d); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.records)/time.Since(start).Seconds(), "records/s")
			if d.records != b.N {
				b.Fatalf("emitted %d records, want %d", d.records, b.N)
			}
		})
	}
}

// BenchmarkThroughEngine measures dummy records/s into the engine's chunks, delivered to
// the null output, against the same record emitted one Emit call at a time.
func BenchmarkThroughEngine(b *testing.B) {
	run := func(b *testing.B, in pipeline.Input) {
		e := pipeline.NewEngine(pipeline.Options{Flush: 50 * time.Millisecond})
		e.AddOutput(pipeline.OutputSpec{Plugin: "null", Match: "*", Output: null.Output{}})
		e.AddInput(pipeline.InputSpec{Plugin: "dummy", Tag: "bench", Input: in, MemBufLimit: -1})
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		if err := e.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			m := e.Metrics()
			if m.Inputs[0].Records >= uint64(b.N) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		e.Stop(context.Background())
	}
	b.Run("dummy", func(b *testing.B) { run(b, benchInput(b)) })
	b.Run("emit-per-record", func(b *testing.B) { run(b, &perRecord{n: b.N}) })
}

// perRecord is the alternative design: one Emit (encode) per record.
type perRecord struct{ n int }

func (p *perRecord) Run(ctx context.Context, emit pipeline.Emitter) error {
	rec := map[string]any{"message": "dummy"}
	for i := 0; i < p.n && ctx.Err() == nil; i++ {
		if err := emit.Emit("", event.Event{Time: time.Now(), Record: event.FromMap(rec)}); err != nil {
			return nil
		}
	}
	return nil
}
