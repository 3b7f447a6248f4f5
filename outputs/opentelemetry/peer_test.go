package opentelemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const peer = "/work/shared/peers/fluent-bit"

// logRecords are the log records of decoded requests, in time order, as generic JSON.
func logRecords(t *testing.T, reqs []exported) []any {
	t.Helper()
	var out []map[string]any
	for _, e := range reqs {
		var req struct {
			ResourceLogs []struct {
				ScopeLogs []struct {
					LogRecords []map[string]any
				}
			}
		}
		if err := json.Unmarshal(e.Request, &req); err != nil {
			t.Fatal(err)
		}
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				out = append(out, sl.LogRecords...)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a["timeUnixNano"]), fmt.Sprint(b["timeUnixNano"]))
	})
	var res []any
	for _, r := range out {
		res = append(res, r)
	}
	return res
}

// The peer Fluent Bit (v5.1.1) and this output, given the same keys and records, send log
// records the Collector's decoder reads the same: bodies, attributes, severity, ids, times.
func TestSameLogRecordsAsFluentBit(t *testing.T) {
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("no peer Fluent Bit at %s: %v", peer, err)
	}
	for _, c := range []struct {
		records []string
		kv      []string
	}{
		{[]string{
			`{"log":"hello","level":"info","n":-7}`,
			`{"z":1.5,"a":true,"m":{"k":"v","nil":null},"arr":[1,"x",false],"s":"é"}`,
			`{"message":"boom","SeverityText":"WARN","SeverityNumber":13,"TraceId":"0102030405060708090a0b0c0d0e0f10","SpanId":"0102030405060708"}`,
			`{"a":1,"SeverityText":"INFO","SeverityNumber":9}`,
		}, nil},
		{[]string{`{"level":"info","msg":{"text":"hi","id":3},"n":2.5}`, `{"level":"warn","other":1}`},
			[]string{"logs_body_key", "$msg['text']", "logs_body_key_attributes", "on", "logs_severity_text_message_key", "$level"}},
	} {
		const sec = 1796476615
		fromPeer := runPeer(t, c.records, sec, c.kv)
		chk := startChecker(t, "127.0.0.1:0")
		o := newOutput(t, append([]string{"port", chk.Port}, c.kv...)...)
		var evs []event.Event
		for i, s := range c.records {
			rec, err := event.RecordFromJSON([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, event.Event{Time: time.Unix(sec, int64(i*1000)), Record: rec})
		}
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", evs...)); err != nil {
			t.Fatal(err)
		}
		ours := logRecords(t, []exported{chk.next(t)})
		theirs := logRecords(t, fromPeer)
		a, _ := json.Marshal(ours)
		b, _ := json.Marshal(theirs)
		if string(a) != string(b) {
			t.Errorf("%v:\nours %s\npeer %s", c.kv, a, b)
		}
	}
}

// runPeer runs the peer with one dummy input per record (at time sec + i µs) and one
// opentelemetry output with keys kv into a fresh otlpcheck; it returns the decoded
// requests once every record has arrived.
func runPeer(t *testing.T, records []string, sec int64, kv []string) []exported {
	t.Helper()
	chk := startChecker(t, "127.0.0.1:0")
	var conf strings.Builder
	fmt.Fprintf(&conf, "[SERVICE]\n    flush 0.2\n    log_level warn\n")
	for i, rec := range records {
		fmt.Fprintf(&conf, "[INPUT]\n    name dummy\n    tag app.%d\n    dummy %s\n    samples 1\n    start_time_sec %d\n    start_time_nsec %d\n    fixed_timestamp on\n    flush_on_startup on\n",
			i, rec, sec, i*1000)
	}
	fmt.Fprintf(&conf, "[OUTPUT]\n    name opentelemetry\n    match *\n    host 127.0.0.1\n    port %s\n", chk.Port)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&conf, "    %s %s\n", kv[i], kv[i+1])
	}
	path := filepath.Join(t.TempDir(), "fb.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peer, "-c", path)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Skipf("the peer does not start: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var got []exported
	for n := 0; n < len(records); {
		e := chk.next(t)
		got = append(got, e)
		n += len(logRecords(t, []exported{e}))
	}
	return got
}
