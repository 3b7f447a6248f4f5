package tail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
)

// lineSink is an output counting the lines it delivers; it refuses while down.
type lineSink struct {
	down atomic.Bool
	mu   sync.Mutex
	seen map[string]int
}

func (s *lineSink) Flush(_ context.Context, c *pipeline.Chunk) error {
	if s.down.Load() {
		return pipeline.Retry(errors.New("down"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.Events(func(ev event.Event) error {
		l, _ := ev.Record.Value("log").(string)
		s.seen[l]++
		return nil
	})
}

func (s *lineSink) counts() (distinct, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		dups += n - 1
	}
	return len(s.seen), dups
}

// agent runs a tail input with db and storage.type filesystem in an engine.
func agent(t *testing.T, store, log, db string, out *lineSink, kv ...string) *pipeline.Engine {
	t.Helper()
	in, err := pipelinetest.NewInput("tail", append([]string{"path", log, "db", db, "read_from_head", "on", "refresh_interval", "1"}, kv...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, Grace: 50 * time.Millisecond,
		SchedulerBase: time.Millisecond, SchedulerCap: 5 * time.Millisecond,
		Storage: pipeline.StorageOptions{Path: store, Sync: pipeline.SyncNormal}})
	e.AddInput(pipeline.InputSpec{Plugin: "tail", Input: in, Filesystem: true})
	e.AddOutput(pipeline.OutputSpec{Plugin: "sink", Match: "*", Output: out, RetryLimit: pipeline.RetryForever})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	fh.WriteString(b.String())
}

// dbOffset is the offset the db holds for its one file (-1: none).
func dbOffset(path string) int64 {
	db, err := openDB(path, syncOff)
	if err != nil || len(db.entries) != 1 {
		return -1
	}
	for _, e := range db.entries {
		return e.offset
	}
	return -1
}

// TestCheckpointWinsOverAnOlderDB plays the kill -9 between a batch's chunk write and
// the db save that follows it, deterministically: the db is put back to what it held
// before the last batch. The restart resumes from the offset written with the lines, so
// no line is read twice, whether the chunk is still on disk (output down) or was
// delivered and removed (its checkpoint is then in the store's checkpoints file).
func TestCheckpointWinsOverAnOlderDB(t *testing.T) {
	dir := t.TempDir()
	store, log, db := filepath.Join(dir, "storage"), filepath.Join(dir, "app.log"), filepath.Join(dir, "tail.db")
	appendLines(t, log, 0, 100)
	size := func() int64 { st, _ := os.Stat(log); return st.Size() }
	out := &lineSink{seen: map[string]int{}}
	out.down.Store(true)
	e := agent(t, store, log, db, out)
	if !pipelinetest.Eventually(10*time.Second, func() bool { return dbOffset(db) == size() }) {
		t.Fatalf("db offset %d, want %d", dbOffset(db), size())
	}
	stale, _ := os.ReadFile(db)
	appendLines(t, log, 100, 200)
	if !pipelinetest.Eventually(10*time.Second, func() bool { return dbOffset(db) == size() }) {
		t.Fatalf("db offset %d, want %d", dbOffset(db), size())
	}
	e.Stop(context.Background())
	os.WriteFile(db, stale, 0o644) // the kill came before the db's save

	out.down.Store(false)
	e = agent(t, store, log, db, out)
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 200 }) {
		d, _ := out.counts()
		t.Fatalf("%d of 200 lines delivered", d)
	}
	stale, _ = os.ReadFile(db)
	appendLines(t, log, 200, 210)
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 210 }) {
		t.Fatal("lines after the restart not delivered")
	}
	e.Stop(context.Background())
	if m, _ := filepath.Glob(filepath.Join(store, "*", "*.flb")); len(m) != 0 {
		t.Fatalf("chunks left: %v", m)
	}
	os.WriteFile(db, stale, 0o644)

	e = agent(t, store, log, db, out)
	appendLines(t, log, 210, 220)
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 220 }) {
		t.Fatal("lines after the second restart not delivered")
	}
	e.Stop(context.Background())
	if d, dups := out.counts(); d != 220 || dups != 0 {
		t.Fatalf("%d distinct lines, %d duplicates: want 220 once each", d, dups)
	}
}

