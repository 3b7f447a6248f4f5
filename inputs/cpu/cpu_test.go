package cpu

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gocpu "github.com/shirou/gopsutil/v3/cpu"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// collect runs the cpu input configured from props until n records arrived.
func collect(t *testing.T, logs *pipelinetest.Logs, n int, props ...string) []pipelinetest.Record {
	t.Helper()
	return pipelinetest.Collect(t, pipelinetest.Input[*Input](t, "cpu", props...), logs.Env("cpu.0"), n, 20*time.Second)
}

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func checkPercents(t *testing.T, rec map[string]any) {
	t.Helper()
	for k, v := range rec {
		f, ok := v.(float64)
		if !ok {
			t.Errorf("%s = %#v, want a float64", k, v)
			continue
		}
		if math.IsNaN(f) || f < 0 || f > 100 {
			t.Errorf("%s = %v, want 0..100", k, f)
		}
	}
}

func TestDecode(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "cpu", "Interval_Sec", "2", "Interval_Nsec", "500000000", "PID", "42")
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
		{[]string{"interval_sec", "0.25"}, 250 * time.Millisecond},
		{[]string{"interval_sec", "0"}, time.Second}, // Fluent Bit's fallback
	} {
		if got := pipelinetest.Input[*Input](t, "cpu", tc.props...).interval; got != tc.want {
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
		{"pid", "-7"},
		{"pid", "2147483646"}, // no such process
	} {
		in, err := pipelinetest.As[*Input](pipelinetest.NewInput("cpu", tc.key, tc.value))
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

// The system record has Fluent Bit's fields: the totals and three per core.
func TestSystemRecord(t *testing.T) {
	var logs pipelinetest.Logs
	cores, err := gocpu.Times(true)
	if err != nil || len(cores) == 0 {
		t.Skipf("no per-core CPU times here: %v", err)
	}
	want := []string{"cpu_p", "system_p", "user_p"}
	for _, c := range cores {
		want = append(want, c.CPU+".p_cpu", c.CPU+".p_system", c.CPU+".p_user")
	}
	sort.Strings(want)
	start := time.Now()
	recs := collect(t, &logs, 2, "interval_sec", "0", "interval_nsec", "50000000")
	for i, r := range recs {
		if got := keysOf(r.Event.Record.ToMap()); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("record %d keys %v, want %v", i, got, want)
		}
		checkPercents(t, r.Event.Record.ToMap())
		rec := r.Event.Record
		if cpu, user, sys := rec.Value("cpu_p").(float64), rec.Value("user_p").(float64), rec.Value("system_p").(float64); math.Abs(cpu-(user+sys)) > 1e-6 {
			t.Errorf("cpu_p %v != user_p %v + system_p %v", cpu, user, sys)
		}
		if r.Event.Time.Before(start.Round(0)) || r.Event.Time.After(time.Now()) {
			t.Errorf("record %d time %v is not the sampling time", i, r.Event.Time)
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings on a platform with every counter", n)
	}
}

// A process's own usage: fields cpu_p, user_p, system_p only, and a busy process shows.
func TestProcessRecord(t *testing.T) {
	var logs pipelinetest.Logs
	var stop atomic.Bool
	defer stop.Store(true)
	go func() { // keep this process busy so there is something to see
		for x := 0; !stop.Load(); x++ {
			_ = x * x
		}
	}()
	recs := collect(t, &logs, 3, "interval_nsec", "100000000", "interval_sec", "0", "pid", strconv.Itoa(os.Getpid()))
	busy := false
	for i, r := range recs {
		if got := keysOf(r.Event.Record.ToMap()); strings.Join(got, " ") != "cpu_p system_p user_p" {
			t.Errorf("record %d keys %v, want cpu_p system_p user_p", i, got)
		}
		checkPercents(t, r.Event.Record.ToMap())
		busy = busy || r.Event.Record.Value("cpu_p").(float64) > 0
	}
	if !busy {
		t.Errorf("a busy loop in this process never showed in cpu_p: %v", recs)
	}
}

// Fluent Bit's arithmetic on known counters: totals are divided by the number of cores,
// cores are not.
func TestPercentages(t *testing.T) {
	in := New()
	if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(100, 0)
	prev := snapshot{at: t0, ok: true, total: times{user: 10, system: 5},
		cores: []core{{"cpu0", times{5, 2}}, {"cpu1", times{5, 3}}}}
	cur := snapshot{at: t0.Add(2 * time.Second), ok: true, total: times{user: 12.4, system: 6.2},
		cores: []core{{"cpu0", times{6, 2.5}}, {"cpu1", times{6.4, 3.7}}}}
	got := in.record(prev, cur)
	want := map[string]any{
		"cpu_p": 90.0, "user_p": 60.0, "system_p": 30.0, // (2.4+1.2)s / 2s / 2 cores
		"cpu0.p_cpu": 75.0, "cpu0.p_user": 50.0, "cpu0.p_system": 25.0,
		// 70% + 35% is more than a core can do: both are scaled down to add up to 100.
		"cpu1.p_cpu": 100.0, "cpu1.p_user": 200.0 / 3, "cpu1.p_system": 100.0 / 3,
	}
	for k, w := range want {
		if g, ok := got.Value(k).(float64); !ok || math.Abs(g-w.(float64)) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got.Value(k), w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("record %v has other keys than %v", got, want)
	}
	// A core that appears between readings is left out until it has two.
	cur.cores = append(cur.cores, core{"cpu2", times{1, 1}})
	if got := in.record(prev, cur); got.Value("cpu2.p_cpu") != nil {
		t.Errorf("new core reported without a previous reading: %v", got.Value("cpu2.p_cpu"))
	}
	// Counters that went backwards (a reset) give 0, not a negative share.
	reset := prev
	reset.at = cur.at.Add(time.Second)
	if got := in.record(cur, reset); got.Value("cpu_p") != 0.0 {
		t.Errorf("cpu_p after a counter reset = %v, want 0", got.Value("cpu_p"))
	}
}

// Core names come from the kernel: a three-core /proc/stat gives cpu0..cpu2 whatever this
// machine has, and unchanged counters give 0%.
func TestCoreNamesFollowTheKernel(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads a Linux /proc/stat")
	}
	var logs pipelinetest.Logs
	in := New()
	in.procRoot = "testdata/threecores"
	in.IntervalSec, in.IntervalNsec = 0, 20e6
	r := pipelinetest.Collect(t, in, logs.Env("cpu.0"), 1, 20*time.Second)[0].Event.Record
	if in.ncpu != 3 {
		t.Errorf("online cores %d, want 3 from the stat file", in.ncpu)
	}
	// As Fluent Bit: user time includes nice time.
	s := in.sample(in.env(context.Background()))
	hz := gocpu.ClocksPerSec
	if want := (times{user: 330 / hz, system: 150 / hz}); !s.ok || math.Abs(s.total.user-want.user) > 1e-9 || math.Abs(s.total.system-want.system) > 1e-9 {
		t.Errorf("totals %+v, want %+v", s.total, want)
	}
	if len(s.cores) != 3 || math.Abs(s.cores[2].user-110/hz) > 1e-9 {
		t.Errorf("cores %+v", s.cores)
	}
	want := "cpu0.p_cpu cpu0.p_system cpu0.p_user cpu1.p_cpu cpu1.p_system cpu1.p_user cpu2.p_cpu cpu2.p_system cpu2.p_user cpu_p system_p user_p"
	if got := strings.Join(keysOf(r.ToMap()), " "); got != want {
		t.Errorf("keys %s, want %s", got, want)
	}
	for k, v := range r.All() {
		if v != 0.0 {
			t.Errorf("%s = %v with unchanged counters, want 0", k, v)
		}
	}
}

// A platform without the counters: one warning, no record, no panic, Run keeps going
// until it is stopped.
func TestMissingCountersLogOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("points gopsutil at an empty /proc")
	}
	var logs pipelinetest.Logs
	in := New()
	in.procRoot = t.TempDir()
	in.IntervalSec, in.IntervalNsec = 0, 10e6
	if recs := pipelinetest.RunFor(t, in, logs.Env("cpu.0"), 200*time.Millisecond); len(recs) != 0 { // ~20 intervals
		t.Errorf("%d records without counters", len(recs))
	}
	if n := logs.Count(slog.LevelWarn); n != 2 { // totals and per-core: once each
		t.Errorf("%d warnings over ~20 intervals, want one per missing counter", n)
	}
}

// A process that exits: one warning, no records, Run keeps going.
func TestProcessGone(t *testing.T) {
	var logs pipelinetest.Logs
	in := pipelinetest.Init(t, pipelinetest.Input[*Input](t, "cpu", "interval_sec", "0", "interval_nsec", "10000000", "pid", strconv.Itoa(os.Getpid())), logs.Env("cpu.0"))
	in.proc.Pid = 2147483646 // as if the process had exited after Init
	// ~20 intervals; Init was above.
	if recs := pipelinetest.RunFor(t, struct{ pipeline.Input }{in}, logs.Env("cpu.0"), 200*time.Millisecond); len(recs) != 0 {
		t.Errorf("%d records for a process that is gone", len(recs))
	}
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings over ~20 intervals, want 1", n)
	}
}
