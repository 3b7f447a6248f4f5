package tail

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const wait = 10 * time.Second

// running is a tail input running on a Recorder.
type running struct {
	in   *Input
	rec  *pipelinetest.Recorder
	stop func()
	done chan struct{} // closed when Run returned
}

// start configures a tail input from kv, runs it and waits for its first pass over the
// files, so what a test writes next is new data.
func start(t *testing.T, kv ...string) *running {
	t.Helper()
	p, err := pipelinetest.NewInput("tail", kv...)
	if err != nil {
		t.Fatal(err)
	}
	return startInput(t, p.(*Input))
}

func startInput(t *testing.T, in *Input) *running {
	t.Helper()
	if err := in.Init(context.Background(), pipeline.Env{Name: "tail.0", Tag: "tail.0"}); err != nil {
		t.Fatal(err)
	}
	in.pending = make(chan struct{}, 1)
	rec := pipelinetest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(done)
		if err := in.Run(ctx, rec); err != nil && !strings.Contains(err.Error(), "refused") {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-in.pending:
	case <-time.After(wait):
		t.Fatal("no first pass")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err := in.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &running{in: in, rec: rec, stop: stop, done: done}
}

// lines returns the key "log" of every record.
func (r *running) lines() []string {
	var out []string
	for _, rc := range r.rec.Records() {
		out = append(out, fmt.Sprint(rc.Event.Record.Value("log")))
	}
	return out
}

// waitLines waits for want and checks that exactly want came, in order.
func (r *running) waitLines(t *testing.T, want ...string) {
	t.Helper()
	if !r.rec.Wait(len(want), wait) {
		t.Fatalf("got lines %q, want %q", r.lines(), want)
	}
	// Anything more would come with the same pass: one more pass settles it.
	r.settle(t)
	if got := r.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got lines %q, want %q", got, want)
	}
}

// waitSet waits for want and checks that exactly want came, in any order.
func (r *running) waitSet(t *testing.T, want ...string) {
	t.Helper()
	if !r.rec.Wait(len(want), wait) {
		t.Fatalf("got lines %q, want %q", r.lines(), want)
	}
	r.settle(t)
	got := r.lines()
	sort.Strings(got)
	w := append([]string(nil), want...)
	sort.Strings(w)
	if strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Fatalf("got lines %q, want %q", r.lines(), want)
	}
}

// settle waits for the input to finish two more passes.
func (r *running) settle(t *testing.T) {
	t.Helper()
	for i := 0; i < 2; i++ {
		select {
		case <-r.in.pending:
		case <-time.After(wait):
			t.Fatal("no pass")
		}
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestRecordShapeAsFluentBit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "hello\n{\"a\":1}\r\n\nlast\n")
	r := start(t, "path", p, "read_from_head", "on", "path_key", "file", "offset_key", "off")
	r.in.tag = "x.*" // Init took the engine's tag; tagFor is checked on its own below
	r.waitLines(t, "hello", `{"a":1}`, "", "last")
	recs := r.rec.Records()
	for i, off := range []int64{0, 6, 15, 16} {
		if got := recs[i].Event.Record.Value("off"); got != off {
			t.Errorf("line %d: off = %v, want %d", i, got, off)
		}
		if got := recs[i].Event.Record.Value("file"); got != p {
			t.Errorf("line %d: file = %v, want %s", i, got, p)
		}
		if len(recs[i].Event.Record) != 3 {
			t.Errorf("line %d: record %v has other keys", i, recs[i].Event.Record)
		}
	}
}

func TestTagStarIsThePathWithDots(t *testing.T) {
	in := New()
	in.tag = "app.*"
	if got := in.tagFor("/var/log/x.log"); got != "app.var.log.x.log" {
		t.Errorf("tag = %q", got)
	}
	in.tag = "plain"
	if got := in.tagFor("/var/log/x.log"); got != "plain" {
		t.Errorf("tag = %q", got)
	}
}

