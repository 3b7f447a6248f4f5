package mem

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// collect runs the mem input configured from props until n records arrived.
func collect(t *testing.T, logs *pipelinetest.Logs, n int, props ...string) []pipelinetest.Record {
	t.Helper()
	return pipelinetest.Collect(t, pipelinetest.Input[*Input](t, "mem", props...), logs.Env("mem.0"), n, 20*time.Second)
}

func keysOf(m map[string]any) string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return strings.Join(k, " ")
}

// num reads an integer field as outputs see it (msgpack gives int64 or uint64).
func num(t *testing.T, rec map[string]any, key string) uint64 {
	t.Helper()
	switch v := rec[key].(type) {
	case int64:
		if v < 0 {
			t.Errorf("%s = %d, negative", key, v)
		}
		return uint64(v)
	case uint64:
		return v
	}
	t.Errorf("%s = %#v, want an integer", key, rec[key])
	return 0
}

const systemKeys = "Mem.free Mem.total Mem.used Swap.free Swap.total Swap.used"

func TestDecode(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "mem", "Interval_Sec", "2", "Interval_Nsec", "500000000", "PID", "42")
	if in.IntervalSec != 2*time.Second || in.IntervalNsec != 5e8 || in.PID != 42 {
		t.Errorf("decoded %+v", in)
	}
	for _, tc := range []struct {
		props []string
		want  time.Duration
	}{
		{nil, time.Second},
		{[]string{"interval_sec", "0", "interval_nsec", "50000000"}, 50 * time.Millisecond},
		{[]string{"interval_sec", "1", "interval_nsec", "500000000"}, 1500 * time.Millisecond},
		{[]string{"interval_sec", "500ms"}, 500 * time.Millisecond},
		{[]string{"interval_sec", "0"}, time.Second},
	} {
		if got := pipelinetest.Input[*Input](t, "mem", tc.props...).interval; got != tc.want {
			t.Errorf("%v: interval %v, want %v", tc.props, got, tc.want)
		}
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"interval_sec", "often"},
		{"interval_sec", "-1"},
		{"interval_nsec", "1.5"},
		{"interval_nsec", "-1"},
		{"pid", "self"},
		{"pid", "-1"},
		{"pid", "2147483646"}, // no such process
	} {
		in, err := pipelinetest.As[*Input](pipelinetest.NewInput("mem", tc.key, tc.value))
		if err == nil {
			err = in.Init(context.Background(), pipeline.Env{})
		}
		if err == nil {
			t.Errorf("%s %q: no error", tc.key, tc.value)
			continue
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s %q: error %q does not name the key", tc.key, tc.value, err)
		}
	}
}

