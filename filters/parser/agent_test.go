package parser_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/event"
	_ "github.com/fluentbit-go/fluentbit-go/filters/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

var captured struct {
	sync.Mutex
	evs []event.Event
}

func init() {
	pipeline.RegisterOutput("parsertest_capture", func() pipeline.Output {
		return pipeline.OutputFunc(func(_ context.Context, c *pipeline.Chunk) error {
			captured.Lock()
			defer captured.Unlock()
			return c.Events(func(ev event.Event) error { captured.evs = append(captured.evs, ev); return nil })
		})
	})
}

// A whole agent from a classic configuration whose parsers_file is relative to it, as the
// daemon loads it: the parser filter finds the file's parser and the record comes out parsed.
func TestAgentLoadsParsersFile(t *testing.T) {
	captured.Lock()
	captured.evs = nil // a fresh capture per run (go test -count=N)
	captured.Unlock()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(`
[PARSER]
    Name        access
    Format      regex
    Regex       ^(?<ip>\S+) (?<method>[A-Z]+) (?<path>\S+) (?<code>\d+) \[(?<time>[^\]]+)\]$
    Time_Key    time
    Time_Format %d/%b/%Y:%H:%M:%S %z
    Types       code:integer
`), 0o644)
	main := filepath.Join(dir, "fluent-bit.conf")
	os.WriteFile(main, []byte(`
[SERVICE]
    Flush        0.05
    Parsers_File parsers.conf

[FILTER]
    Name         parser
    Match        app
    Key_Name     log
    Parser       access
    Reserve_Data On

[OUTPUT]
    Name  parsertest_capture
    Match *
`), 0o644)
	a, err := fluentbit.NewFromFile(main, fluentbit.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Push("app", event.Map{{"log", "10.0.0.1 GET /x 200 [28/Jul/2006:10:27:10 -0300]"}, {"stream", "stdout"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	captured.Lock()
	defer captured.Unlock()
	if len(captured.evs) != 1 {
		t.Fatalf("captured %d records", len(captured.evs))
	}
	ev := captured.evs[0]
	if ev.Record.Value("ip") != "10.0.0.1" || ev.Record.Value("code") != int64(200) || ev.Record.Value("stream") != "stdout" || ev.Record.Value("log") != nil {
		t.Errorf("record %v", ev.Record)
	}
	if !ev.Time.Equal(time.Date(2006, 7, 28, 13, 27, 10, 0, time.UTC)) {
		t.Errorf("time %v", ev.Time)
	}

	// An unknown parser name is a configuration error with file and line.
	os.WriteFile(main, []byte("[FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser nope\n"), 0o644)
	if _, err := fluentbit.NewFromFile(main); err == nil || !containsAll(err.Error(), "fluent-bit.conf:5", "nope") {
		t.Errorf("unknown parser: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
