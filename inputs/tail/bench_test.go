package tail

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// countingEmitter counts what it is given and signals when it has want records.
type countingEmitter struct {
	n, want int64
	done    chan struct{}
}

func (c *countingEmitter) Emit(string, event.Event) error { return nil }
func (c *countingEmitter) EmitRaw(_ string, _ []byte, n int) error {
	if atomic.AddInt64(&c.n, int64(n)) >= c.want && c.want > 0 {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	}
	return nil
}
func (c *countingEmitter) Paused() bool { return false }

// BenchmarkReadFromHead reads a 32 MB file of 100-byte lines from its head, as the input
// does after a restart with a backlog; compare with `cat file > /dev/null`.
func BenchmarkReadFromHead(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "big.log")
	line := strings.Repeat("x", 99) + "\n"
	const lines = 320000
	os.WriteFile(p, []byte(strings.Repeat(line, lines)), 0o644)
	b.SetBytes(int64(len(line) * lines))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in := New()
		in.Path = []string{p}
		in.ReadFromHead = true
		if err := in.Validate(); err != nil {
			b.Fatal(err)
		}
		if err := in.Init(context.Background(), pipeline.Env{Name: "tail.0"}); err != nil {
			b.Fatal(err)
		}
		em := &countingEmitter{want: lines, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		ret := make(chan struct{})
		go func() { in.Run(ctx, em); close(ret) }()
		<-em.done
		cancel()
		<-ret
		in.Close(context.Background())
	}
}
