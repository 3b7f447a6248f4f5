package cpu

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
		{Key: "Interval_Nsec", Value: "-5", File: "t.conf", Line: 7},
	}
	err := pipeline.Configure(New(), props)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "interval_nsec" {
		t.Fatalf("Configure error %v, want a config.Error about %s", err, "interval_nsec")
	}
	sec := &config.Section{Kind: "input", Name: "cpu", File: "t.conf", Line: 5, Props: props}
	placed := config.Place(sec, `input "cpu"`, err)
	want := `t.conf:7: key "Interval_Nsec": input "cpu": `
	if got := placed.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("placed error %q, want it to start with %q", got, want)
	}
}