func TestEmitsUnderTheExpandedTag(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "one\n")
	in := New()
	in.Path = []string{p}
	in.ReadFromHead = true
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := in.Init(context.Background(), pipeline.Env{Name: "tail.0", Tag: "k.*"}); err != nil {
		t.Fatal(err)
	}
	in.pending = make(chan struct{}, 1)
	rec := pipelinetest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Run(ctx, rec) }()
	if !rec.Wait(1, wait) {
		t.Fatal("no record")
	}
	cancel()
	<-done
	in.Close(context.Background())
	want := "k." + strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", ".")
	if got := rec.Records()[0].Tag; got != want {
		t.Errorf("tag = %q, want %q", got, want)
	}
}

func TestFollowsGlobsAndExcludes(t *testing.T) {
	for _, inotify := range []string{"on", "off"} {
		t.Run("inotify_"+inotify, func(t *testing.T) {
			dir := t.TempDir()
			a := filepath.Join(dir, "a.log")
			appendFile(t, a, "old line, before start\n")
			r := start(t, "path", filepath.Join(dir, "*.log")+", "+filepath.Join(dir, "*.txt"),
				"exclude_path", "skip*", "inotify_watcher", inotify, "refresh_interval", "0.05")
			appendFile(t, a, "a1\n")
			r.waitLines(t, "a1")
			// A file that appears later is read from its head; an excluded one not at all.
			appendFile(t, filepath.Join(dir, "skip.log"), "excluded\n")
			appendFile(t, filepath.Join(dir, "b.txt"), "b1\nb2\n")
			r.waitLines(t, "a1", "b1", "b2")
		})
	}
}

func TestSkipEmptyAndLongLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	long := strings.Repeat("x", 100)
	appendFile(t, p, "a\n\n"+long+"\nb\n")
	r := start(t, "path", p, "read_from_head", "on", "skip_empty_lines", "on", "skip_long_lines", "on",
		"buffer_chunk_size", "16", "buffer_max_size", "32")
	r.waitLines(t, "a", "b")

	p2 := filepath.Join(dir, "b.log")
	appendFile(t, p2, long+"\nc\n")
	r2 := start(t, "path", p2, "read_from_head", "on", "buffer_chunk_size", "16", "buffer_max_size", "32")
	// Without skip_long_lines the line is cut, never lost.
	if !r2.rec.Wait(2, wait) {
		t.Fatalf("got %q", r2.lines())
	}
	r2.settle(t)
	if got := strings.Join(r2.lines(), ""); got != long+"c" {
		t.Errorf("pieces joined = %q, want the long line and c", got)
	}
}

func TestParserMakesTheRecord(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, `{"level":"warn","n":3}`+"\nnot json\n")
	pr, err := parser.New(parser.Definition{Name: "j", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	in := New()
	in.Path = []string{p}
	in.ReadFromHead = true
	in.PathKey = "file"
	in.ParserImpl = pr
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	r := startInput(t, in)
	if !r.rec.Wait(2, wait) {
		t.Fatal("records missing")
	}
	recs := r.rec.Records()
	if recs[0].Event.Record.Value("level") != "warn" || recs[0].Event.Record.Value("file") != p {
		t.Errorf("parsed record = %v", recs[0].Event.Record)
	}
	if recs[1].Event.Record.Value("log") != "not json" {
		t.Errorf("unparsed line = %v, want it under log", recs[1].Event.Record)
	}
}

func TestUnknownParserIsAConfigError(t *testing.T) {
	_, err := pipelinetest.NewInput("tail", "path", "/x", "parser", "nope")
	if err == nil || !strings.Contains(err.Error(), `key "parser"`) {
		t.Errorf("err = %v, want it at the key parser", err)
	}
	_, err = pipelinetest.NewInput("tail", "read_from_head", "on")
	if err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("no path: err = %v", err)
	}
}

func TestRenameAndCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "")
	r := start(t, "path", p, "rotate_wait", "0.2", "refresh_interval", "0.05")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.WriteString("1\nhalf")
	r.waitLines(t, "1")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	// The writer still has the old file: the line it began ends there.
	w.WriteString(" and end\n2\n")
	appendFile(t, p, "3\n")
	// Two files: the order holds within each, not across them.
	r.waitSet(t, "1", "half and end", "2", "3")
	if got := strings.Join(r.lines(), ","); strings.Index(got, "half and end") > strings.Index(got, ",2") {
		t.Errorf("lines of the old file out of order: %s", got)
	}
	if got := r.rec.Records()[3].Tag; got != "" && got != "tail.0" {
		t.Errorf("tag = %q", got)
	}
}

