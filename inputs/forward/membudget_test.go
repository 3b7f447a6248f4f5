package forward

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	fwd "github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// serveBudget is serve with a memory budget in the input's Env.
func serveBudget(t *testing.T, emit *pipelinetest.Recorder, b *membudget.Budget) *served {
	t.Helper()
	in := configured(t)
	logs := &pipelinetest.Logs{}
	env := logs.Env("forward.0")
	env.Budget = b
	run := pipelinetest.StartInput(t, in, env, emit)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &served{in: in, logs: logs, addr: in.ListenAddr()}
}

// A compressed message is inflated through a small window: one far larger than the
// budget once inflated is buffered whole and acked; one whose single entry cannot fit
// the budget is refused with one warning, not acked, and nothing is reserved after.
func TestCompressedMessageWithinMemoryBudget(t *testing.T) {
	b := membudget.New(1536 << 10)
	rec := pipelinetest.NewRecorder()
	s := serveBudget(t, rec, b)

	const n = 20000 // 1.8 MB inflated (380 KB on the wire), more than the budget
	c := s.dial(t)
	if _, err := c.Write(fwd.AppendCompressedPackedForward(nil, "t", chunkPlain(t, n), fwd.Options{Chunk: "big"})); err != nil {
		t.Fatal(err)
	}
	readAck(t, fwd.NewDecoder(c, fwd.Limits{}), "big")
	checkArrived(t, rec, "t", n, true)

	huge := event.Event{Time: time.Unix(1, 0), Record: event.Map{{"blob", strings.Repeat("y", 1<<20)}}}
	entry, err := event.AppendEntry(nil, &huge)
	if err != nil {
		t.Fatal(err)
	}
	c2 := s.dial(t)
	if _, err := c2.Write(fwd.AppendCompressedPackedForward(nil, "t", entry, fwd.Options{Chunk: "huge"})); err != nil {
		t.Fatal(err)
	}
	// Refused: the connection is closed without an ack.
	if raw, err := io.ReadAll(c2); len(raw) != 0 || err != nil && !errors.Is(err, net.ErrClosed) {
		var oe *net.OpError
		if !errors.As(err, &oe) {
			t.Fatalf("read %d bytes (%v), want the connection closed without an ack", len(raw), err)
		}
	}
	w := s.warnings()
	if len(w) != 1 || !strings.Contains(w[0], "compressed message refused") || !strings.Contains(w[0], "no memory") {
		t.Fatalf("warnings %q, want one saying the message was refused for memory", w)
	}
	if rec.Len() != n {
		t.Fatalf("%d records, want %d: the refused message's entry was buffered", rec.Len(), n)
	}
	c.Close()
	s.in.Close(t.Context())
	if u := b.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved with no message in flight", u)
	}
}
