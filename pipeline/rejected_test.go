package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// A chunk an output refuses for good is kept, with its sidecar, in the rejected directory
// when storage.keep.rejected is on: the .msgpack holds the chunk's records as sent.
func TestKeepRejectedWritesChunkAndSidecar(t *testing.T) {
	dir := t.TempDir()
	opts := fastOpts()
	opts.Storage.Path = dir
	opts.Storage.KeepRejected = true
	e := NewEngine(opts)
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(-1)
	out.failN.Store(1)
	out.perm = true
	e.AddOutput(OutputSpec{Plugin: "http", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	for i := 0; i < 3; i++ {
		if err := em.Emit("app/log one", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Fatalf("%d chunks left", len(left))
	}
	o := e.Metrics().Outputs[0]
	if o.RejectedChunks != 1 || o.RejectedKept != 1 || o.DroppedRecords != 3 {
		t.Fatalf("metrics %+v: want 1 rejected chunk kept, 3 dropped records", o)
	}
	sides, _ := filepath.Glob(filepath.Join(dir, "rejected", "*.json"))
	if len(sides) != 1 {
		t.Fatalf("sidecars %v, want 1", sides)
	}
	if base := filepath.Base(sides[0]); !strings.HasPrefix(base, "app_log_one_http.0_") {
		t.Errorf("file %s: want the sanitized tag and the output's name first", base)
	}
	raw, err := os.ReadFile(sides[0])
	if err != nil {
		t.Fatal(err)
	}
	var sc RejectedSidecar
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	if sc.Tag != "app/log one" || sc.Output != "http.0" || sc.Records != 3 || sc.Error == "" {
		t.Errorf("sidecar %+v", sc)
	}
	data, err := os.ReadFile(filepath.Join(dir, "rejected", sc.Chunk))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != sc.Bytes {
		t.Errorf("chunk file %d bytes, sidecar says %d", len(data), sc.Bytes)
	}
	n := 0
	if err := (&Chunk{Tag: sc.Tag, Data: data, Records: sc.Records}).Events(func(ev event.Event) error {
		n++
		return nil
	}); err != nil || n != 3 {
		t.Errorf("replaying the kept chunk: %d records, %v; want 3", n, err)
	}
}

// With keep.rejected off the drop is still counted as a rejected chunk.
func TestRejectedCountedWhenNotKept(t *testing.T) {
	e := NewEngine(fastOpts())
	em := e.AddInput(InputSpec{Plugin: "test", Input: idleInput{}})
	out := newCollect(-1)
	out.failN.Store(1)
	out.perm = true
	e.AddOutput(OutputSpec{Plugin: "bad", Match: "*", Output: out, RetryLimit: RetryForever})
	startEngine(t, e)
	if err := em.Emit("app", rec(1)); err != nil {
		t.Fatal(err)
	}
	e.Stop(context.Background())
	if o := e.Metrics().Outputs[0]; o.RejectedChunks != 1 || o.RejectedKept != 0 {
		t.Fatalf("metrics %+v: want 1 rejected chunk, none kept", o)
	}
}