func TestCopyTruncateAndDelete(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "")
	r := start(t, "path", p, "rotate_wait", "0.1", "refresh_interval", "0.05")
	appendFile(t, p, "1\n2\n")
	r.waitLines(t, "1", "2")
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "3\n")
	r.waitLines(t, "1", "2", "3")
	// Deleted while open, the rest still written through a descriptor: read to the end.
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	w.WriteString("4\n")
	w.Close()
	r.waitLines(t, "1", "2", "3", "4")
	if err := waitFor(func() bool { r.settle(t); return r.in.nOpen.Load() == 0 }); err != nil {
		t.Errorf("deleted file still open after rotate_wait: %v", err)
	}
	// A new file at the path (the filesystem may give it the old inode) is read.
	appendFile(t, p, "5\n")
	r.waitLines(t, "1", "2", "3", "4", "5")
}

// waitFor polls cond a bounded number of times (each call waits for input passes).
func waitFor(cond func() bool) error {
	for i := 0; i < 100; i++ {
		if cond() {
			return nil
		}
	}
	return fmt.Errorf("condition not met")
}

func TestLogrotate(t *testing.T) {
	bin, err := exec.LookPath("logrotate")
	if err != nil {
		t.Skip("logrotate is not installed (Debian package logrotate)")
	}
	for _, mode := range []string{"create", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "app.log")
			appendFile(t, p, "")
			conf := filepath.Join(dir, "lr.conf")
			os.WriteFile(conf, []byte(fmt.Sprintf("%s {\n  %s\n  rotate 3\n  missingok\n}\n", p, mode)), 0o644)
			r := start(t, "path", p, "rotate_wait", "0.2", "refresh_interval", "0.05")
			var want []string
			for round := 0; round < 3; round++ {
				for i := 0; i < 50; i++ {
					l := fmt.Sprintf("r%d-%d", round, i)
					want = append(want, l)
					appendFile(t, p, l+"\n")
				}
				r.waitLines(t, want...)
				out, err := exec.Command(bin, "-f", "-s", filepath.Join(dir, "state"), conf).CombinedOutput()
				if err != nil {
					t.Fatalf("logrotate: %v: %s", err, out)
				}
				if mode == "create" {
					// logrotate's create leaves the new file; the app writes to it.
					if _, err := os.Stat(p); err != nil {
						t.Fatalf("no new file after logrotate: %v", err)
					}
				}
			}
			appendFile(t, p, "after\n")
			r.waitLines(t, append(want, "after")...)
		})
	}
}

func TestDBResumesWithoutRereadingOrSkipping(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	db := filepath.Join(dir, "tail.db")
	appendFile(t, p, "1\n2\n")
	r := start(t, "path", p, "read_from_head", "on", "db", db)
	r.waitLines(t, "1", "2")
	r.stop()
	appendFile(t, p, "3\npart")
	r = start(t, "path", p, "read_from_head", "on", "db", db)
	r.waitLines(t, "3")
	r.stop()
	appendFile(t, p, "ial\n4\n")
	r = start(t, "path", p, "read_from_head", "on", "db", db, "db.sync", "full")
	r.waitLines(t, "partial", "4")
}

func TestRefusedBatchIsReadAgain(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	appendFile(t, p, "")
	r := start(t, "path", p, "db", filepath.Join(dir, "db"))
	r.rec.FailWith(fmt.Errorf("refused"))
	appendFile(t, p, "1\n2\n")
	// Run returns the error (the engine calls it again); nothing was committed.
	select {
	case <-r.done:
	case <-time.After(wait):
		t.Fatal("Run did not return the refusal")
	}
	if off, _ := r.in.db.get(r.in.fileList()[0].id); off != 0 {
		t.Fatalf("offset %d committed for refused lines", off)
	}
	r.stop()
	r2 := start(t, "path", p, "db", filepath.Join(dir, "db"))
	r2.waitLines(t, "1", "2")
}

func TestIgnoreOlder(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	appendFile(t, old, "x\n")
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)
	appendFile(t, filepath.Join(dir, "new.log"), "y\n")
	r := start(t, "path", filepath.Join(dir, "*.log"), "read_from_head", "on", "ignore_older", "1h")
	r.waitLines(t, "y")
}

