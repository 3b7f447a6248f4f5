package tcp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

type countEmitter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countEmitter) Emit(string, event.Event) error {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
	return nil
}
func (c *countEmitter) EmitRaw(string, []byte, int) error { return nil }
func (c *countEmitter) Paused() bool                      { return false }

// BenchmarkReceive: records per second one connection brings in, lines of about 100
// bytes, as format none and as format json.
func BenchmarkReceive(b *testing.B) {
	for _, format := range []string{"none", "json"} {
		b.Run(format, func(b *testing.B) {
			line := `2026-12-06T01:00:00Z gw-1 app[42]: GET /api/v1/items 200 12ms temperature=21.5`
			if format == "json" {
				line = `{"time":"2026-12-06T01:00:00Z","host":"gw-1","msg":"GET /api/v1/items 200 12ms","t":21.5}`
			}
			var payload bytes.Buffer
			for i := 0; i < b.N; i++ {
				payload.WriteString(line)
				payload.WriteByte('\n')
			}
			in := pipelinetest.Input[*Input](b, "tcp", "listen", "127.0.0.1", "port", "0", "format", format)
			pipelinetest.Init(b, in, (&pipelinetest.Logs{}).Env("tcp.0"))
			emit := &countEmitter{want: int64(b.N), done: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- in.Run(ctx, emit) }()
			c, err := net.Dial("tcp", in.ListenAddr())
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(line) + 1))
			b.ResetTimer()
			go func() { c.Write(payload.Bytes()); c.Close() }()
			select {
			case <-emit.done:
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d records", emit.n.Load(), b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			cancel()
			if err := <-ran; err != nil {
				b.Fatal(fmt.Errorf("Run: %w", err))
			}
		})
	}
}
