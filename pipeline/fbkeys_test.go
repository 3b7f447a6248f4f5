package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// fbStdout stands for a plugin Fluent Bit also has (stdout), taking only format.
type fbStdout struct {
	Format string `conf:"format"`
}

func (fbStdout) Flush(context.Context, *Chunk) error { return nil }

func init() { RegisterOutput("stdout", func() Output { return &fbStdout{} }) }

// A key Fluent Bit has for the plugin and the plugin does not take loads with one warning
// at its line; a key neither knows is the plugin's error with its suggestion; custom
// sections, which nothing runs, are warned about too.
func TestConfigureKnowsFluentBitKeys(t *testing.T) {
	sec := func(kv ...string) *config.Section {
		s := &config.Section{Kind: "output", Name: "stdout", File: "f.conf", Line: 1}
		for i := 0; i < len(kv); i += 2 {
			s.Props = append(s.Props, config.Property{Key: kv[i], Value: kv[i+1], File: "f.conf", Line: 2 + i/2})
		}
		return s
	}
	cfg := &config.Config{Outputs: []*config.Section{sec("match", "*", "format", "json", "json_date_key", "t", "json_date_key", "u", "log_level", "debug")},
		Other: []*config.Section{{Kind: "custom", Name: "calyptia", File: "f.conf", Line: 9}}}
	if err := NewEngine(Options{}).AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		`f.conf:9: custom "calyptia": not run`,
		`f.conf:4: key "json_date_key": output "stdout": a Fluent Bit key, accepted, no effect here`,
		`f.conf:6: key "log_level": output "stdout": a Fluent Bit key, accepted, no effect here`,
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d: %q, want %q...", i, got[i], want[i])
		}
	}
	cfg = &config.Config{Outputs: []*config.Section{sec("match", "*", "formatt", "json")}}
	err := NewEngine(Options{}).AddConfigured(cfg)
	if err == nil || !strings.HasPrefix(err.Error(), `f.conf:3: key "formatt": unknown key (did you mean "format"?)`) {
		t.Errorf("a key neither knows: %v", err)
	}
}
