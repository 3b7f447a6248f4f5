package forward

import (
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// A program that builds its configuration in memory (no file to read the upstream from)
// still gets the upstream its output names.
func TestUpstreamFromInMemoryConfig(t *testing.T) {
	cfg, err := config.Parse("inline.yaml", []byte(`
upstream_servers:
  - name: aggregators
    nodes:
      - name: a
        host: 127.0.0.1
        port: 24301
      - name: b
        host: 127.0.0.1
        port: 24302
pipeline:
  outputs:
    - name: forward
      match: '*'
      upstream: aggregators
      upstream_mode: failover
`))
	if err != nil {
		t.Fatal(err)
	}
	e := pipeline.NewEngine(pipeline.Options{})
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	if m := e.Metrics(); len(m.Outputs) != 1 {
		t.Fatalf("outputs: %+v", m.Outputs)
	}
	o := New()
	o.SetConfig(cfg)
	if err := pipeline.Configure(o, []config.Property{{Key: "upstream", Value: "aggregators"}}); err != nil {
		t.Fatal(err)
	}
	if len(o.nodes) != 2 || o.nodes[0].Port != 24301 || o.nodes[1].Port != 24302 {
		t.Fatalf("nodes: %+v", o.nodes)
	}
	if err := pipeline.Configure(New(), []config.Property{{Key: "upstream", Value: "aggregators"}}); err == nil {
		t.Fatal("without the configuration, an upstream name that is no file was accepted")
	}
}
