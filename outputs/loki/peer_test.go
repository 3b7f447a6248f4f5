package loki_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const peer = "/work/shared/peers/fluent-bit"

// The peer Fluent Bit (v5.1.1) and this output, given the same keys and records, push
// the same streams, labels, lines, structured metadata and timestamps to the same
// receiver (the peer sends JSON, ours protobuf: both decoded to one form).
func TestSameStreamsAsFluentBit(t *testing.T) {
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("no peer Fluent Bit at %s: %v", peer, err)
	}
	records := []string{
		`{"log":"hello","level":"info","sub":{"stream":"stdout","n":3},"host":"pi1","trace":"abc","secret":"x","num":5.5}`,
		`{"log":"boom \"q\"","level":"error","sub":{"stream":"stderr"},"host":"pi1","arr":[1,"a",true,null],"t":"tab\t"}`,
		`{"msg":"no level","host":"pi2","n":-7,"b":false}`,
	}
	labelMap := filepath.Join(t.TempDir(), "map.json")
	if err := os.WriteFile(labelMap, []byte(`{"sub": {"stream": "stream"}, "level": "lvl", "host": "host"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	outputs := map[string][]string{
		"/json": {"labels", "job=dev, $level, $sub['stream']", "label_keys", "$host", "structured_metadata", "$trace",
			"remove_keys", "secret", "tenant_id", "t1"},
		"/kv":     {"labels", "$level", "line_format", "key_value", "remove_keys", "host, secret"},
		"/single": {"label_keys", "$host", "remove_keys", "level, sub, trace, secret, num, arr, t, n, b", "drop_single_key", "raw"},
		"/map":    {"label_map_path", labelMap, "line_format", "key_value", "tenant_id", "t2"},
	}
	const sec = 1796476615
	// One peer run per output: Fluent Bit v5.1.1's loki outputs change the records they
	// share (a label taken by one is missing in the next one's lines), so the outputs are
	// compared one at a time.
	peerPushes := map[string][]push{}
	for uri, kv := range outputs {
		peerPushes[uri] = runPeer(t, records, sec, uri, kv)
	}
	var evs []event.Event
	for i, s := range records {
		rec, err := event.RecordFromJSON([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, event.Event{Time: time.Unix(sec, int64(i*1000)), Record: rec})
	}
	for uri, kv := range outputs {
		fromPeer := peerPushes[uri]
		for _, p := range fromPeer {
			if p.Err != nil {
				t.Fatalf("peer push: %v", p.Err)
			}
		}
		ours := newReceiver(t)
		o := newOutput(t, append([]string{"port", ours.port(), "uri", uri}, kv...)...)
		var cloned []event.Event
		for _, ev := range evs {
			cloned = append(cloned, event.Event{Time: ev.Time, Record: ev.Record.Clone()})
		}
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", cloned...)); err != nil {
			t.Fatal(err)
		}
		got, want := merged(ours.all()), merged(fromPeer)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nours %+v\npeer %+v", uri, got, want)
		}
		if h := fromPeer[0].Header.Get("X-Scope-OrgID"); h != ours.all()[0].Header.Get("X-Scope-OrgID") {
			t.Errorf("%s: X-Scope-OrgID %q from the peer", uri, h)
		}
	}
}

// runPeer runs the peer with one dummy input per record (all at time sec + i µs) and one
// loki output with keys kv, and returns its pushes once every record has arrived.
func runPeer(t *testing.T, records []string, sec int64, uri string, kv []string) []push {
	t.Helper()
	r := newReceiver(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, "[SERVICE]\n    flush 0.2\n    log_level warn\n")
	for i, rec := range records {
		fmt.Fprintf(&conf, "[INPUT]\n    name dummy\n    tag app.%d\n    dummy %s\n    samples 1\n    start_time_sec %d\n    start_time_nsec %d\n    fixed_timestamp on\n    flush_on_startup on\n",
			i, rec, sec, i*1000)
	}
	fmt.Fprintf(&conf, "[OUTPUT]\n    name loki\n    match *\n    host 127.0.0.1\n    port %s\n    uri %s\n", r.port(), uri)
	for i := 0; i < len(kv); i += 2 {
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
	return r.waitFor(t, 20*time.Second, func(ps []push) bool {
		n := 0
		for _, p := range ps {
			for _, s := range p.Streams {
				n += len(s.Entries)
			}
		}
		return n >= len(records)
	})
}
