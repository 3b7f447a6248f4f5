package grep

import (
	"errors"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// A bad value is reported by Configure (so by New and --dry-run, before Init), as an
// error about the key that the engine places at the key's file and line.
func TestConfigurePlacesBadValue(t *testing.T) {
	props := []config.Property{
		{Key: "Regex", Value: "log ([a-z", File: "t.conf", Line: 7},
	}
	err := pipeline.Configure(&Grep{}, props)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "regex" {
		t.Fatalf("Configure error %v, want a config.Error about %s", err, "regex")
	}
	sec := &config.Section{Kind: "filter", Name: "grep", File: "t.conf", Line: 5, Props: props}
	placed := config.Place(sec, `filter "grep"`, err)
	want := `t.conf:7: key "Regex": filter "grep": `
	if got := placed.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("placed error %q, want it to start with %q", got, want)
	}
}

func TestConfigureRefusesMixedRulesWithLogicalOp(t *testing.T) {
	err := pipeline.Configure(&Grep{}, []config.Property{
		{Key: "Regex", Value: "a b"}, {Key: "Exclude", Value: "c d"}, {Key: "Logical_Op", Value: "AND"},
	})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "logical_op" || !strings.Contains(err.Error(), "cannot be mixed") {
		t.Errorf("Configure error %v, want one about logical_op", err)
	}
}