func TestSystemRecord(t *testing.T) {
	var logs pipelinetest.Logs
	for i, r := range collect(t, &logs, 2, "interval_sec", "0", "interval_nsec", "50000000") {
		rec := r.Event.Record
		if got := keysOf(rec.ToMap()); got != systemKeys {
			t.Errorf("record %d keys %s, want %s", i, got, systemKeys)
		}
		total, used, free := num(t, rec.ToMap(), "Mem.total"), num(t, rec.ToMap(), "Mem.used"), num(t, rec.ToMap(), "Mem.free")
		if total == 0 || used+free != total || free > total {
			t.Errorf("record %d: Mem.total %d, used %d, free %d", i, total, used, free)
		}
		// kB, not bytes: no machine running this test has a petabyte of RAM.
		if total > 1<<40 {
			t.Errorf("Mem.total %d looks like bytes, want kB", total)
		}
		stotal, sused, sfree := num(t, rec.ToMap(), "Swap.total"), num(t, rec.ToMap(), "Swap.used"), num(t, rec.ToMap(), "Swap.free")
		if sused+sfree != stotal {
			t.Errorf("record %d: Swap.total %d, used %d, free %d", i, stotal, sused, sfree)
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings on a platform with every counter", n)
	}
}

// Values come from the kernel's MemTotal and MemFree, in kB, as Fluent Bit reports them.
func TestMeminfoValues(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads a Linux /proc/meminfo")
	}
	var logs pipelinetest.Logs
	in := New()
	in.procRoot = "testdata/proc"
	in.IntervalSec, in.IntervalNsec = 0, 10e6
	rec := pipelinetest.Collect(t, in, logs.Env("mem.0"), 1, 20*time.Second)[0].Event.Record
	for key, want := range map[string]uint64{"Mem.total": 443100, "Mem.free": 201256, "Mem.used": 443100 - 201256} {
		if got := num(t, rec.ToMap(), key); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
}

func TestProcessRecord(t *testing.T) {
	var logs pipelinetest.Logs
	rec := collect(t, &logs, 1, "interval_sec", "0", "interval_nsec", "50000000", "pid", strconv.Itoa(os.Getpid()))[0].Event.Record
	if got, want := keysOf(rec.ToMap()), systemKeys+" proc_bytes proc_hr"; got != want {
		t.Fatalf("keys %s, want %s", got, want)
	}
	rss := num(t, rec.ToMap(), "proc_bytes")
	if rss < 1<<20 || rss > 1<<40 {
		t.Errorf("proc_bytes %d: not a test binary's resident size in bytes", rss)
	}
	if hr, _ := rec.Value("proc_hr").(string); !strings.HasSuffix(hr, "M") && !strings.HasSuffix(hr, "G") {
		t.Errorf("proc_hr %q for %d bytes", rec.Value("proc_hr"), rss)
	}
}

// A process that exits: one warning, its fields leave, the system fields stay.
func TestProcessGone(t *testing.T) {
	var logs pipelinetest.Logs
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "mem", "interval_sec", "0", "interval_nsec", "10000000", "pid", strconv.Itoa(os.Getpid())), logs.Env("mem.0"))
	in.proc.Pid = 2147483646 // as if the process had exited after Init
	recs := pipelinetest.Collect(t, struct{ pipeline.Input }{in}, logs.Env("mem.0"), 5, 20*time.Second)
	for i, r := range recs {
		if got := keysOf(r.Event.Record.ToMap()); got != systemKeys {
			t.Errorf("record %d keys %s, want the system fields only", i, got)
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings over 5 intervals, want 1", n)
	}
}

// A platform without the counters: one warning each, no record, Run keeps going.
func TestMissingCountersLogOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("points gopsutil at an empty /proc")
	}
	var logs pipelinetest.Logs
	in := New()
	in.procRoot = t.TempDir()
	in.IntervalSec, in.IntervalNsec = 0, 10e6
	recs := pipelinetest.RunFor(t, in, logs.Env("mem.0"), 200*time.Millisecond) // ~20 intervals
	// Swap comes from sysinfo(2), not /proc, so it is still there.
	for i, r := range recs {
		if got := keysOf(r.Event.Record.ToMap()); got != "Swap.free Swap.total Swap.used" {
			t.Errorf("record %d keys %s, want only swap", i, got)
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings over ~20 intervals, want 1", n)
	}
}

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 b"}, {512, "512 b"}, {1023, "1023 b"}, {1024, "1.00K"}, {1536, "1.50K"},
		{12 << 20, "12.00M"}, {3 << 30, "3.00G"}, {1 << 62, "4.00E"}, {1<<64 - 1, "16.00E"},
	} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// On Linux the system fields come from sysinfo(2): the same counters as /proc/meminfo's
// (totals compared exactly; free memory moves between the two reads), with no garbage
// left per sample beyond the boxed numbers.
func TestSysinfoMatchesMeminfo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sysinfo(2) is Linux's")
	}
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "mem"), pipeline.Env{})
	rec := in.sample(context.Background())
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip("no /proc/meminfo:", err)
	}
	meminfo := map[string]uint64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			meminfo[strings.TrimSuffix(f[0], ":")] = n
		}
	}
	for key, field := range map[string]string{"Mem.total": "MemTotal", "Swap.total": "SwapTotal"} {
		if got, want := num(t, rec.ToMap(), key), meminfo[field]; got != want {
			t.Errorf("%s = %d kB, /proc/meminfo %s = %d kB", key, got, field, want)
		}
	}
	if allocs := testing.AllocsPerRun(20, func() { in.sample(context.Background()) }); allocs > 6 {
		t.Errorf("a sample allocates %.0f times, want at most the 6 boxed numbers", allocs)
	}
}
