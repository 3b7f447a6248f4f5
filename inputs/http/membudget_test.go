package http

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// A gzip body with no room in the process's memory budget once inflated is answered 503
// (the client keeps it and retries), on both servers; a small one is taken, and the
// budget is whole again afterwards.
func TestGzipBodyWithinMemoryBudget(t *testing.T) {
	forServers(t, func(t *testing.T, server string) {
		b := membudget.New(256 << 10)
		in := configured(t, "server", server)
		started := make(chan struct{})
		in.started = started
		var logs pipelinetest.Logs
		env := logs.Env("http.0")
		env.Budget = b
		run := pipelinetest.StartInput(t, in, env, nil)
		t.Cleanup(func() {
			if err := run.Stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not start")
		}
		url := "http://" + in.ListenAddr()
		gz := func(s string) []byte {
			var z bytes.Buffer
			w := gzip.NewWriter(&z)
			w.Write([]byte(s))
			w.Close()
			return z.Bytes()
		}
		big := gz(`[{"blob":"` + strings.Repeat("x", 2<<20) + `"}]`) // 2 MB inflated, under buffer_max_size
		resp, _ := post(t, url+"/big", "application/json", big, "Content-Encoding", "gzip")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("a body past the memory budget: %d, want 503 with Retry-After", resp.StatusCode)
		}
		resp, _ = post(t, url+"/small", "application/json", gz(`[{"msg":"hi"}]`), "Content-Encoding", "gzip")
		if resp.StatusCode != 201 {
			t.Fatalf("a small body: %d, want 201", resp.StatusCode)
		}
		if run.Rec.Len() != 1 {
			t.Fatalf("%d records, want the small body's one", run.Rec.Len())
		}
		if u := b.Used(); u > 64<<10 {
			t.Fatalf("%d bytes still reserved with no request in flight", u)
		}
	})
}
