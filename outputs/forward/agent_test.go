package forward

import (
	"context"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// Through the whole agent: the receiver goes away, the engine retries the chunks the
// output could not deliver, and once the receiver is back every record arrives.
func TestAgentRetriesUntilTheReceiverIsBack(t *testing.T) {
	srv := newServer(t, nil, nil)
	cfg, err := config.Parse("agent.yaml", []byte(fmt.Sprintf(`
service:
  flush: 0.05
  grace: 10
  scheduler.base: 0.02
  scheduler.cap: 0.1
pipeline:
  outputs:
    - name: forward
      match: '*'
      port: %d
      require_ack_response: on
      net.io_timeout: 5s
`, srv.port())))
	if err != nil {
		t.Fatal(err)
	}
	logs := &pipelinetest.Logs{}
	agent, err := fluentbit.New(cfg, fluentbit.WithLogger(logs.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	push := func(from, to int) {
		for i := from; i < to; i++ {
			if err := agent.Push("device.1", event.Map{{"seq", int64(i)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	push(0, 50)
	srv.waitRecords(t, 50)
	srv.kill()
	push(50, 100)
	// The engine logs each retry it schedules.
	if !logs.Wait(10*time.Second, func(rs []slog.Record) bool { return slices.ContainsFunc(rs, warning) }) {
		t.Fatal("no flush failed while the receiver was down")
	}
	srv.revive()
	srv.waitRecords(t, 100)
	if err := agent.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, evs := srv.events(t)
	got := map[int64]bool{}
	for _, ev := range evs {
		got[ev.Record.Value("seq").(int64)] = true
	}
	for i := 0; i < 100; i++ {
		if !got[int64(i)] {
			t.Fatalf("record %d lost (have %s records)", i, strconv.Itoa(len(evs)))
		}
	}
}

// A wrong upstream is a configuration error with the file and line of the key, found
// when the configuration loads (so --dry-run reports it).
func TestBadUpstreamIsAConfigError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.conf")
	text := "[OUTPUT]\n    Name     forward\n    Match    *\n    Upstream nowhere\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := fluentbit.NewFromFile(path)
	if err == nil || !strings.Contains(err.Error(), path+":4") || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Fatalf("err = %v, want one at %s:4 about the upstream", err, path)
	}
}

func warning(r slog.Record) bool { return r.Level >= slog.LevelWarn }
