package forward

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
	fwd "github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// countEmitter counts records and keeps nothing: the input's own cost.
type countEmitter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countEmitter) Emit(string, event.Event) error { c.add(1); return nil }
func (c *countEmitter) EmitRaw(_ string, _ []byte, n int) error {
	c.add(int64(n))
	return nil
}
func (c *countEmitter) Paused() bool { return false }
func (c *countEmitter) add(n int64) {
	if c.n.Add(n) == c.want {
		close(c.done)
	}
}

// BenchmarkReceive sends b.N messages of 1000 records over TCP to the input (emitting
// into a counter), beside the baseline of a TCP server that only reads the same bytes.
func BenchmarkReceive(b *testing.B) {
	const per = 1000
	data := chunkPlain(b, per)
	for _, mode := range []fwd.Mode{fwd.ModeMessage, fwd.ModeForward, fwd.ModePackedForward, fwd.ModeCompressedPackedForward} {
		var wire []byte
		switch mode {
		case fwd.ModeMessage: // 1000 messages of one record
			for rest := data; len(rest) > 0; {
				r, err := event.SkipEntry(rest)
				if err != nil {
					b.Fatal(err)
				}
				wire = append(wire, 0x93, 0xa5, 'b', 'e', 'n', 'c', 'h')
				wire = append(wire, rest[1:len(rest)-len(r)]...)
				rest = r
			}
		case fwd.ModeForward:
			wire = fwd.AppendForward(nil, "bench", data, per, fwd.Options{})
		case fwd.ModePackedForward:
			wire = fwd.AppendPackedForward(nil, "bench", data, fwd.Options{})
		case fwd.ModeCompressedPackedForward:
			wire = fwd.AppendCompressedPackedForward(nil, "bench", data, fwd.Options{})
		}
		b.Run("baseline-read-"+mode.String(), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- 0
					return
				}
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				done <- n
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(wire); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if n := <-done; n != int64(b.N*len(wire)) {
				b.Fatalf("read %d bytes", n)
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(mode.String(), func(b *testing.B) {
			em := &countEmitter{want: int64(b.N * per), done: make(chan struct{})}
			in := configured(b)
			if err := in.Init(context.Background(), discardEnv()); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- in.Run(ctx, em) }()
			defer func() { cancel(); <-ran }()
			c, err := net.Dial("tcp", in.ListenAddr())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(wire); err != nil {
					b.Fatal(err)
				}
			}
			<-em.done
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func discardEnv() pipeline.Env {
	return pipeline.Env{Name: "forward.0", Tag: "forward.0", Logger: slog.New(slog.DiscardHandler)}
}
