package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var updateFBKeys = flag.Bool("update-fbkeys", false, "rewrite fluentbit_keys.json from the peer's fluent-bit -J")

// peerFluentBit is the real Fluent Bit the key table is generated from.
const peerFluentBit = "../../../shared/peers/fluent-bit"

// fbSchemaFromJ turns `fluent-bit -J` output into the table fluentbit_keys.json holds.
func fbSchemaFromJ(data []byte) (*fbSchema, error) {
	type option struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type plugin struct {
		Name       string              `json:"name"`
		Properties map[string][]option `json:"properties"`
	}
	var j struct {
		FluentBit struct {
			Version string `json:"version"`
		} `json:"fluent-bit"`
		Inputs  []plugin `json:"inputs"`
		Filters []plugin `json:"filters"`
		Outputs []plugin `json:"outputs"`
		Customs []plugin `json:"customs"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	table := func(ps []plugin) map[string][]string {
		m := map[string][]string{}
		for _, p := range ps {
			var own []string
			for sec, opts := range p.Properties {
				for _, o := range opts {
					k := strings.ToLower(o.Name)
					if o.Type == "prefixed string" {
						k += "*"
					}
					if sec == "global_options" {
						if !slices.Contains(m["*"], k) {
							m["*"] = append(m["*"], k)
						}
						continue
					}
					own = append(own, k)
				}
			}
			slices.Sort(own)
			m[p.Name] = slices.Compact(own)
		}
		slices.Sort(m["*"])
		return m
	}
	return &fbSchema{Version: j.FluentBit.Version, Input: table(j.Inputs), Filter: table(j.Filters),
		Output: table(j.Outputs), Custom: table(j.Customs)}, nil
}

// formatFBSchema writes the table one plugin a line, so a new Fluent Bit's diff is readable.
func formatFBSchema(s *fbSchema) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"version\": %q", s.Version)
	for _, k := range []struct {
		name string
		m    map[string][]string
	}{{"input", s.Input}, {"filter", s.Filter}, {"output", s.Output}, {"custom", s.Custom}} {
		fmt.Fprintf(&b, ",\n  %q: {", k.name)
		names := make([]string, 0, len(k.m))
		for n := range k.m {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			keys, _ := json.Marshal(k.m[n])
			sep := ","
			if i == len(names)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "\n    %q: %s%s", n, keys, sep)
		}
		b.WriteString("\n  }")
	}
	b.WriteString("\n}\n")
	return b.Bytes()
}

// The embedded table is what the peer Fluent Bit prints with -J.
func TestFluentBitKeysMatchPeer(t *testing.T) {
	if _, err := os.Stat(peerFluentBit); err != nil {
		t.Skipf("no peer Fluent Bit at %s: %v", peerFluentBit, err)
	}
	cmd := exec.Command(peerFluentBit, "-J")
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fluent-bit -J: %v", err)
	}
	s, err := fbSchemaFromJ(out)
	if err != nil {
		t.Fatal(err)
	}
	want := formatFBSchema(s)
	if *updateFBKeys {
		if err := os.WriteFile("fluentbit_keys.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(want, fluentBitKeysJSON) {
		t.Errorf("fluentbit_keys.json differs from the peer's fluent-bit -J: run go test ./config -run TestFluentBitKeysMatchPeer -update-fbkeys")
	}
}

func TestFluentBitKnows(t *testing.T) {
	for _, tc := range []struct {
		kind, plugin, key string
		want              bool
	}{
		{"service", "", "HTTP_Monitor", true},
		{"service", "", "Hot_Reload.Timeout", true},
		{"service", "", "storage.keep.rejected", true},
		{"service", "", "no_such_key", false},
		{"input", "http", "enable_health_endpoint", true},
		{"input", "http", "threaded", true}, // every input has it
		{"input", "tail", "parser_firstline", true},
		{"input", "http", "parser_x", false},
		{"output", "forward", "retain_metadata_in_forward_mode", true},
		{"output", "forward", "No_Such_Key", false},
		{"output", "no_such_plugin", "match", true}, // a plugin of ours only: the kind's keys
		{"output", "no_such_plugin", "host", false},
		{"filter", "grep", "Logical_Op", true},
	} {
		if got := FluentBitKnows(tc.kind, tc.plugin, tc.key); got != tc.want {
			t.Errorf("FluentBitKnows(%s, %s, %s) = %v, want %v", tc.kind, tc.plugin, tc.key, got, tc.want)
		}
	}
}

func TestFluentBitKeyWarningNamesKeyAndPlace(t *testing.T) {
	p := Property{Key: "dns.mode", Value: "TCP", File: "fluent-bit.conf", Line: 7}
	w, refused := FluentBitKeyWarning("service", "", p)
	if refused != nil {
		t.Fatalf("refused: %v", refused)
	}
	if got := w.Error(); !strings.HasPrefix(got, `fluent-bit.conf:7: key "dns.mode": service: a Fluent Bit key, accepted, no effect here: Go's resolver`) {
		t.Errorf("warning %q", got)
	}
	_, refused = FluentBitKeyWarning("output", "http", Property{Key: "aws_auth", Value: "on", File: "f", Line: 3})
	if refused == nil || !strings.Contains(refused.Error(), `f:3: key "aws_auth"`) {
		t.Errorf("aws_auth: %v, want an error at f:3", refused)
	}
}

func TestAddWarningOnce(t *testing.T) {
	var c Config
	w := Errorf(Property{Key: "k", File: "f", Line: 1}, "x")
	c.AddWarning(w)
	c.AddWarning(Errorf(Property{Key: "k", File: "f", Line: 1}, "x"))
	if len(c.Warnings) != 1 {
		t.Errorf("%d warnings, want 1", len(c.Warnings))
	}
}
