package proc

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func keysOf(m map[string]any) string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return strings.Join(k, " ")
}

const allKeys = "alive fd mem.VmData mem.VmExe mem.VmHWM mem.VmLck mem.VmLib mem.VmPTE mem.VmPeak mem.VmRSS mem.VmSize mem.VmStk mem.VmSwap pid proc_name"

// num reads an integer as outputs see it: msgpack gives int64 or uint64.
func num(v any) uint64 {
	switch n := v.(type) {
	case int64:
		if n >= 0 {
			return uint64(n)
		}
	case uint64:
		return n
	}
	return 0
}

var fake = metric.Host{Proc: "testdata/proc"}

func TestBadValuesNameTheKey(t *testing.T) {
	for _, props := range [][]string{
		{}, {"proc_name", " "}, {"proc_name", "/usr/bin/x"},
		{"proc_name", "x", "alert", "sometimes"}, {"proc_name", "x", "fd", "2"}, {"proc_name", "x", "mem", "y"},
		{"proc_name", "x", "interval_sec", "-2"},
	} {
		key := "proc_name"
		if len(props) > 2 {
			key = props[2]
		}
		if _, err := pipelinetest.NewInput("proc", props...); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v, want one naming %s", props, err, key)
		}
	}
}

// The test binary itself, on this machine: alive, its own pid, a resident size and open
// descriptors a running Go program has.
func TestThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	var logs pipelinetest.Logs
	in := pipelinetest.Input[*Input](t, "proc", "proc_name", filepath.Base(os.Args[0]), "interval_sec", "0", "interval_nsec", "20000000")
	r := pipelinetest.Collect(t, in, logs.Env("proc.0"), 2, 20*time.Second)[0].Event.Record
	if got := keysOf(r.ToMap()); got != allKeys {
		t.Fatalf("keys %s\nwant %s", got, allKeys)
	}
	if r.Value("alive") != true || r.Value("pid") != int64(os.Getpid()) || r.Value("proc_name") != filepath.Base(os.Args[0]) {
		t.Errorf("alive %v pid %v proc_name %v; want true, %d", r.Value("alive"), r.Value("pid"), r.Value("proc_name"), os.Getpid())
	}
	rss, size := num(r.Value("mem.VmRSS")), num(r.Value("mem.VmSize"))
	if rss < 1e6 || rss > 1e12 || size < rss {
		t.Errorf("mem.VmRSS %v, mem.VmSize %v", r.Value("mem.VmRSS"), r.Value("mem.VmSize"))
	}
	if fd := num(r.Value("fd")); fd < 3 || fd > 10000 {
		t.Errorf("fd %v", r.Value("fd"))
	}
	if n := logs.Count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings", n)
	}
}

func TestFakeProcess(t *testing.T) {
	in := New()
	in.ProcName, in.host = "crond", fake
	if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Fatal(err)
	}
	r := in.collect(fake.Context(context.Background()))
	want := map[string]any{
		"alive": true, "proc_name": "crond", "pid": int64(7), "fd": uint64(4),
		"mem.VmPeak": uint64(14740000), "mem.VmSize": uint64(14740000), "mem.VmLck": uint64(0),
		"mem.VmHWM": uint64(1120000), "mem.VmRSS": uint64(1120000), "mem.VmData": uint64(2276000),
		"mem.VmStk": uint64(88000), "mem.VmExe": uint64(1768000), "mem.VmLib": uint64(2328000),
		"mem.VmPTE": uint64(68000), "mem.VmSwap": uint64(0),
	}
	for k, v := range want {
		if r.Value(k) != v {
			t.Errorf("%s = %#v, want %#v", k, r.Value(k), v)
		}
	}
	if len(r) != len(want) {
		t.Errorf("keys %s", keysOf(r.ToMap()))
	}
	// nginx rewrites its argv: found by its kernel name.
	in.ProcName = "nginx"
	if r := in.collect(fake.Context(context.Background())); r.Value("pid") != int64(30) || r.Value("mem.VmRSS") != uint64(900000) || r.Value("fd") != uint64(1) {
		t.Errorf("nginx: %v", r)
	}
}

func TestNotRunning(t *testing.T) {
	for _, tc := range []struct {
		props []string
		keys  string
	}{
		{nil, allKeys},
		{[]string{"mem", "off"}, "alive fd pid proc_name"},
		{[]string{"fd", "off", "mem", "off"}, "alive pid proc_name"},
		{[]string{"alert", "on"}, allKeys},
	} {
		in := pipelinetest.Input[*Input](t, "proc", append([]string{"proc_name", "no-such-daemon"}, tc.props...)...)
		in.host = fake
		if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
			t.Fatal(err)
		}
		r := in.collect(fake.Context(context.Background()))
		if got := keysOf(r.ToMap()); got != tc.keys {
			t.Errorf("%q: keys %s, want %s", tc.props, got, tc.keys)
		}
		if r.Value("alive") != false || r.Value("pid") != int64(-1) || r.Value("proc_name") != "no-such-daemon" {
			t.Errorf("%q: %v", tc.props, r)
		}
		for k, v := range r.All() {
			if strings.HasPrefix(k, "mem.") && v != uint64(0) {
				t.Errorf("%s = %v for a process that is not running", k, v)
			}
		}
	}
}

// alert: silent while the process runs, a record per interval while it does not.
func TestAlert(t *testing.T) {
	dir := t.TempDir()
	host := metric.Host{Proc: dir}
	in := New()
	in.ProcName, in.Alert, in.host = "sensord", true, host
	if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Fatal(err)
	}
	ctx := host.Context(context.Background())
	if r := in.collect(ctx); r == nil || r.Value("alive") != false {
		t.Fatalf("not running: %v, want an alert", r)
	}
	p := filepath.Join(dir, "99")
	os.MkdirAll(filepath.Join(p, "fd"), 0o755)
	os.WriteFile(filepath.Join(p, "cmdline"), []byte("./sensord\x00"), 0o644)
	os.WriteFile(filepath.Join(p, "status"), []byte("VmRSS: 1 kB\n"), 0o644)
	if r := in.collect(ctx); r != nil {
		t.Errorf("running: %v, want no record", r)
	}
	os.RemoveAll(p) // it died
	if r := in.collect(ctx); r == nil || r.Value("alive") != false || r.Value("pid") != int64(-1) {
		t.Errorf("after it exited: %v, want an alert", r)
	}
}

func TestParseStatus(t *testing.T) {
	data, err := os.ReadFile("testdata/proc/7/status")
	if err != nil {
		t.Fatal(err)
	}
	vm := parseStatus(data)
	if vm["VmPeak"] != 14740 || vm["VmRSS"] != 1120 || vm["VmPTE"] != 68 || len(vm) != 12 {
		t.Errorf("parsed %v", vm)
	}
	for _, bad := range []string{"VmRSS", "VmRSS: x kB", "VmRSS: -1 kB", "VmRSS: 99999999999999999999 kB"} {
		if vm := parseStatus([]byte(bad)); len(vm) != 0 {
			t.Errorf("%q parsed as %v", bad, vm)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	data, err := os.ReadFile("testdata/proc/7/status")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("VmRSS:\t1 kB\nVmSwap:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for k, v := range parseStatus(data) {
			if !strings.HasPrefix(k, "Vm") || v > 1<<53 {
				t.Fatalf("%s = %d", k, v)
			}
		}
	})
}
