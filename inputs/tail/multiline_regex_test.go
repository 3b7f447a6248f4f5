package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// trace reads a real stack trace captured in package multiline's testdata.
func trace(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "multiline", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

func TestMultilineStackTracesOfGoPythonJava(t *testing.T) {
	java, gop, py := trace(t, "java.txt"), trace(t, "go.txt"), trace(t, "python.txt")
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	appendFile(t, p, "starting\n"+java+"\nafter java\n"+gop+"\nafter go\n"+py+"\nafter python\n")
	r := start(t, "path", p, "read_from_head", "on", "multiline.parser", "go, python, java", "offset_key", "off")
	jl := strings.Split(java, "\n")
	// As Fluent Bit's tail with a multiline parser: every record's log ends with its
	// line end.
	nl := func(s string) string { return s + "\n" }
	r.waitLines(t, nl("starting"), nl(strings.Join(jl[:7], "\n")), nl(strings.Join(jl[7:], "\n")), nl("after java"), nl(gop), nl("after go"), nl(py), nl("after python"))
	// Each record's offset is its first line's.
	if off := r.rec.Records()[1].Event.Record.Value("off"); off != int64(len("starting\n")) {
		t.Errorf("offset %v, want %d", off, len("starting\n"))
	}
}

func TestMultilineUserParserAndFlushTimeout(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "fluent-bit.conf")
	os.WriteFile(conf, []byte(`
[MULTILINE_PARSER]
    name          multiline-regex-test
    type          regex
    flush_timeout 300
    rule      "start_state"   "/([a-zA-Z]+ \d+ \d+\:\d+\:\d+)(.*)/"  "cont"
    rule      "cont"          "/^\s+at.*/"                     "cont"
`), 0o644)
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.log")
	lines := []string{
		"single line...",
		`Dec 14 06:41:08 Exception in thread "main" java.lang.RuntimeException: Something has gone wrong, aborting!`,
		"    at com.myproject.module.MyProject.badMethod(MyProject.java:22)",
		"    at com.myproject.module.MyProject.main(MyProject.java:6)",
	}
	appendFile(t, p, strings.Join(lines, "\n")+"\n")
	in := New()
	in.SetConfig(cfg)
	if err := pipelineConfigure(in, "path", p, "read_from_head", "on", "multiline.parser", "multiline-regex-test"); err != nil {
		t.Fatal(err)
	}
	r := startInput(t, in)
	// The trace has no line after it: it goes out when flush_timeout (300ms) has passed.
	start := time.Now()
	if !r.rec.Wait(2, wait) {
		t.Fatalf("got %q", r.lines())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("flushed after %v, want about flush_timeout", d)
	}
	if got := r.lines(); got[0] != lines[0]+"\n" || got[1] != strings.Join(lines[1:], "\n")+"\n" {
		t.Errorf("got %q", got)
	}
}

func pipelineConfigure(in *Input, kv ...string) error {
	return pipeline.Configure(in, pipelinetest.Props(kv...))
}

func TestMultilineConfigErrors(t *testing.T) {
	for _, kv := range [][]string{
		{"path", "/x", "multiline.parser", "cobol"},
		{"path", "/x", "multiline.parser", "docker, java"},
	} {
		_, err := pipelinetest.NewInput("tail", kv...)
		if err == nil || !strings.Contains(err.Error(), `key "multiline.parser"`) {
			t.Errorf("%v: err = %v, want it at the key multiline.parser", kv, err)
		}
	}
}
