package nats

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/natstest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

var benchEvents = func() []event.Event {
	evs := make([]event.Event, 1000)
	for i := range evs {
		evs[i] = event.Event{Time: time.Unix(1700000000, int64(i)), Record: event.Map{{"message", "dummy"}, {"level", "info"}, {"temp", 21.5}, {"seq", int64(i)}}}
	}
	return evs
}()

func benchChunk(int) *pipeline.Chunk { return pipelinetest.MakeChunk("bench.dummy", benchEvents...) }

// BenchmarkEncode is the output's own work on a chunk of 1000 records: decode, JSON, split
// into messages (publish discards them).
func BenchmarkEncode(b *testing.B) {
	c := benchChunk(1000)
	var pool sync.Pool
	b.ReportAllocs()
	b.SetBytes(int64(len(c.Data)))
	for b.Loop() {
		bt := batcher{limit: 1 << 20, tag: c.Tag, reuse: true, pool: &pool, hint: len(c.Data) * 2,
			publish: func(string, []byte) error { return nil }}
		if err := c.Events(func(ev event.Event) error { _, err := bt.add("s", &ev); return err }); err != nil {
			b.Fatal(err)
		}
		if err := bt.close(); err != nil {
			b.Fatal(err)
		}
		bt.release()
	}
}

// BenchmarkFlush publishes a chunk of 1000 records to a real nats-server, core and
// JetStream (R1, memory stream).
func BenchmarkFlush(b *testing.B) {
	for _, js := range []bool{false, true} {
		b.Run(fmt.Sprintf("jetstream=%v", js), func(b *testing.B) {
			s := natstest.Start(b, natstest.WithJetStream())
			kv := []string{"host", s.Host(), "port", fmt.Sprint(s.Port())}
			if js {
				jsc, err := jetstream.New(natstest.Connect(b, s.URL()))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jsc.CreateStream(context.Background(), jetstream.StreamConfig{Name: "B", Subjects: []string{"bench.>"}, Storage: jetstream.MemoryStorage, MaxMsgs: 1000}); err != nil {
					b.Fatal(err)
				}
				kv = append(kv, "jetstream", "on", "stream", "B")
			}
			o := pipelinetest.Output[*Output](b, "nats", kv...)
			if err := o.Init(context.Background(), pipeline.Env{Name: "nats.0"}); err != nil {
				b.Fatal(err)
			}
			defer o.Close(context.Background())
			if !pipelinetest.Eventually(wait, o.nc.IsConnected) {
				b.Fatal("not connected")
			}
			c := benchChunk(1000)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.Data)))
			for i := 0; b.Loop(); i++ {
				if js {
					// Another chunk each time: the same one would be a duplicate the stream
					// drops (its Nats-Msg-Ids), a cheaper path.
					b.StopTimer()
					c = pipelinetest.MakeChunk(fmt.Sprintf("bench.%d", i), benchEvents...)
					b.StartTimer()
				}
				if err := o.Flush(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
