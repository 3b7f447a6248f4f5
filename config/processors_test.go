package config

import (
	"strings"
	"testing"
)

func TestYAMLProcessorsAndServiceMaps(t *testing.T) {
	src := `service:
  flush: 1
  storage:
    path: /var/lib/fb
    keep.rejected: on
pipeline:
  inputs:
    - name: dummy
      processors:
        logs:
          - name: grep
            regex: level ^err
          - name: modify
            add: [env prod, site a]
        metrics:
          - name: metrics_selector
  outputs:
    - name: stdout
      match: '*'
      processors:
        logs:
          - name: record_modifier
            record: k v
`
	cfg, err := ParseYAML("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := cfg.Service.Get("storage.keep.rejected"); !ok || p.Value != "on" || p.Line != 5 {
		t.Errorf("storage.keep.rejected from the nested map: %+v %v", p, ok)
	}
	in := cfg.Inputs[0]
	if len(in.Children) != 2 || in.Children[0].Kind != "processor" || in.Children[0].Name != "grep" || in.Children[1].Name != "modify" {
		t.Fatalf("input processors %+v", in.Children)
	}
	if adds := in.Children[1].Props; len(adds) != 2 || adds[1].Value != "site a" {
		t.Errorf("modify's list %+v", adds)
	}
	if out := cfg.Outputs[0]; len(out.Children) != 1 || out.Children[0].Name != "record_modifier" {
		t.Errorf("output processors %+v", out.Children)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Error(), `p.yaml:15: key "processors.metrics": ignored`) {
		t.Errorf("warnings %v, want one about the metrics processors", cfg.Warnings)
	}
}