// A thousand files, each with its own lines, all followed.
func TestThousandFiles(t *testing.T) {
	dir := t.TempDir()
	const n = 1000
	for i := 0; i < n; i++ {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), fmt.Sprintf("%d\n", i))
	}
	r := start(t, "path", filepath.Join(dir, "*.log"), "read_from_head", "on")
	if !r.rec.Wait(n, wait) {
		t.Fatalf("%d of %d lines", r.rec.Len(), n)
	}
	// Each gains a line: inotify finds them all.
	for i := 0; i < n; i++ {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), "more\n")
	}
	if !r.rec.Wait(2*n, wait) {
		t.Fatalf("%d of %d lines", r.rec.Len(), 2*n)
	}
	r.settle(t)
	if r.rec.Len() != 2*n {
		t.Errorf("%d lines, want %d", r.rec.Len(), 2*n)
	}
}

// A crash (no Close, the db as the running input last wrote it) loses nothing and
// repeats nothing: the restarted input goes on from the db's offsets.
func TestCrashResumesFromTheDB(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	db := filepath.Join(dir, "tail.db")
	appendFile(t, p, "1\n2\n")
	r := start(t, "path", p, "read_from_head", "on", "db", db)
	r.waitLines(t, "1", "2")
	appendFile(t, p, "3\n")
	r.waitLines(t, "1", "2", "3")
	crashed, err := os.ReadFile(db) // what a kill -9 now would leave
	if err != nil {
		t.Fatal(err)
	}
	r.stop()
	db2 := filepath.Join(dir, "crashed.db")
	os.WriteFile(db2, crashed, 0o644)
	appendFile(t, p, "4\n")
	r2 := start(t, "path", p, "read_from_head", "on", "db", db2)
	r2.waitLines(t, "4")
}

// The built-in multiline parsers join partial lines as Fluent Bit v5.1.1 does (its
// output for the same files, side by side, is in the comments).
func TestMultilineDockerAndCRI(t *testing.T) {
	dir := t.TempDir()
	cri := filepath.Join(dir, "cri.log")
	// {"time":"2019-05-07T18:57:50.904275087+00:00","stream":"stdout","_p":"P","log":"part1 end"}
	// {"time":"2019-05-07T18:57:52.904275087+00:00","stream":"stderr","_p":"F","log":"whole"}
	appendFile(t, cri, "2019-05-07T18:57:50.904275087+00:00 stdout P part1 \n2019-05-07T18:57:51.904275087+00:00 stdout F end\n2019-05-07T18:57:52.904275087+00:00 stderr F whole\n")
	docker := filepath.Join(dir, "docker.log")
	// {"log":"a1 a2\n","stream":"stdout","time":"2019-05-07T18:57:50.904275087Z"}
	// {"log":"b\n","stream":"stderr","time":"2019-05-07T18:57:52.904275087Z"}
	appendFile(t, docker, `{"log":"a1 ","stream":"stdout","time":"2019-05-07T18:57:50.904275087Z"}`+"\n"+
		`{"log":"a2\n","stream":"stdout","time":"2019-05-07T18:57:51.904275087Z"}`+"\n"+
		`{"log":"b\n","stream":"stderr","time":"2019-05-07T18:57:52.904275087Z"}`+"\n")
	for _, tc := range []struct {
		path string
		logs []string
		p    []any
	}{
		{cri, []string{"part1 end", "whole"}, []any{"P", "F"}},
		{docker, []string{"a1 a2\n", "b\n"}, []any{nil, nil}},
	} {
		r := start(t, "path", tc.path, "read_from_head", "on", "multiline.parser", "docker, cri", "path_key", "file")
		r.waitLines(t, tc.logs...)
		recs := r.rec.Records()
		first := time.Date(2019, 5, 7, 18, 57, 50, 904275087, time.UTC)
		if !recs[0].Event.Time.Equal(first) {
			t.Errorf("%s: time %v, want the first part's %v", tc.path, recs[0].Event.Time, first)
		}
		for i, rc := range recs {
			if rc.Event.Record.Value("_p") != tc.p[i] || rc.Event.Record.Value("file") != tc.path {
				t.Errorf("%s: record %d = %v", tc.path, i, rc.Event.Record)
			}
		}
		r.stop()
	}
}
