package forward

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// TestNodeTLSErrorAtNodeKey: a node's own tls.ca_path that cannot be read is reported at
// the node's line in the upstream file, naming the node and the key.
func TestNodeTLSErrorAtNodeKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "up.yaml")
	text := "upstream_servers:\n  - name: u\n    nodes:\n      - name: n1\n        host: 127.0.0.1\n        port: 1\n        tls: on\n        tls.ca_path: /nonexistent/cas\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := configure("upstream " + path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &pipelinetest.Logs{}
	err = o.Init(context.Background(), logs.Env("forward.0"))
	want := path + `:8: key "tls.ca_path": node n1: `
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Init: %v; want an error starting %q", err, want)
	}
}
