package mqtt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// collector is an output that holds every flush until released, then keeps the records.
type collector struct {
	release chan struct{}
	mu      sync.Mutex
	seqs    map[int64]int
	changed chan struct{}
}

func (c *collector) Flush(ctx context.Context, ch *pipeline.Chunk) error {
	select {
	case <-c.release:
	case <-ctx.Done():
		return pipeline.Retry(ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := ch.Events(func(ev event.Event) error {
		n, _ := ev.Record.Value("seq").(int64)
		c.seqs[n]++
		return nil
	})
	close(c.changed)
	c.changed = make(chan struct{})
	return err
}

func (c *collector) waitUnique(n int, timeout time.Duration) int {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		got, ch := len(c.seqs), c.changed
		c.mu.Unlock()
		if got >= n {
			return got
		}
		select {
		case <-ch:
		case <-timer.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.seqs)
		}
	}
}

// Through a real engine with a small mem_buf_limit and an output that holds every chunk:
// the engine pauses the input (Emit blocks), and every message published meanwhile is
// delivered once the output lets go.
func TestEngineBackpressureLosesNothing(t *testing.T) {
	const total = 600 // within mosquitto's default max_queued_messages (1000)
	b := mosquittotest.Start(t)
	in := New()
	if err := pipeline.Configure(in, []config.Property{
		{Key: "host", Value: b.Host()}, {Key: "port", Value: fmt.Sprint(b.Port())},
		{Key: "topics", Value: "bp/# 1"}, {Key: "clean_session", Value: "off"}, {Key: "client_id", Value: "bp-sub"},
	}); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan struct{}, 16)
	in.onSubscribed = func() { subscribed <- struct{}{} }

	var logs pipelinetest.Logs
	out := &collector{release: make(chan struct{}), seqs: map[int64]int{}, changed: make(chan struct{})}
	e := pipeline.NewEngine(pipeline.Options{Flush: 20 * time.Millisecond, Logger: logs.Logger()})
	e.AddOutput(pipeline.OutputSpec{Plugin: "hold", Match: "*", Output: out, RetryLimit: pipeline.RetryForever})
	e.AddInput(pipeline.InputSpec{Plugin: "mqtt", Input: in, MemBufLimit: 2048})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	waitSubscribed(t, subscribed)

	pub := b.Client(t, "bp-pub", true, nil)
	for i := 0; i < total; i++ {
		mosquittotest.Publish(t, pub, "bp/x", 1, false, []byte(fmt.Sprintf(`{"seq":%d,"pad":"%0100d"}`, i, i)))
	}
	m := e.Metrics().Inputs[0]
	if m.Pauses == 0 {
		t.Fatalf("the input was never paused (buffered %d of %d bytes): the test does not test backpressure", m.Buffered, m.Limit)
	}
	close(out.release)
	got := out.waitUnique(total, 60*time.Second)
	t.Logf("mem_buf_limit 2048, %d messages published while the output held every chunk: input paused %d times, %d distinct delivered, %d connection losses",
		total, e.Metrics().Inputs[0].Pauses, got, countLogs(&logs, "connection lost"))
	if got != total {
		t.Fatalf("%d of %d messages delivered after the pause", got, total)
	}
}
