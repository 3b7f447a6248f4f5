package recordmodifier

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
		{Key: "Record", Value: "hostname", File: "t.conf", Line: 7},
	}
	err := pipeline.Configure(&RecordModifier{}, props)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "record" {
		t.Fatalf("Configure error %v, want a config.Error about %s", err, "record")
	}
	sec := &config.Section{Kind: "filter", Name: "record_modifier", File: "t.conf", Line: 5, Props: props}
	placed := config.Place(sec, `filter "record_modifier"`, err)
	want := `t.conf:7: key "Record": filter "record_modifier": `
	if got := placed.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("placed error %q, want it to start with %q", got, want)
	}
}
