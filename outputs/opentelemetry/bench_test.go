package opentelemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// BenchmarkFlush sends a chunk of 10 000 dummy records to a receiver that only reads.
func BenchmarkFlush(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	_, port, _ := cutLast(srv.Listener.Addr().String(), ":")
	for _, format := range []string{"protobuf", "json"} {
		b.Run(format, func(b *testing.B) {
			o, err := configure("port", port, "format", format, "logs_body_key", "$message", "logs_body_key_attributes", "on")
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Init(context.Background(), pipeline.Env{Name: "opentelemetry.0"}); err != nil {
				b.Fatal(err)
			}
			evs := make([]event.Event, 10000)
			for i := range evs {
				evs[i] = event.Event{Time: time.Unix(1, int64(i)), Record: event.Map{{"message", "dummy"}, {"level", "info"}, {"temp", 21.5}, {"Mem.used", int64(1024)}}}
			}
			c := pipelinetest.MakeChunk("bench", evs...)
			b.SetBytes(int64(len(c.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := o.Flush(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
