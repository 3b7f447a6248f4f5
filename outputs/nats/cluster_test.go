package nats

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/natstest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

// agent runs the engine with o as its only output (retrying forever, backoff capped at
// 500ms) and returns the emitter records enter by. The engine stops when the test ends.
func agent(t *testing.T, o *Output) (*pipeline.Engine, pipeline.Emitter) {
	t.Helper()
	e := pipeline.NewEngine(pipeline.Options{Flush: 50 * time.Millisecond, SchedulerBase: 20 * time.Millisecond, SchedulerCap: 500 * time.Millisecond})
	em := e.AddInput(pipeline.InputSpec{Plugin: "test", Input: idle{}})
	e.AddOutput(pipeline.OutputSpec{Plugin: "nats", Match: "*", Output: o, RetryLimit: pipeline.RetryForever})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return e, em
}

// steady emits n records with seq 0..n-1 on tag, perTick every 5ms, calling at(i) before
// record i (to break something mid-way). It returns when all are emitted.
func steady(t *testing.T, em pipeline.Emitter, tag string, n, perTick int, at func(i int)) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; {
		<-tick.C
		for j := 0; j < perTick && i < n; j, i = j+1, i+1 {
			at(i)
			if err := em.Emit(tag, event.Event{Time: time.Now(), Record: event.Map{{"seq", int64(i)}, {"payload", "0123456789abcdef0123456789abcdef"}}}); err != nil {
				t.Fatalf("emit %d: %v", i, err)
			}
		}
	}
}

// delivered waits until the engine reports n records delivered by its output.
func delivered(t *testing.T, e *pipeline.Engine, n int, within time.Duration) {
	t.Helper()
	if !pipelinetest.Eventually(within, func() bool { return e.Metrics().Outputs[0].ProcRecords == uint64(n) }) {
		m := e.Metrics().Outputs[0]
		t.Fatalf("delivered %d of %d records (retries %d, errors %d, queued %d)", m.ProcRecords, n, m.Retries, m.Errors, m.Queued)
	}
}

// A single JetStream server killed during a steady publish and started again a little
// later (same store): every record emitted is in the stream exactly once.
func TestJetStreamServerDownThenBack(t *testing.T) {
	s := natstest.Start(t, natstest.WithJetStream())
	js := addStream(t, s.URL(), "EVENTS", 1, "app.>")
	o := pipelinetest.Output[*Output](t, "nats", "host", s.Host(), "port", fmt.Sprint(s.Port()),
		"jetstream", "on", "stream", "EVENTS", "timeout", "5s", "reconnect_wait", "50ms")
	e, em := agent(t, o)
	const n = 3000
	steady(t, em, "app.down", n, 20, func(i int) {
		switch i {
		case n / 3:
			s.Kill()
		case 2 * n / 3:
			s.Start()
		}
	})
	delivered(t, e, n, 60*time.Second)
	if m := e.Metrics().Outputs[0]; m.Retries == 0 {
		t.Errorf("no retries while the server was down: metrics %+v", m)
	}
	exactlyOnce(t, readStream(t, js, "EVENTS"), n)
}

// A three-node JetStream cluster with an R3 stream; the output knows only the stream
// leader's address (the others it learns from the cluster). That node is killed with
// SIGKILL during a bounded steady publish through the engine: the client fails over to
// the discovered nodes, the stream elects a new leader, chunks not acknowledged are
// retried, and afterwards every record is in the stream exactly once.
func TestJetStreamClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := natstest.StartCluster(t, 3)
	js := addStream(t, c.URLs(), "FLEET", 3, "fleet.>")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, "FLEET")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %v %+v", err, info)
	}
	var leader *natstest.Server
	for _, s := range c.Servers {
		if s.Name() == info.Cluster.Leader {
			leader = s
		}
	}
	if leader == nil {
		t.Fatalf("stream leader %q is none of the servers", info.Cluster.Leader)
	}
	o := pipelinetest.Output[*Output](t, "nats", "host", leader.Host(), "port", fmt.Sprint(leader.Port()),
		"jetstream", "on", "stream", "FLEET", "timeout", "5s", "reconnect_wait", "50ms")
	e, em := agent(t, o)
	const n = 6000
	killed := false
	steady(t, em, "fleet.pi", n, 20, func(i int) {
		if i == n/3 {
			if got := o.nc.ConnectedServerName(); got != leader.Name() {
				t.Logf("the output is connected to %s, the leader is %s", got, leader.Name())
			}
			leader.Kill()
			killed = true
		}
	})
	if !killed {
		t.Fatal("no node was killed")
	}
	delivered(t, e, n, 90*time.Second)
	if got := o.nc.ConnectedServerName(); got == leader.Name() || got == "" {
		t.Fatalf("connected to %q after %s was killed", got, leader.Name())
	}
	seqs := readStream(t, js, "FLEET")
	exactlyOnce(t, seqs, n)
	m := e.Metrics().Outputs[0]
	t.Logf("%d records read back; the output retried %d times, %d messages were already stored", len(seqs), m.Retries, o.dups.Load())
}
