package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// BenchmarkFlush measures records/s published at QoS 1 by Flush (decoding the chunk,
// rendering JSON, topic template, waiting for every PUBACK), beside a bare paho client
// publishing the same, already rendered, payloads in windows of the same size, in the same
// run against the same local mosquitto: the ratio is the output's cost over the client's.
func BenchmarkFlush(b *testing.B) {
	br := mosquittotest.Start(b)
	const perChunk = 1000
	evs := make([]event.Event, perChunk)
	payloads := make([][]byte, perChunk)
	for i := range evs {
		evs[i] = event.Event{Time: time.Unix(1700000000, int64(i)), Record: event.Map{{"device", fmt.Sprintf("d%d", i%10)}, {"seq", i}, {"temp", 21.5}}}
		payloads[i] = []byte(fmt.Sprintf(`{"date":1700000000.0,"device":"d%d","seq":%d,"temp":21.5}`, i%10, i))
	}
	chunk := pipelinetest.MakeChunk("app.web", evs...)
	chunks := (b.N + perChunk - 1) / perChunk

	raw := br.Client(b, "bench-raw", true, nil)
	start := time.Now()
	for c := 0; c < chunks; c++ {
		toks := make([]paho.Token, 0, perChunk)
		for i := range payloads {
			toks = append(toks, raw.Publish(fmt.Sprintf("devices/d%d/web", i%10), 1, false, payloads[i]))
		}
		for _, t := range toks {
			if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
				b.Fatal(t.Error())
			}
		}
	}
	baseRate := float64(chunks*perChunk) / time.Since(start).Seconds()

	o, err := configure("host", br.Host(), "port", fmt.Sprint(br.Port()), "topic", "devices/$device/$TAG[1]")
	if err != nil {
		b.Fatal(err)
	}
	if err := o.Init(context.Background(), pipeline.Env{Name: "mqtt.0", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		b.Fatal(err)
	}
	defer o.Close(context.Background())
	select {
	case <-o.connected():
	case <-time.After(30 * time.Second):
		b.Fatal("not connected")
	}
	b.ReportAllocs()
	b.ResetTimer()
	start = time.Now()
	for c := 0; c < chunks; c++ {
		if err := o.Flush(context.Background(), chunk); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(chunks*perChunk) / time.Since(start).Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(baseRate, "paho-records/s")
	b.ReportMetric(rate/baseRate, "x-paho")
}
