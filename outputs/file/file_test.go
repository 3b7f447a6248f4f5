package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// t0 is 2023-11-14T22:13:20.123456789Z.
var t0 = time.Unix(1700000000, 123456789)

// newFile configures a file output from props (path defaults to a fresh temporary
// directory) and initialises it.
func newFile(t testing.TB, props map[string]string) *Output {
	t.Helper()
	o, err := configure(t, props)
	if err != nil {
		t.Fatal(err)
	}
	return pipelinetest.Init(t, o, pipeline.Env{Name: "file.0"})
}

func configure(t testing.TB, props map[string]string) (*Output, error) {
	t.Helper()
	if _, ok := props["path"]; !ok {
		props = withProp(props, "path", t.TempDir())
	}
	o, err := pipelinetest.As[*Output](pipelinetest.NewOutput("file", pipelinetest.Sorted(props)...))
	if err != nil {
		return nil, fmt.Errorf("Configure: %w", err)
	}
	return o, nil
}

func withProp(props map[string]string, k, v string) map[string]string {
	m := map[string]string{k: v}
	for k, v := range props {
		m[k] = v
	}
	return m
}

func flush(t testing.TB, o *Output, c *pipeline.Chunk) {
	t.Helper()
	if err := o.Flush(context.Background(), c); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sample() *pipeline.Chunk {
	return pipelinetest.MakeChunk("app",
		event.Event{Time: t0, Record: event.Map{{"k", "v"}, {"n", int64(1)}}},
		event.Event{Time: time.Unix(1700000001, 0), Record: event.Map{{"message", "hi"}, {"n", 2.5}, {"ok", true}}},
		event.Event{Time: t0, Record: event.Map{}},
	)
}

func TestFileFormatsExactBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"default is out_file", nil, `app: [1700000000.123456789, {"k":"v","n":1}]
app: [1700000001.000000000, {"message":"hi","n":2.5,"ok":true}]
app: [1700000000.123456789, {}]
`},
		{"out_file", map[string]string{"format": "Out_File"}, `app: [1700000000.123456789, {"k":"v","n":1}]
app: [1700000001.000000000, {"message":"hi","n":2.5,"ok":true}]
app: [1700000000.123456789, {}]
`},
		{"plain", map[string]string{"format": "plain"}, `{"k":"v","n":1}
{"message":"hi","n":2.5,"ok":true}
{}
`},
		{"json_lines", map[string]string{"format": "json_lines"}, `{"date":1700000000.123457,"k":"v","n":1}
{"date":1700000001.0,"message":"hi","n":2.5,"ok":true}
{"date":1700000000.123457}
`},
		{"json_lines dates", map[string]string{"format": "json_lines", "json_date_key": "ts", "json_date_format": "iso8601"},
			`{"ts":"2023-11-14T22:13:20.123456Z","k":"v","n":1}
{"ts":"2023-11-14T22:13:21.000000Z","message":"hi","n":2.5,"ok":true}
{"ts":"2023-11-14T22:13:20.123456Z"}
`},
		{"json_lines no date", map[string]string{"format": "json_lines", "json_date_key": "off"}, `{"k":"v","n":1}
{"message":"hi","n":2.5,"ok":true}
{}
`},
		{"csv", map[string]string{"format": "csv"}, `1700000000.123456789,"v",1
1700000001.000000000,"hi",2.500000,true
`},
		{"csv tab, column names", map[string]string{"format": "csv", "delimiter": "tab", "csv_column_names": "on"},
			"timestamp\t\"k\"\t\"n\"\n1700000000.123456789\t\"v\"\t1\n1700000001.000000000\t\"hi\"\t2.500000\ttrue\n"},
		{"csv ;", map[string]string{"format": "csv", "delimiter": ";"}, `1700000000.123456789;"v";1
1700000001.000000000;"hi";2.500000;true
`},
		{"ltsv", map[string]string{"format": "ltsv"},
			"\"time\":1700000000.123457\t\"k\":\"v\"\t\"n\":1\n\"time\":1700000001.000000\t\"message\":\"hi\"\t\"n\":2.500000\t\"ok\":true\n"},
		{"ltsv delimiters", map[string]string{"format": "ltsv", "delimiter": "space", "label_delimiter": "="},
			`"time"=1700000000.123457 "k"="v" "n"=1
"time"=1700000001.000000 "message"="hi" "n"=2.500000 "ok"=true
`},
		{"template default", map[string]string{"format": "template"}, `1700000000.123457 {message}
1700000001.000000 hi
1700000000.123457 {message}
`},
		{"template quirks", map[string]string{"format": "template", "template": "{k}={n} {{x} {a{message} }end {open"},
			`v=1 {{x} {a{message} }end {open
{k}=2.500000 {{x} {ahi }end {open
{k}={n} {{x} {a{message} }end {open
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newFile(t, tc.props)
			flush(t, o, sample())
			if got := read(t, filepath.Join(o.Path, "app")); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestFileMsgpackFormatWritesChunkAsIs(t *testing.T) {
	o := newFile(t, map[string]string{"format": "msgpack"})
	c := sample()
	flush(t, o, c)
	flush(t, o, c)
	if got := read(t, filepath.Join(o.Path, "app")); got != string(c.Data)+string(c.Data) {
		t.Errorf("file holds %d bytes, want the chunk twice (%d)", len(got), 2*len(c.Data))
	}
}

func TestFileCSVHeaderOnlyInEmptyFile(t *testing.T) {
	o := newFile(t, map[string]string{"format": "csv", "csv_column_names": "true"})
	c := pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"a", "x"}}})
	flush(t, o, c)
	flush(t, o, c)
	want := "timestamp,\"a\"\n1700000000.123456789,\"x\"\n1700000000.123456789,\"x\"\n"
	if got := read(t, filepath.Join(o.Path, "app")); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFileAppendsAcrossFlushesAndKeepsExistingContent(t *testing.T) {
	o := newFile(t, map[string]string{"format": "plain"})
	name := filepath.Join(o.Path, "app")
	if err := os.WriteFile(name, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		flush(t, o, pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"i", int64(i)}}}))
	}
	if got, want := read(t, name), "before\n{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFileNewFilesAreMode0640(t *testing.T) {
	o := newFile(t, map[string]string{"format": "plain"})
	flush(t, o, sample())
	st, err := os.Stat(filepath.Join(o.Path, "app"))
	if err != nil {
		t.Fatal(err)
	}
	// The umask may only take bits away.
	if st.Mode().Perm()&^fileMode != 0 {
		t.Errorf("mode %v, want at most 0640", st.Mode().Perm())
	}
}

// A file moved away by logrotate gets nothing more; the next flush starts a new one.
func TestFileFollowsLogrotate(t *testing.T) {
	o := newFile(t, map[string]string{"format": "plain"})
	name := filepath.Join(o.Path, "app")
	flush(t, o, pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"i", int64(1)}}}))
	if err := os.Rename(name, name+".1"); err != nil {
		t.Fatal(err)
	}
	flush(t, o, pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"i", int64(2)}}}))
	if got := read(t, name+".1"); got != "{\"i\":1}\n" {
		t.Errorf("rotated file: %q", got)
	}
	if got := read(t, name); got != "{\"i\":2}\n" {
		t.Errorf("new file: %q", got)
	}
}

func TestFileKeyNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	o := newFile(t, map[string]string{"path": dir, "file": "all.log", "format": "plain"})
	flush(t, o, pipelinetest.MakeChunk("a", event.Event{Time: t0, Record: event.Map{{"t", "a"}}}))
	flush(t, o, pipelinetest.MakeChunk("b", event.Event{Time: t0, Record: event.Map{{"t", "b"}}}))
	if got := read(t, filepath.Join(dir, "all.log")); got != "{\"t\":\"a\"}\n{\"t\":\"b\"}\n" {
		t.Errorf("got %q", got)
	}

	// Without path, file is a path of its own, as in Fluent Bit configs like File /tmp/x.log.
	abs := filepath.Join(t.TempDir(), "sub", "x.log")
	o = newFile(t, map[string]string{"path": "", "file": abs, "format": "plain", "mkdir": "on"})
	flush(t, o, pipelinetest.MakeChunk("a", event.Event{Time: t0, Record: event.Map{{"t", "a"}}}))
	if got := read(t, abs); got != "{\"t\":\"a\"}\n" {
		t.Errorf("got %q", got)
	}
}

func TestSafeName(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct{ tag, want string }{
		{"app.log", "app.log"},
		{"../../etc/passwd", ".._.._etc_passwd"},
		{"/etc/passwd", "_etc_passwd"},
		{`..\..\windows`, ".._.._windows"},
		{"a\x00b", "a_b"},
		{"new\nline\x7f", "new_line_"},
		{"..", "_"},
		{".", "_"},
		{"", "_"},
		{"...", "..."},
		{"kube.var.log.containers.web-1_default", "kube.var.log.containers.web-1_default"},
	} {
		if got := SafeName(tc.tag); got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.tag, got, tc.want)
		}
	}
	a, b := SafeName(long+"a"), SafeName(long+"b")
	if len(a) > 255 || len(b) > 255 || a == b {
		t.Errorf("long tags: %d and %d bytes, equal=%v; want at most 255 and distinct", len(a), len(b), a == b)
	}
}

// Hostile tags write files directly inside path, and nowhere else.
func TestFileHostileTagsStayInsidePath(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out", "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := newFile(t, map[string]string{"path": dir, "format": "plain"})
	tags := []string{
		"../../escape", "../escape", "/tmp/escape", "..", ".", "", "a/../../b", `..\..\x`,
		"a\x00/../b", "./.", strings.Repeat("../", 100) + "deep", strings.Repeat("y", 400), "ok",
	}
	for _, tag := range tags {
		flush(t, o, pipelinetest.MakeChunk(tag, event.Event{Time: t0, Record: event.Map{{"tag", tag}}}))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Errorf("%s is not a regular file", e.Name())
		}
		got[e.Name()] = true
	}
	for _, tag := range tags {
		if !got[SafeName(tag)] {
			t.Errorf("tag %q: no file %q in path", tag, SafeName(tag))
		}
	}
	// Nothing appeared above path.
	var outside []string
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Dir(p) != dir {
			outside = append(outside, p)
		}
		return nil
	})
	if len(outside) > 0 {
		t.Errorf("files written outside path: %v", outside)
	}
	// "..", "." and "" share one file, with all three records.
	if n := strings.Count(read(t, filepath.Join(dir, "_")), "\n"); n != 3 {
		t.Errorf("file _ holds %d records, want 3", n)
	}
}

// A symbolic link planted in path does not take a tag's records outside it, and the chunk
// fails for good rather than being retried forever.
func TestFileSymlinkInPathDoesNotEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "victim")
	if err := os.WriteFile(target, []byte("safe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "evil")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	o := newFile(t, map[string]string{"path": dir, "format": "plain"})
	err := o.Flush(context.Background(), pipelinetest.MakeChunk("evil", event.Event{Time: t0, Record: event.Map{{"x", "y"}}}))
	if err == nil {
		t.Error("Flush through a symlink leading outside path succeeded")
	} else {
		if pipeline.IsRetry(err) {
			t.Errorf("Flush through a symlink leading outside path = %v, want an error that is not retried", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "outside") || !strings.Contains(msg, "evil") {
			t.Errorf("error %q does not say that file evil resolves outside path", msg)
		}
	}
	if got := read(t, target); got != "safe\n" {
		t.Errorf("file outside path now holds %q", got)
	}
}

func TestFileMkdir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if _, err := configureInit(t, map[string]string{"path": dir}); err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("missing path without mkdir: Init error %v, want one naming path", err)
	}
	o := newFile(t, map[string]string{"path": dir, "mkdir": "on", "format": "plain"})
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("Init did not create %s: %v", dir, err)
	}
	// The directory removed while running is made again.
	if err := os.RemoveAll(filepath.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	flush(t, o, sample())
	if got := read(t, filepath.Join(dir, "app")); !strings.HasPrefix(got, `{"k":"v","n":1}`) {
		t.Errorf("got %q", got)
	}
	// Without mkdir, a vanished directory is retried, not dropped.
	o.Mkdir = false
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background(), sample()); !pipeline.IsRetry(err) {
		t.Errorf("Flush into a missing directory = %v, want a retry", err)
	}
}

func configureInit(t testing.TB, props map[string]string) (*Output, error) {
	o, err := configure(t, props)
	if err != nil {
		return nil, err
	}
	return o, o.Init(context.Background(), pipeline.Env{})
}

func TestFileInitErrorsNameTheKey(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "plainfile")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		props map[string]string
		key   string
	}{
		{map[string]string{"format": "xml"}, "format"},
		{map[string]string{"format": "csv", "delimiter": "::"}, "delimiter"},
		{map[string]string{"format": "ltsv", "label_delimiter": "colon"}, "label_delimiter"},
		{map[string]string{"format": "json_lines", "json_date_format": "unix"}, "json_date_format"},
		{map[string]string{"path": notDir}, "path"},
		{map[string]string{"path": "", "file": filepath.Join(notDir, "x")}, "file"},
	} {
		_, err := configureInit(t, tc.props)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v: Init error %v, want one naming %s", tc.props, err, tc.key)
		}
	}
	if _, err := configure(t, map[string]string{"fiel": "x"}); err == nil {
		t.Error("a misspelt key was accepted")
	}
}

func TestFileUnwritablePathIsInitError(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// Root writes anywhere but in a few kernel file systems.
		dir = "/sys/kernel"
		if f, err := os.CreateTemp(dir, "probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skip("root can write everywhere here")
		}
	} else {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
	}
	_, err := configureInit(t, map[string]string{"path": dir})
	if err == nil || !strings.Contains(err.Error(), "path") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Init error %v, want a permission error naming path", err)
	}
}

func TestFileFullDiskIsRetried(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	o := newFile(t, map[string]string{"path": "", "file": "/dev/full", "format": "plain"})
	err := o.Flush(context.Background(), sample())
	if !pipeline.IsRetry(err) || !strings.Contains(err.Error(), "no space") {
		t.Errorf("Flush to a full device = %v, want a retry", err)
	}
}

func TestFileDamagedChunkWritesGoodRecords(t *testing.T) {
	o := newFile(t, map[string]string{"format": "plain"})
	c := pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"k", "v"}}})
	c.Data = append(c.Data, 0x92, 0xc1)
	err := o.Flush(context.Background(), c)
	if err == nil || pipeline.IsRetry(err) {
		t.Errorf("Flush = %v, want an error that is not retried", err)
	}
	if got := read(t, filepath.Join(o.Path, "app")); got != "{\"k\":\"v\"}\n" {
		t.Errorf("file holds %q, want the good record", got)
	}
}

func TestFileFactoryDefaults(t *testing.T) {
	if o := pipelinetest.Output[*Output](t, "file"); o.Format != "out_file" || o.Template != "{time} {message}" {
		t.Errorf("factory defaults: %+v", o)
	}
}

// Init's errors about a key are placed too (at start; --dry-run does not run Init).
func TestInitPlacesPathError(t *testing.T) {
	missing := t.TempDir() + "/no/such/dir"
	o := pipelinetest.Output[*Output](t, "file", "Path", missing)
	err := o.Init(t.Context(), pipeline.Env{})
	sec := &config.Section{Kind: "output", Name: "file", File: pipelinetest.File, Props: pipelinetest.Props("Path", missing)}
	placed := config.Place(sec, `output file: init`, err)
	want := `test.conf:1: key "Path": output file: init: "` + missing + `": no such directory`
	if placed == nil || !strings.HasPrefix(placed.Error(), want) {
		t.Errorf("placed error %v, want it to start with %q", placed, want)
	}
}

// Several workers flushing to the same files: every chunk lands whole, none is lost.
func TestFileConcurrentWorkers(t *testing.T) {
	o := newFile(t, map[string]string{"format": "csv", "csv_column_names": "on"})
	const workers, chunks, records = 8, 25, 20
	tags := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range chunks {
				evs := make([]event.Event, records)
				for r := range evs {
					evs[r] = event.Event{Time: t0, Record: event.Map{{"g", int64(g)}, {"i", int64(i)}, {"r", int64(r)}}}
				}
				if err := o.Flush(context.Background(), pipelinetest.MakeChunk(tags[(g+i)%len(tags)], evs...)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, tag := range tags {
		lines := strings.Split(strings.TrimSuffix(read(t, filepath.Join(o.Path, tag)), "\n"), "\n")
		if lines[0] != `timestamp,"g","i","r"` {
			t.Fatalf("%s: first line %q, want the header", tag, lines[0])
		}
		lines = lines[1:]
		if len(lines)%records != 0 {
			t.Fatalf("%s: %d lines, not whole chunks", tag, len(lines))
		}
		for start := 0; start < len(lines); start += records {
			prefix := lines[start][:strings.LastIndexByte(lines[start], ',')]
			for r := range records {
				if want := fmt.Sprintf("%s,%d", prefix, r); lines[start+r] != want {
					t.Fatalf("%s line %d: %q, want %q (chunks interleaved)", tag, start+r, lines[start+r], want)
				}
			}
		}
		total += len(lines)
	}
	if total != workers*chunks*records {
		t.Errorf("%d records written, want %d", total, workers*chunks*records)
	}
}

func benchChunk(records int) *pipeline.Chunk {
	evs := make([]event.Event, records)
	for i := range evs {
		evs[i] = event.Event{Time: t0.Add(time.Duration(i)), Record: event.Map{{"log", "GET /index.html HTTP/1.1 200 512"}, {"host", "pi-zero"}, {"pid", int64(1234 + i)}, {"cpu", 0.25}}}
	}
	return pipelinetest.MakeChunk("bench", evs...)
}

// BenchmarkFile writes chunks to a file in a temporary directory. The file is removed now
// and then so that the benchmark does not fill the disk; with 1 record per chunk, the
// figure is mostly the cost of opening and closing the file on each flush.
func BenchmarkFile(b *testing.B) {
	for _, bc := range []struct {
		format  string
		records int
	}{{"out_file", 100}, {"plain", 100}, {"csv", 100}, {"template", 100}, {"plain", 1}} {
		b.Run(fmt.Sprintf("%s-%d", bc.format, bc.records), func(b *testing.B) {
			o := newFile(b, map[string]string{"format": bc.format})
			c := benchChunk(bc.records)
			name := filepath.Join(o.Path, "bench")
			b.ReportAllocs()
			b.SetBytes(int64(len(c.Data)))
			i := 0
			for b.Loop() {
				if err := o.Flush(context.Background(), c); err != nil {
					b.Fatal(err)
				}
				if i++; i%2000 == 0 {
					os.Remove(name)
				}
			}
			b.ReportMetric(float64(b.N)*float64(c.Records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkOpenWriteClose is the per-flush file handling alone (one small write), next to
// a write to a file kept open: what reopening on every flush costs.
func BenchmarkOpenWriteClose(b *testing.B) {
	line := []byte(`{"log":"GET /index.html HTTP/1.1 200 512"}` + "\n")
	b.Run("reopen", func(b *testing.B) {
		dir := b.TempDir()
		for b.Loop() {
			root, err := os.OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			f, err := root.OpenFile("x", os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
			if err != nil {
				b.Fatal(err)
			}
			f.Write(line)
			f.Close()
			root.Close()
		}
	})
	b.Run("kept-open", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "x"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			f.Write(line)
		}
	})
}
