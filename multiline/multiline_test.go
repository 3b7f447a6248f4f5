package multiline

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// feed runs lines through a stream of the named parsers and returns every message,
// flushing the last one as the timeout would.
func feed(t *testing.T, ps []*Parser, text string) []string {
	t.Helper()
	s := NewStream(ps, 0)
	var out []string
	now := time.Unix(0, 0)
	for i, ln := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		for _, m := range s.Feed([]byte(ln), int64(i), now) {
			out = append(out, string(m.Text))
		}
	}
	if m, ok := s.Flush(now.Add(time.Hour), false); ok {
		out = append(out, string(m.Text))
	}
	// Every message ends with a line end, as Fluent Bit's do: checked, then cut for
	// readable expectations.
	for i, m := range out {
		if !strings.HasSuffix(m, "\n") {
			t.Errorf("message %q without its final line end", m)
		}
		out[i] = strings.TrimSuffix(m, "\n")
	}
	return out
}

func builtin(t *testing.T, names ...string) []*Parser {
	t.Helper()
	var ps []*Parser
	for _, n := range names {
		p, ok := Builtin(n)
		if !ok {
			t.Fatalf("no built-in %s", n)
		}
		ps = append(ps, p)
	}
	return ps
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// log is a log file with a stack trace between ordinary lines.
func log(trace string) string {
	return "2026-12-06 01:00:00 INFO starting\n" + trace + "\n2026-12-06 01:00:01 INFO still running\n"
}

func TestJavaStackTrace(t *testing.T) {
	java := fixture(t, "java.txt") // java Main (testdata/Main.java.txt), OpenJDK
	lines := strings.Split(java, "\n")
	got := feed(t, builtin(t, "java"), log(java))
	want := []string{"2026-12-06 01:00:00 INFO starting", strings.Join(lines[:7], "\n"), strings.Join(lines[7:], "\n"), "2026-12-06 01:00:01 INFO still running"}
	check(t, got, want)
}

func TestGoPanic(t *testing.T) {
	gop := fixture(t, "go.txt") // go run testdata/panic.go.txt
	got := feed(t, builtin(t, "go"), log(gop))
	check(t, got, []string{"2026-12-06 01:00:00 INFO starting", gop, "2026-12-06 01:00:01 INFO still running"})
}

func TestPythonTraceback(t *testing.T) {
	py := fixture(t, "python.txt") // python3.11 testdata/tb.py: with ^^^^ markers
	got := feed(t, builtin(t, "python"), log(py))
	check(t, got, []string{"2026-12-06 01:00:00 INFO starting", py, "2026-12-06 01:00:01 INFO still running"})
}

func TestSeveralParsersOnOneStream(t *testing.T) {
	java, gop, py := fixture(t, "java.txt"), fixture(t, "go.txt"), fixture(t, "python.txt")
	got := feed(t, builtin(t, "go", "python", "java"), py+"\nplain\n"+gop+"\n"+java)
	jl := strings.Split(java, "\n")
	check(t, got, []string{py, "plain", gop, strings.Join(jl[:7], "\n"), strings.Join(jl[7:], "\n")})
}

// Live: the interpreters of this machine, when there.
func TestLiveTracebacks(t *testing.T) {
	for _, tc := range []struct{ parser, cmd, script string }{
		{"python", "python3", "tb.py"},
	} {
		bin, err := exec.LookPath(tc.cmd)
		if err != nil {
			t.Logf("%s not installed: live %s test skipped", tc.cmd, tc.parser)
			continue
		}
		out, _ := exec.Command(bin, filepath.Join("testdata", tc.script)).CombinedOutput()
		trace := strings.TrimSuffix(string(out), "\n")
		if !strings.HasPrefix(trace, "Traceback") {
			t.Fatalf("%s: %s", tc.cmd, out)
		}
		got := feed(t, builtin(t, tc.parser), log(trace))
		check(t, got, []string{"2026-12-06 01:00:00 INFO starting", trace, "2026-12-06 01:00:01 INFO still running"})
	}
}

func TestFlushTimeout(t *testing.T) {
	p, _ := Builtin("python")
	s := NewStream([]*Parser{p}, 0)
	t0 := time.Unix(100, 0)
	s.Feed([]byte("Traceback (most recent call last):"), 7, t0)
	s.Feed([]byte(`  File "x.py", line 1, in <module>`), 8, t0)
	if mark, ok := s.Pending(); !ok || mark != 7 {
		t.Fatalf("pending %d %v", mark, ok)
	}
	if _, ok := s.Flush(t0.Add(DefaultFlushTimeout-time.Millisecond), false); ok {
		t.Fatal("flushed before flush_timeout")
	}
	m, ok := s.Flush(t0.Add(DefaultFlushTimeout), false)
	if !ok || m.Mark != 7 || !bytes.HasSuffix(m.Text, []byte("<module>\n")) {
		t.Fatalf("flush: %q %v", m.Text, ok)
	}
	if _, ok := s.Pending(); ok {
		t.Fatal("still pending")
	}
}

func TestLimitCutsALongMessage(t *testing.T) {
	p, _ := Builtin("java")
	s := NewStream([]*Parser{p}, 40)
	var got []string
	for _, ln := range []string{"java.lang.Error: x", "\tat a.b(C.java:1)", "\tat a.b(C.java:2)", "\tat a.b(C.java:3)", "\tat a.b(C.java:4)"} {
		for _, m := range s.Feed([]byte(ln), 0, time.Time{}) {
			got = append(got, string(m.Text))
		}
	}
	if len(got) == 0 || len(got[0]) < 40 || len(got[0]) > 60 {
		t.Errorf("got %q", got)
	}
}

func TestUserParserFromClassicSection(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "fluent-bit.conf")
	os.WriteFile(conf, []byte(`
[MULTILINE_PARSER]
    name          multiline-regex-test
    type          regex
    flush_timeout 1000
    # rules |   state name  | regex pattern                  | next state
    # ------|---------------|--------------------------------------------
    rule      "start_state"   "/([a-zA-Z]+ \d+ \d+\:\d+\:\d+)(.*)/"  "cont"
    rule      "cont"          "/^\s+at.*/"                     "cont"

[INPUT]
    name tail
    path /dev/null
`), 0o644)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.Lookup("multiline-regex-test")
	if !ok {
		t.Fatal("not found")
	}
	if p.FlushTimeout != time.Second {
		t.Errorf("flush_timeout %v", p.FlushTimeout)
	}
	// Fluent Bit's documentation example (multiline parsers, regex).
	in := `single line...
Dec 14 06:41:08 Exception in thread "main" java.lang.RuntimeException: Something has gone wrong, aborting!
    at com.myproject.module.MyProject.badMethod(MyProject.java:22)
    at com.myproject.module.MyProject.oneMoreMethod(MyProject.java:18)
    at com.myproject.module.MyProject.main(MyProject.java:6)
another line...`
	lines := strings.Split(in, "\n")
	check(t, feed(t, []*Parser{p}, in), []string{lines[0], strings.Join(lines[1:5], "\n"), lines[5]})
}

