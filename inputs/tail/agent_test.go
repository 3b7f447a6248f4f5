package tail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/event"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/tail"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

var captured struct {
	sync.Mutex
	tags []string
	evs  []event.Event
	want int // when this many have come, all is closed
	all  chan struct{}
}

func init() {
	pipeline.RegisterOutput("tailtest_capture", func() pipeline.Output {
		return pipeline.OutputFunc(func(_ context.Context, c *pipeline.Chunk) error {
			captured.Lock()
			defer captured.Unlock()
			err := c.Events(func(ev event.Event) error {
				captured.tags = append(captured.tags, c.Tag)
				captured.evs = append(captured.evs, ev)
				return nil
			})
			if len(captured.evs) >= captured.want && captured.all != nil {
				close(captured.all)
				captured.all = nil
			}
			return err
		})
	})
}

// A whole agent from a classic configuration: the tail input finds the parser of the
// configuration's parsers_file, a small mem_buf_limit holds it back (pause and resume)
// and every line arrives, in order, parsed, under the path's tag.
func TestAgentTailsThroughTheEngine(t *testing.T) {
	const n = 5000
	all := make(chan struct{})
	captured.Lock()
	captured.evs, captured.tags, captured.want, captured.all = nil, nil, n, all
	captured.Unlock()
	dir := t.TempDir()
	logf := filepath.Join(dir, "app.log")
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"i":%d,"pad":"%s"}`+"\n", i, strings.Repeat("p", 100))
	}
	os.WriteFile(logf, []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte("[PARSER]\n    Name j\n    Format json\n"), 0o644)
	main := filepath.Join(dir, "fluent-bit.conf")
	os.WriteFile(main, []byte(fmt.Sprintf(`
[SERVICE]
    Flush        0.05
    Parsers_File parsers.conf

[INPUT]
    Name           tail
    Path           %s
    Tag            app.*
    Parser         j
    Read_From_Head on
    Mem_Buf_Limit  64k
    DB             %s

[OUTPUT]
    Name  tailtest_capture
    Match app.*
`, logf, filepath.Join(dir, "tail.db"))), 0o644)
	a, err := fluentbit.NewFromFile(main, fluentbit.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	captured.Lock()
	defer captured.Unlock()
	if len(captured.evs) != n {
		t.Fatalf("captured %d records, want %d", len(captured.evs), n)
	}
	wantTag := "app." + strings.ReplaceAll(strings.TrimPrefix(logf, "/"), "/", ".")
	for i, ev := range captured.evs {
		if ev.Record.Value("i") != int64(i) {
			t.Fatalf("record %d: %v (out of order or not parsed)", i, ev.Record)
		}
		if captured.tags[i] != wantTag {
			t.Fatalf("record %d: tag %q, want %q", i, captured.tags[i], wantTag)
		}
	}

	// An unknown parser name is a configuration error with file and line.
	os.WriteFile(main, []byte("[INPUT]\n    Name tail\n    Path /x\n    Parser nope\n"), 0o644)
	if _, err := fluentbit.NewFromFile(main); err == nil || !strings.Contains(err.Error(), "fluent-bit.conf:4") {
		t.Errorf("unknown parser: %v", err)
	}
}