// TestCheckpointDeletedWithTheFile: a file deleted and closed (rotate_wait over) has its
// checkpoint deleted too, so an inode reused later is read from its beginning.
func TestCheckpointDeletedWithTheFile(t *testing.T) {
	dir := t.TempDir()
	store, log, db := filepath.Join(dir, "storage"), filepath.Join(dir, "app.log"), filepath.Join(dir, "tail.db")
	appendLines(t, log, 0, 10)
	out := &lineSink{seen: map[string]int{}}
	e := agent(t, store, log, db, out, "rotate_wait", "0.05")
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 10 }) {
		t.Fatal("lines not delivered")
	}
	os.Remove(log)
	if !pipelinetest.Eventually(10*time.Second, func() bool { return dbOffset(db) == -1 }) {
		t.Fatal("the deleted file is still in the db")
	}
	e.Stop(context.Background())
	st, err := storage.Open(storage.Options{Dir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Load(); err != nil {
		t.Fatal(err)
	}
	if got := st.Checkpoints("tail.0"); len(got) != 0 {
		t.Fatalf("checkpoints left after the file was forgotten: %q", got)
	}
}

// TestCheckpointKeepsAPendingMultilineMessage: with multiline.parser cri, a message whose
// end is not written yet is not emitted, and the checkpoint stays at its first part: after
// a restart with an older db, it is read again and joined once, and nothing before it
// comes twice.
func TestCheckpointKeepsAPendingMultilineMessage(t *testing.T) {
	dir := t.TempDir()
	store, log, db := filepath.Join(dir, "storage"), filepath.Join(dir, "app.log"), filepath.Join(dir, "tail.db")
	write := func(s string) {
		fh, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteString(s)
		fh.Close()
	}
	const ts = "2024-01-01T00:00:00.000000000Z"
	write(ts + " stdout F one\n" + ts + " stdout F two\n" + ts + " stdout P three-a \n")
	out := &lineSink{seen: map[string]int{}}
	e := agent(t, store, log, db, out, "multiline.parser", "cri")
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 2 }) {
		t.Fatal("the complete messages were not delivered")
	}
	e.Stop(context.Background())
	os.WriteFile(db, nil, 0o644) // the kill came before the db's save

	write(ts + " stdout F three-b\n")
	e = agent(t, store, log, db, out, "multiline.parser", "cri")
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 3 }) {
		d, _ := out.counts()
		t.Fatalf("%d of 3 messages delivered", d)
	}
	e.Stop(context.Background())
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.seen["one"] != 1 || out.seen["two"] != 1 || out.seen["three-a three-b"] != 1 || len(out.seen) != 3 {
		t.Fatalf("delivered %q", out.seen)
	}
}

// TestCheckpointAfterCopytruncate: a file truncated in place and written again is read
// from its beginning; the checkpoints follow it there, so a restart with the db of before
// the truncation reads none of the new lines twice.
func TestCheckpointAfterCopytruncate(t *testing.T) {
	dir := t.TempDir()
	store, log, db := filepath.Join(dir, "storage"), filepath.Join(dir, "app.log"), filepath.Join(dir, "tail.db")
	appendLines(t, log, 0, 20)
	out := &lineSink{seen: map[string]int{}}
	e := agent(t, store, log, db, out)
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 20 }) {
		t.Fatal("lines not delivered")
	}
	stale, _ := os.ReadFile(db)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, log, 100, 103)
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 23 }) {
		d, _ := out.counts()
		t.Fatalf("%d of 23 lines delivered", d)
	}
	e.Stop(context.Background())
	os.WriteFile(db, stale, 0o644)
	e = agent(t, store, log, db, out)
	appendLines(t, log, 103, 105)
	if !pipelinetest.Eventually(10*time.Second, func() bool { d, _ := out.counts(); return d == 25 }) {
		t.Fatal("lines after the restart not delivered")
	}
	e.Stop(context.Background())
	if d, dups := out.counts(); d != 25 || dups != 0 {
		t.Fatalf("%d distinct lines, %d duplicates: want 25 once each", d, dups)
	}
}
