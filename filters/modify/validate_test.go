package modify

import (
	"errors"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// A bad rule is reported by Configure (so by New and --dry-run, before Init), at the file
// and line of the very occurrence at fault, even when the key is repeated after it.
func TestConfigurePlacesBadRule(t *testing.T) {
	props := []config.Property{
		{Key: "Set", Value: "a", File: "t.conf", Line: 7},
		{Key: "Set", Value: "b c", File: "t.conf", Line: 8},
	}
	err := pipeline.Configure(&Modify{}, props)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "Set" || ce.Line != 7 {
		t.Fatalf("Configure error %v, want a config.Error about Set at line 7", err)
	}
	sec := &config.Section{Kind: "filter", Name: "modify", File: "t.conf", Line: 5, Props: props}
	want := `t.conf:7: key "Set": "a": want KEY VALUE (2 parameter(s)), got 1; quote a parameter that has spaces`
	if got := config.Place(sec, `filter "modify"`, err).Error(); got != want {
		t.Errorf("placed error\n%s\nwant\n%s", got, want)
	}
}
