package thermal

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// fake is the testdata sysfs: zones 0, 1, 2 (no temp file) and 10, and a cooling device.
var fake = metric.Host{Sys: "testdata/sys"}

func TestRecordsPerZone(t *testing.T) {
	var logs pipelinetest.Logs
	in := pipelinetest.Input[*Input](t, "thermal", "interval_sec", "0", "interval_nsec", "10000000")
	in.host = fake
	recs := pipelinetest.Collect(t, in, logs.Env("thermal.0"), 6, 20*time.Second) // two intervals of three readable zones
	want := []struct {
		name, typ string
		temp      float64
	}{{"thermal_zone0", "cpu-thermal", 47.236}, {"thermal_zone1", "x86_pkg_temp", 60}, {"thermal_zone10", "acpitz", -5.5}}
	for i, r := range recs {
		w := want[i%3]
		rec := r.Event.Record
		if len(rec) != 3 || rec.Value("name") != w.name || rec.Value("type") != w.typ || rec.Value("temp") != w.temp {
			t.Errorf("record %d = %v, want name %s type %s temp %v", i, rec, w.name, w.typ, w.temp)
		}
	}
	// thermal_zone2 has no temperature: said once, not every interval.
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings, want 1 about thermal_zone2", n)
	} else if r := logs.Records()[0]; !strings.Contains(r.Message, "temperature") {
		t.Errorf("warning %q", r.Message)
	}
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		props []string
		want  string
	}{
		{[]string{"name_regex", "^thermal_zone0$"}, "thermal_zone0"},
		{[]string{"name_regex", "zone1"}, "thermal_zone1 thermal_zone10"},
		{[]string{"type_regex", "^(cpu|acpi)"}, "thermal_zone0 thermal_zone10"},
		{[]string{"name_regex", "zone1", "type_regex", "pkg"}, "thermal_zone1"},
		{[]string{"name_regex", "nothing"}, ""},
	} {
		in := pipelinetest.Input[*Input](t, "thermal", tc.props...)
		in.host = fake
		if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, z := range in.Zones(fake.Context(context.Background())) {
			got = append(got, z.Name)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%q: zones %q, want %q", tc.props, got, tc.want)
		}
	}
}

func TestBadRegexNamesTheKey(t *testing.T) {
	for _, key := range []string{"name_regex", "type_regex"} {
		if _, err := pipelinetest.NewInput("thermal", key, "("); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming the key", key, err)
		}
	}
	if _, err := pipelinetest.NewInput("thermal", "interval_nsec", "-5"); err == nil || !strings.Contains(err.Error(), "interval_nsec") {
		t.Errorf("interval_nsec -5: %v", err)
	}
}

// This machine may have no thermal zones: then one log line, no records, no crash; with
// zones, each record has Fluent Bit's three fields and a temperature a machine can have.
func TestThisMachine(t *testing.T) {
	var logs pipelinetest.Logs
	in := New()
	in.IntervalSec, in.IntervalNsec = 0, 10e6
	recs := pipelinetest.RunFor(t, in, logs.Env("thermal.0"), 200*time.Millisecond) // ~20 intervals
	entries, _ := os.ReadDir("/sys/class/thermal")
	zones := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "thermal_zone") {
			zones++
		}
	}
	if zones == 0 {
		if len(recs) != 0 || logs.Count(slog.LevelWarn) != 1 {
			t.Errorf("no zones: %d records and %d warnings, want 0 and 1", len(recs), logs.Count(slog.LevelWarn))
		}
		t.Logf("no thermal zones here: %v", logs.Records()[0].Message)
		return
	}
	for i, r := range recs {
		rec := r.Event.Record
		name, _ := rec.Value("name").(string)
		temp, ok := rec.Value("temp").(float64)
		if len(rec) != 3 || !strings.HasPrefix(name, "thermal_zone") || !ok || temp < -60 || temp > 150 {
			t.Errorf("record %d = %v", i, rec)
		}
	}
}

func TestZonesAppearLater(t *testing.T) {
	dir := t.TempDir()
	var logs pipelinetest.Logs
	in := New()
	in.host = metric.Host{Sys: dir}
	if err := in.Init(context.Background(), logs.Env("thermal.0")); err != nil {
		t.Fatal(err)
	}
	ctx := in.host.Context(context.Background())
	for range 5 {
		if z := in.Zones(ctx); z != nil {
			t.Fatalf("zones %v in an empty sysfs", z)
		}
	}
	zone := dir + "/class/thermal/thermal_zone0"
	if err := os.MkdirAll(zone, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(zone+"/type", []byte("soc\n"), 0o644)
	os.WriteFile(zone+"/temp", []byte("41000\n"), 0o644)
	if z := in.Zones(ctx); len(z) != 1 || z[0] != (Zone{"thermal_zone0", "soc", 41}) {
		t.Errorf("zones %v once one appeared", z)
	}
	if w := logs.Count(slog.LevelWarn); w != 1 {
		t.Errorf("%d warnings, want 1", w)
	}
}
