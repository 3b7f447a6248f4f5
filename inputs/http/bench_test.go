package http

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// discard is an Emitter that keeps nothing: the input's own cost.
type discard struct{ n int }

func (d *discard) Emit(string, event.Event) error          { d.n++; return nil }
func (d *discard) EmitRaw(_ string, _ []byte, n int) error { d.n += n; return nil }
func (d *discard) Paused() bool                            { return false }

var smallRecord = []byte(`{"msg":"GET /api/v1/items 200 12ms","level":"info","host":"web-1","n":42}`)

// BenchmarkHandle is one small-record request through the handler, no server: parse,
// encode, hand to the engine.
func BenchmarkHandle(b *testing.B) {
	in := New()
	in.log = slog.New(slog.DiscardHandler)
	d := &discard{}
	in.emit.Store(&emitterBox{d})
	b.ReportAllocs()
	b.SetBytes(int64(len(smallRecord)))
	for i := 0; i < b.N; i++ {
		if rep := in.handle("POST", "/app.log", "application/json", "", "", smallRecord); rep.status != 201 {
			b.Fatal(rep)
		}
	}
}

// BenchmarkServe is one small-record request over a keep-alive connection through the
// whole input, server included, on embedhttp and on net/http side by side (parallel
// clients, GOMAXPROCS of them). allocs/op count the server and the handler: the raw
// client allocates nothing per request. Compare ns/op (CPU is shared with the clients).
func BenchmarkServe(b *testing.B) {
	for _, srv := range []string{ServerEmbed, ServerNetHTTP} {
		b.Run(strings.ReplaceAll(srv, "/", ""), func(b *testing.B) {
			in := configured(b, "server", srv)
			var logs pipelinetest.Logs
			if err := in.Init(context.Background(), logs.Env("http.0")); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			started := make(chan struct{})
			in.started = started
			done := make(chan error, 1)
			d := &countEmitter{}
			go func() { done <- in.Run(ctx, d) }()
			<-started
			addr := in.ListenAddr()
			req := []byte("POST /app.log HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
				strconv.Itoa(len(smallRecord)) + "\r\n\r\n" + string(smallRecord))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				r := bufio.NewReader(conn)
				for pb.Next() {
					if _, err := conn.Write(req); err != nil {
						b.Error(err)
						return
					}
					if code, err := readStatus(r); err != nil || code != 201 {
						b.Errorf("status %d, %v", code, err)
						return
					}
				}
			})
			b.StopTimer()
			cancel()
			<-done
			if int(d.n.Load()) != b.N {
				b.Fatalf("%d records for %d requests", d.n.Load(), b.N)
			}
		})
	}
}

// countEmitter counts records, safe for concurrent use.
type countEmitter struct{ n atomic.Int64 }

func (d *countEmitter) Emit(string, event.Event) error { d.n.Add(1); return nil }
func (d *countEmitter) EmitRaw(_ string, _ []byte, n int) error {
	d.n.Add(int64(n))
	return nil
}
func (d *countEmitter) Paused() bool { return false }

// readStatus reads one response (head and Content-Length body) and returns its status.
func readStatus(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	length := 0
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && bytes.EqualFold(h[:15], []byte("content-length:")) {
			for _, c := range bytes.TrimSpace(h[15:]) {
				length = length*10 + int(c-'0')
			}
		}
	}
	_, err = r.Discard(length)
	return code, err
}