func TestUserParserFromYAML(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "fluent-bit.yaml")
	os.WriteFile(conf, []byte(`
multiline_parsers:
  - name: yml
    type: regex
    flush_timeout: 500
    rules:
      - state: start_state
        regex: '/^START/'
        next_state: cont
      - state: cont
        regex: '/^ /'
        next_state: cont
pipeline:
  inputs:
    - name: dummy
`), 0o644)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.Lookup("yml")
	if !ok {
		t.Fatal("not found")
	}
	check(t, feed(t, []*Parser{p}, "START a\n b\n c\nend"), []string{"START a\n b\n c", "end"})
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"name x\n    type endswith\n    rule \"start_state\" \"/a/\" \"b\"", "type"},
		{"name x\n    rule \"cont\" \"/a/\" \"b\"", "start_state"},
		{"name x\n    rule \"start_state\" \"/(/\" \"b\"", "rule"},
		{"name x\n    rule \"start_state\" \"/a/\"", "rule"},
		{"name x\n    flush_timeout soon\n    rule \"start_state\" \"/a/\" \"b\"", "flush_timeout"},
	} {
		conf := filepath.Join(t.TempDir(), "f.conf")
		os.WriteFile(conf, []byte("[MULTILINE_PARSER]\n    "+tc.body+"\n"), 0o644)
		cfg, err := config.Load(conf)
		if err == nil {
			_, err = Load(cfg)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.body, err, tc.want)
		}
	}
}

func check(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n-----\n"))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("message %d:\n got  %q\n want %q", i, got[i], want[i])
		}
	}
}

// TestSameMessagesAsFluentBit: testdata/fb511-app.log went through Fluent Bit v5.1.1's
// tail with multiline.parser go, python, java; its records' log values are in
// testdata/fb511-tail-go-python-java.jsonl. With Fluent Bit's python rules (ours have one
// more, for Python 3.11's ^^^^ lines) the messages are the same, byte for byte.
func TestSameMessagesAsFluentBit(t *testing.T) {
	data := fixture(t, "fb511-app.log")
	var want []string
	for _, l := range strings.Split(fixture(t, "fb511-tail-go-python-java.jsonl"), "\n") {
		var s string
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	fbPython, err := New("python", 0, builtinRules["python"][:4])
	if err != nil {
		t.Fatal(err)
	}
	s := NewStream([]*Parser{builtin(t, "go")[0], fbPython, builtin(t, "java")[0]}, 0)
	var got []string
	for i, ln := range strings.Split(data, "\n") {
		for _, m := range s.Feed([]byte(ln), int64(i), time.Time{}) {
			got = append(got, string(m.Text))
		}
	}
	if m, ok := s.Flush(time.Time{}, true); ok {
		got = append(got, string(m.Text))
	}
	check(t, got, want)
}
