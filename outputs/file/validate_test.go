package file

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
		{Key: "Json_Date_Format", Value: "unix", File: "t.conf", Line: 7},
	}
	err := pipeline.Configure(New(), props)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "json_date_format" {
		t.Fatalf("Configure error %v, want a config.Error about %s", err, "json_date_format")
	}
	sec := &config.Section{Kind: "output", Name: "file", File: "t.conf", Line: 5, Props: props}
	placed := config.Place(sec, `output "file"`, err)
	want := `t.conf:7: key "Json_Date_Format": output "file": `
	if got := placed.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("placed error %q, want it to start with %q", got, want)
	}
}

// Init's errors about a key are placed too (at start; --dry-run does not run Init).
func TestInitPlacesPathError(t *testing.T) {
	missing := t.TempDir() + "/no/such/dir"
	props := []config.Property{{Key: "Path", Value: missing, File: "t.conf", Line: 9}}
	o := New()
	if err := pipeline.Configure(o, props); err != nil {
		t.Fatal(err)
	}
	err := o.Init(t.Context(), pipeline.Env{})
	sec := &config.Section{Kind: "output", Name: "file", File: "t.conf", Line: 5, Props: props}
	placed := config.Place(sec, `output file: init`, err)
	want := `t.conf:9: key "Path": output file: init: "` + missing + `": no such directory`
	if placed == nil || !strings.HasPrefix(placed.Error(), want) {
		t.Errorf("placed error %v, want it to start with %q", placed, want)
	}
}
