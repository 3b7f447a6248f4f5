package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

// The v2 metrics' data: a chunk being flushed is busy for its input; once delivered it
// counts in the (input, output) route with its latency, and no chunk is left.
func TestRoutingLatencyAndChunkCounts(t *testing.T) {
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(10)
	out.gate = make(chan struct{})
	e.AddOutput(OutputSpec{Plugin: "gated", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	defer e.Stop(context.Background())
	for i := 0; i < 10; i++ {
		if err := em.Emit("app", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushAll()
	if !poll.Until(10*time.Second, func() bool { return e.Metrics().Inputs[0].ChunksBusy == 1 }) {
		t.Fatalf("no busy chunk while the output holds it: %+v", e.Metrics().Inputs[0])
	}
	m := e.Metrics()
	in := m.Inputs[0]
	if in.Chunks != 1 || in.ChunksUp != 1 || in.ChunksDown != 0 || in.ChunksBusyBytes <= 0 {
		t.Errorf("input chunks %+v: want 1 chunk, up, busy with its bytes", in)
	}
	if m.Chunks.Total != 1 || m.Chunks.Mem != 1 || m.Chunks.FS != 0 {
		t.Errorf("engine chunks %+v: want 1 memory chunk", m.Chunks)
	}
	if len(m.Outputs[0].Routes) != 0 {
		t.Errorf("routes before delivery: %+v", m.Outputs[0].Routes)
	}
	close(out.gate)
	out.waitAll(t, 10*time.Second)
	if !poll.Until(10*time.Second, func() bool { return len(e.Metrics().Outputs[0].Routes) == 1 && e.Metrics().Chunks.Total == 0 }) {
		t.Fatalf("after delivery: %+v, chunks %+v", e.Metrics().Outputs[0], e.Metrics().Chunks)
	}
	o := e.Metrics().Outputs[0]
	r := o.Routes[0]
	if r.Input != e.Metrics().Inputs[0].Name || r.Records != 10 || r.Bytes != o.ProcBytes {
		t.Errorf("route %+v: want 10 records and the output's %d bytes from %s", r, o.ProcBytes, e.Metrics().Inputs[0].Name)
	}
	if h := r.Latency; h.Count != 1 || h.Counts[len(h.Counts)-1] != 1 || h.Sum <= 0 || len(h.Counts) != len(LatencyBuckets)+1 {
		t.Errorf("latency %+v: want one observation", h)
	}
	if o.TotalLimit != 0 || o.Connections != nil {
		t.Errorf("output %+v: no total limit, no connections", o)
	}
}
