package nats

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/natstest"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// The peer Fluent Bit and this output, publishing the same record to the same real
// server, send the same subject and the same message but for the time.
func TestSameMessageAsFluentBit(t *testing.T) {
	peer, err := filepath.Abs("../../../shared/peers/fluent-bit")
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("FLUENTBIT_PEER"); p != "" {
		peer = p
	}
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("no peer Fluent Bit (../shared/peers/fluent-bit or $FLUENTBIT_PEER): %v", err)
	}
	s := natstest.Start(t)
	sub := natstest.Connect(t, s.URL())
	col := subscribe(t, sub, "peer.>")
	const record = `{"message":"hi \"there\"\n","n":-1,"f":1.5,"w":2.0,"ok":true,"none":null,"m":{"a":[1,"b",{"c":0.25}]}}`
	cfg := fmt.Sprintf("[SERVICE]\n    flush 0.2\n    log_level error\n[INPUT]\n    name dummy\n    tag peer.fb\n    samples 1\n    dummy %s\n"+
		"[OUTPUT]\n    name nats\n    match *\n    host %s\n    port %d\n", record, s.Host(), s.Port())
	path := filepath.Join(t.TempDir(), "fb.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(peer, "-c", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	theirs := col.waitRecords(t, 1)[0]

	o, _ := newOutput(t, s.Host(), s.Port())
	connected(t, o)
	rec, err := event.RecordFromJSON([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("peer.go", event.Event{Time: time.Now(), Record: rec})); err != nil {
		t.Fatal(err)
	}
	msgs := col.waitRecords(t, 2)
	ours := msgs[len(msgs)-1]
	if theirs.Subject != "peer.fb" || ours.Subject != "peer.go" {
		t.Fatalf("subjects %q and %q, want the tags", theirs.Subject, ours.Subject)
	}
	// [[<time>,{"tag":"<tag>",...}]]: the time a float with a fraction, then the record.
	shape := regexp.MustCompile(`^\[\[[0-9]+\.[0-9]+,\{"tag":"peer\.(fb|go)",`)
	norm := func(b []byte) string { return shape.ReplaceAllString(string(b), `[[T,{"tag":"peer.X",`) }
	if !shape.Match(theirs.Data) || norm(theirs.Data) != norm(ours.Data) {
		t.Fatalf("Fluent Bit sent %s\nthis output sent  %s", theirs.Data, ours.Data)
	}
}
