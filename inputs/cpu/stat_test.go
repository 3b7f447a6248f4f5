package cpu

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocpu "github.com/shirou/gopsutil/v3/cpu"

	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
)

// The reader agrees with gopsutil's cpu.Times, which it replaces on Linux, line for line:
// totals, cores in order, malformed core lines skipped, the first non-core line ending
// the cores, and a file larger than the first buffer (a 192-core machine).
func TestStatReaderAgreesWithGopsutil(t *testing.T) {
	var big strings.Builder
	big.WriteString("cpu  123456 789 45678 9999999 100 0 55 7 0 0\n")
	for i := range 192 {
		fmt.Fprintf(&big, "cpu%d %d %d %d 99999 1 0 2 0 0 0\n", i, 1000+i*37, i, 500+i*11)
	}
	big.WriteString("intr 1 2 3\n")
	if big.Len() <= 4096 {
		t.Fatalf("the many-core file is %d bytes: not larger than the first buffer", big.Len())
	}
	for name, stat := range map[string]string{
		"three cores": "", // testdata/threecores
		"many cores":  big.String(),
		"old kernel (8 fields), odd lines": "cpu 10 1 5 100 0 0 0\ncpu0 10 1 5 100 0 0 0\n" +
			"cpu1 10 x 5 100 0 0 0\ncpu2 10 1\ncpu3 7 2 3 100 0 0 0 0 0 0 0 0\nintr 0\ncpu4 1 1 1 1 1 1 1\n",
		"no totals":   "cpu0 10 1 5 100 0 0 0\n",
		"no newline":  "cpu  300 30 150 9000 10 0 5 0 0 0\ncpu0 300 30 150 9000 10 0 5 0 0 0",
		"not a cpu":   "intr 0\n",
		"empty file":  "",
		"only totals": "cpu  300 30 150 9000 10 0 5 0 0 0\n",
	} {
		dir := "testdata/threecores"
		if stat != "" || name == "empty file" {
			dir = t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx := metric.Host{Proc: dir}.Context(context.Background())
		r := statReader{path: filepath.Join(dir, "stat")}
		total, totalOK, cores, err := r.read(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all, _ := gocpu.TimesWithContext(ctx, false)
		if totalOK != (len(all) > 0) {
			t.Errorf("%s: totals found %v, gopsutil %d", name, totalOK, len(all))
		} else if totalOK {
			want := times{user: all[0].User + all[0].Nice, system: all[0].System}
			if !near(total, want) {
				t.Errorf("%s: totals %+v, gopsutil %+v", name, total, want)
			}
		}
		per, _ := gocpu.TimesWithContext(ctx, true)
		if len(cores) != len(per) {
			t.Errorf("%s: %d cores, gopsutil %d", name, len(cores), len(per))
			continue
		}
		for i, c := range per {
			want := core{name: c.CPU, times: times{user: c.User + c.Nice, system: c.System}}
			if cores[i].name != want.name || !near(cores[i].times, want.times) {
				t.Errorf("%s: core %d %+v, gopsutil %+v", name, i, cores[i], want)
			}
		}
	}
}

func near(a, b times) bool {
	return math.Abs(a.user-b.user) < 1e-9 && math.Abs(a.system-b.system) < 1e-9
}

// A missing file is an error, so the input falls back to gopsutil.
func TestStatReaderMissingFile(t *testing.T) {
	r := statReader{path: filepath.Join(t.TempDir(), "stat")}
	if _, _, _, err := r.read(nil); err == nil {
		t.Error("no error for a missing stat file")
	}
}

// Once warm, a reading reuses its buffer, names and core slice: what is left is opening
// the file.
func TestStatReaderAllocations(t *testing.T) {
	r := statReader{path: "testdata/threecores/stat"}
	_, _, cores, err := r.read(nil)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() { _, _, cores, _ = r.read(cores[:0]) })
	if allocs > 4 {
		t.Errorf("a warm reading allocates %.0f times, want only os.Open's", allocs)
	}
}
