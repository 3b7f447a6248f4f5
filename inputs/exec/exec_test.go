package exec

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func execs(recs []pipelinetest.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprint(r.Event.Record.Value("exec")))
	}
	return out
}

func TestOneshotLinesBecomeExecRecords(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "exec", "command", `printf 'a\nb\n\nlast without newline'`, "oneshot", "on")
	recs := pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "exec.0"}, 10*time.Second)
	if got := strings.Join(execs(recs), "|"); got != "a|b||last without newline" {
		t.Errorf("records %q, want a|b||last without newline", got)
	}
	if keys := recs[0].Event.Record.Keys(); len(keys) != 1 || keys[0] != "exec" {
		t.Errorf("keys %v, want [exec]", keys)
	}
}

// buf_size bounds a line as Fluent Bit's fgets does: buf_size-1 bytes a record.
func TestBufSizeCutsLongLines(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "exec", "command", `printf 'abcdefgh\nxy\n'`, "oneshot", "on", "buf_size", "5")
	recs := pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "exec.0"}, 10*time.Second)
	if got := strings.Join(execs(recs), "|"); got != "abcd|efgh||xy" {
		t.Errorf("records %q, want abcd|efgh||xy", got)
	}
}

// With a parser a line it reads is the parsed record, with the parser's time; one it
// cannot read is kept as {"exec": line} (Fluent Bit drops it) and logged.
func TestParser(t *testing.T) {
	pr, err := parser.New(parser.Definition{Name: "j", Format: "json", TimeKey: "t", TimeFormat: "%s"})
	if err != nil {
		t.Fatal(err)
	}
	in := New()
	in.Command = `echo '{"level":"warn","n":3,"t":"1700000000"}'; echo 'not json'`
	in.Oneshot = true
	in.Parser = "j"
	in.ParserImpl = pr
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs pipelinetest.Logs
	recs := pipelinetest.RunToEnd(t, in, logs.Env("exec.0"), 10*time.Second)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if r := recs[0].Event; r.Record.Value("level") != "warn" || r.Record.Value("n") != int64(3) || r.Time.Unix() != 1700000000 {
		t.Errorf("parsed record %v at %v", r.Record, r.Time)
	}
	if recs[1].Event.Record.Value("exec") != "not json" || logs.Count(slog.LevelWarn) == 0 {
		t.Errorf("unparsable line: %v (warnings: %d)", recs[1].Event.Record, logs.Count(slog.LevelWarn))
	}
	if err := pipelinetest.Configure("input", "exec", "command", "true", "parser", "nope"); err == nil || !strings.Contains(err.Error(), "parser") {
		t.Errorf("an unknown parser: %v", err)
	}
}

func TestRunsEveryIntervalAndStderrGoesToTheLog(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "exec", "command", `echo tick; echo "oops on stderr" >&2`, "interval_sec", "0", "interval_nsec", "50000000")
	var logs pipelinetest.Logs
	r := pipelinetest.StartInput(t, in, logs.Env("exec.0"), nil)
	recs := r.Wait(3, 10*time.Second)
	for _, s := range execs(recs) {
		if s != "tick" {
			t.Errorf("record %q, want tick", s)
		}
	}
	if !logs.Wait(5*time.Second, func(rs []slog.Record) bool {
		for _, l := range rs {
			if strings.Contains(l.Message, "oops on stderr") {
				return true
			}
		}
		return false
	}) {
		t.Error("the command's stderr is not in the log")
	}
}

// A command still running when the next interval is due is killed, with the processes
// it started, and runs again.
func TestHungCommandIsKilledAtItsInterval(t *testing.T) {
	marker := fmt.Sprintf("%d.%d", 30+os.Getpid()%60, time.Now().UnixNano()%1000)
	in := pipelinetest.Input[*Input](t, "exec", "command", "echo start; sleep "+marker+"; echo never", "interval_sec", "0.2")
	var logs pipelinetest.Logs
	r := pipelinetest.StartInput(t, in, logs.Env("exec.0"), nil)
	recs := r.Wait(2, 10*time.Second)
	if got := strings.Join(execs(recs[:2]), "|"); got != "start|start" {
		t.Errorf("records %q, want start twice (killed, run again)", got)
	}
	if !logs.Wait(5*time.Second, func(rs []slog.Record) bool {
		for _, l := range rs {
			if strings.Contains(l.Message, "killed") {
				return true
			}
		}
		return false
	}) {
		t.Error("the kill is not logged")
	}
	r.Stop()
	// The sleep the shell started is gone too (the process group was killed).
	if !pipelinetest.Eventually(5*time.Second, func() bool { return !running("sleep " + marker) }) {
		t.Errorf("a 'sleep %s' is still running after the kill", marker)
	}
}

// running reports whether a process with this command line exists.
func running(cmdline string) bool {
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err == nil && strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ") == cmdline {
			return true
		}
	}
	return false
}

func TestExitAfterOneshotAsksForTheExitCode(t *testing.T) {
	for _, tc := range []struct {
		command   string
		propagate string
		want      int
	}{
		{"echo done; exit 3", "on", 3},
		{"echo done; exit 3", "off", 0},
		{"echo done; kill -9 $$", "on", 137},
		{"echo done", "on", 0},
	} {
		t.Run(tc.command+"/"+tc.propagate, func(t *testing.T) {
			in := pipelinetest.Input[*Input](t, "exec", "command", tc.command, "oneshot", "on", "exit_after_oneshot", "on", "propagate_exit_code", tc.propagate)
			var mu sync.Mutex
			codes := []int{}
			env := pipeline.Env{Name: "exec.0", Exit: func(c int) { mu.Lock(); codes = append(codes, c); mu.Unlock() }}
			recs := pipelinetest.RunToEnd(t, in, env, 10*time.Second)
			if len(recs) != 1 || recs[0].Event.Record.Value("exec") != "done" {
				t.Errorf("records %v, want exec=done", execs(recs))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(codes) != 1 || codes[0] != tc.want {
				t.Errorf("exit asked with %v, want [%d]", codes, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, kv := range [][]string{
		{"interval_sec", "-1"},
		{"command", "true", "interval_sec", "0"},
		{"command", "true", "interval_nsec", "-5"},
		{"command", "true", "buf_size", "1"},
	} {
		if err := pipelinetest.Configure("input", "exec", kv...); err == nil {
			t.Errorf("%v: no error", kv)
		}
	}
	if err := pipelinetest.Configure("input", "exec"); err == nil || !strings.Contains(err.Error(), "command") {
		t.Errorf("no command: %v", err)
	}
}
