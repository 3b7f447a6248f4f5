package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// counter is an Emitter that counts records and says when it has n.
type counter struct {
	n, want atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func (c *counter) Emit(string, event.Event) error {
	if c.n.Add(1) == c.want.Load() {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}
func (c *counter) EmitRaw(_ string, _ []byte, n int) error { c.n.Add(int64(n)); return nil }
func (c *counter) Paused() bool                            { return false }

// publishAll publishes n QoS 1 JSON messages without waiting for each acknowledgement.
func publishAll(b *testing.B, pub paho.Client, topic string, n int) {
	toks := make([]paho.Token, 0, 1000)
	for i := 0; i < n; i++ {
		toks = append(toks, pub.Publish(topic, 1, false, []byte(fmt.Sprintf(`{"seq":%d,"temp":21.5,"unit":"C"}`, i))))
		if len(toks) == cap(toks) || i == n-1 {
			for _, t := range toks {
				if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
					b.Fatalf("publish: %v", t.Error())
				}
			}
			toks = toks[:0]
		}
	}
}

// BenchmarkSubscribe measures QoS 1 messages/s from a local mosquitto into the Emitter
// (JSON decoding, tag, ack after emit), beside a bare paho subscriber with automatic acks
// and no decoding, in the same run and against the same broker: the ratio is the input's
// cost over the MQTT client alone.
func BenchmarkSubscribe(b *testing.B) {
	br := mosquittotest.Start(b, mosquittotest.WithLines("max_queued_messages 0"))
	pub := br.Client(b, "bench-pub", true, nil)

	// Baseline: paho alone.
	var got atomic.Int64
	baseDone := make(chan struct{})
	var baseOnce sync.Once
	want := int64(b.N)
	subscribed := make(chan struct{}, 1)
	br.Client(b, "bench-base", true, func(c paho.Client) {
		c.Subscribe("base/#", 1, func(paho.Client, paho.Message) {
			if got.Add(1) == want {
				baseOnce.Do(func() { close(baseDone) })
			}
		}).Wait()
		subscribed <- struct{}{}
	})
	<-subscribed
	start := time.Now()
	publishAll(b, pub, "base/x", b.N)
	<-baseDone
	baseRate := float64(b.N) / time.Since(start).Seconds()

	// The input.
	in := New()
	in.Host, in.Port, in.Topics = br.Host(), br.Port(), []string{"bench/# 1"}
	if err := in.Init(context.Background(), pipelineLogs{}.env()); err != nil {
		b.Fatal(err)
	}
	sub := make(chan struct{}, 1)
	in.onSubscribed = func() { sub <- struct{}{} }
	c := &counter{done: make(chan struct{})}
	c.want.Store(int64(b.N))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = in.Run(ctx, c); close(ran) }()
	defer func() { cancel(); <-ran }()
	<-sub
	b.ResetTimer()
	start = time.Now()
	publishAll(b, pub, "bench/x", b.N)
	<-c.done
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(baseRate, "paho-msgs/s")
	b.ReportMetric(rate/baseRate, "x-paho")
}

type pipelineLogs struct{}

func (pipelineLogs) env() pipeline.Env {
	return pipeline.Env{Name: "mqtt.0", Tag: "mqtt.0", Logger: slog.New(slog.DiscardHandler)}
}
