package kmsg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// seqSink counts the sequence numbers it delivers; it refuses while down.
type seqSink struct {
	down atomic.Bool
	mu   sync.Mutex
	seen map[int64]int
}

func (s *seqSink) Flush(_ context.Context, c *pipeline.Chunk) error {
	if s.down.Load() {
		return pipeline.Retry(errors.New("down"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.Events(func(ev event.Event) error {
		n, _ := ev.Record.Value("sequence").(int64)
		s.seen[n]++
		return nil
	})
}

func (s *seqSink) counts() (distinct, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		dups += n - 1
	}
	return len(s.seen), dups
}

// TestCheckpointWinsOverAnOlderDB: with db and storage.type filesystem, the position
// goes into the chunks with each message; a kill before the db's save (played by
// emptying the db) emits nothing twice at the restart.
func TestCheckpointWinsOverAnOlderDB(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "kmsg.seq")
	out := &seqSink{seen: map[int64]int{}}
	run := func(extra ...string) *pipeline.Engine {
		in := pipelinetest.Input[*Input](t, "kmsg", "db", db, "db.sync", "normal")
		fromFixture(t, in, "boot-a", extra...)
		e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, Grace: 50 * time.Millisecond,
			SchedulerBase: time.Millisecond, SchedulerCap: 5 * time.Millisecond,
			Storage: pipeline.StorageOptions{Path: filepath.Join(dir, "storage"), Sync: pipeline.SyncNormal}})
		e.AddInput(pipeline.InputSpec{Plugin: "kmsg", Input: in, Filesystem: true})
		e.AddOutput(pipeline.OutputSpec{Plugin: "sink", Match: "*", Output: out, RetryLimit: pipeline.RetryForever})
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return e
	}
	out.down.Store(true)
	e := run()
	if !pipelinetest.Eventually(10*time.Second, func() bool { b, _ := os.ReadFile(db); return string(b) == "boot-a 9002\n" }) {
		t.Fatal("the fixture was not read")
	}
	e.Stop(context.Background())
	os.WriteFile(db, nil, 0o644) // the kill came before the db's save

	out.down.Store(false)
	e = run("6,9003,52001000000,-;after the restart")
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 7 }) {
		d, _ := out.counts()
		t.Fatalf("%d of 7 messages delivered", d)
	}
	e.Stop(context.Background())
	os.WriteFile(db, nil, 0o644)

	e = run("6,9003,52001000000,-;after the restart", "6,9004,52001000001,-;and more")
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 8 }) {
		t.Fatal("the message after the second restart was not delivered")
	}
	e.Stop(context.Background())
	if d, dups := out.counts(); d != 8 || dups != 0 {
		t.Fatalf("%d distinct messages, %d duplicates: want 8 once each", d, dups)
	}
}
