package netif

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
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

func TestBadValuesNameTheKey(t *testing.T) {
	for _, props := range [][]string{
		{},
		{"interface", " "},
		{"interface", "eth0:1"},
		{"interface", "lo", "interval_sec", "-1"},
		{"interface", "lo", "verbose", "maybe"},
		{"interface", "lo", "test_at_init", "2"},
	} {
		_, err := pipelinetest.NewInput("netif", props...)
		key := "interface"
		if len(props) > 2 {
			key = props[2]
		}
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v, want one naming %s", props, err, key)
		}
	}
}

func TestTestAtInit(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "netif", "interface", "nosuchif0", "test_at_init", "on")
	if err := in.Init(context.Background(), pipeline.Env{}); err == nil || !strings.Contains(err.Error(), "interface") {
		t.Errorf("Init = %v, want an error about the interface", err)
	}
	in = pipelinetest.Input[*Input](t, "netif", "interface", "nosuchif0")
	if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Errorf("Init without test_at_init = %v, want it to wait for the interface", err)
	}
}

// Loopback traffic the test makes shows up in lo's counters, under Fluent Bit's names.
func TestLoopbackOnThisMachine(t *testing.T) {
	if _, err := os.Stat("/proc/net/dev"); err != nil {
		t.Skip("no /proc/net/dev")
	}
	for _, verbose := range []bool{false, true} {
		var logs pipelinetest.Logs
		in := New()
		in.Interface, in.Verbose, in.TestAtInit = "lo", verbose, true
		if err := in.Init(context.Background(), logs.Env("netif.0")); err != nil {
			t.Fatal(err)
		}
		const n = 200_000
		sendOverLoopback(t, n)
		rec := in.collect(context.Background())
		want := "lo.rx.bytes lo.rx.errors lo.rx.packets lo.tx.bytes lo.tx.errors lo.tx.packets"
		if verbose {
			want = "lo.rx.bytes lo.rx.compressed lo.rx.drop lo.rx.errors lo.rx.fifo lo.rx.frame lo.rx.multicast lo.rx.packets " +
				"lo.tx.bytes lo.tx.carrier lo.tx.collisions lo.tx.compressepd lo.tx.drop lo.tx.errors lo.tx.fifo lo.tx.packets"
		}
		if got := keysOf(rec.ToMap()); got != want {
			t.Fatalf("verbose=%v: keys %s, want %s", verbose, got, want)
		}
		for _, k := range []string{"lo.rx.bytes", "lo.tx.bytes"} {
			if v, _ := rec.Value(k).(uint64); v < n || v > 1<<32 {
				t.Errorf("%s = %v after sending %d bytes over loopback", k, rec.Value(k), n)
			}
		}
		if v, _ := rec.Value("lo.rx.packets").(uint64); v < 2 {
			t.Errorf("lo.rx.packets = %v", rec.Value("lo.rx.packets"))
		}
		if logs.Count(slog.LevelWarn) != 0 {
			t.Errorf("warnings: %v", logs.Records())
		}
	}
}

func sendOverLoopback(t *testing.T, n int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		m, _ := io.Copy(io.Discard, c)
		got <- m
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if m := <-got; m != int64(n) {
		t.Fatalf("received %d bytes, sent %d", m, n)
	}
}

func TestRunEmits(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "netif", "interface", "lo", "interval_sec", "0", "interval_nsec", "20000000")
	pipelinetest.Collect(t, in, pipeline.Env{}, 2, 20*time.Second)
}

// fakeProc copies testdata/proc/net/dev into a temporary /proc the test can rewrite.
func fakeProc(t *testing.T) (metric.Host, func(string)) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "net", "dev"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("testdata/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	write(string(data))
	return metric.Host{Proc: dir}, write
}

func TestDifferencesFromTheKernelCounters(t *testing.T) {
	host, write := fakeProc(t)
	in := New()
	in.Interface, in.Verbose, in.host = "eth0", true, host
	if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Fatal(err)
	}
	write("eth0: 57924724 2548 1 2 3 4 5 6 272597 2262 7 8 9 10 11 12\n")
	rec := in.collect(host.Context(context.Background()))
	for k, want := range map[string]uint64{"eth0.rx.bytes": 1000, "eth0.rx.packets": 10, "eth0.rx.errors": 0, "eth0.tx.bytes": 100, "eth0.tx.packets": 10, "eth0.tx.compressepd": 0} {
		if rec.Value(k) != want {
			t.Errorf("%s = %v, want %d", k, rec.Value(k), want)
		}
	}
	// The interface was re-created: its counters start again from 0.
	write("eth0: 500 5 0 0 0 0 0 0 50 1 0 0 0 0 0 0\n")
	rec = in.collect(host.Context(context.Background()))
	if rec.Value("eth0.rx.bytes") != uint64(500) || rec.Value("eth0.tx.errors") != uint64(0) {
		t.Errorf("after a reset: %v", rec)
	}
}

// An interface that goes away: one warning, no records; back: records again.
func TestMissingInterfaceLogsOnce(t *testing.T) {
	host, write := fakeProc(t)
	var logs pipelinetest.Logs
	in := New()
	in.Interface, in.host = "usb0", host
	if err := in.Init(context.Background(), logs.Env("netif.0")); err != nil {
		t.Fatal(err)
	}
	ctx := host.Context(context.Background())
	for range 20 {
		if rec := in.collect(ctx); rec != nil {
			t.Fatalf("record %v for a missing interface", rec)
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings over 20 intervals, want 1", n)
	}
	write("usb0: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n")
	in.collect(ctx)
	write("usb0: 30 2 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n")
	if rec := in.collect(ctx); rec.Value("usb0.rx.bytes") != uint64(20) {
		t.Errorf("record %v once the interface is back, want usb0.rx.bytes 20", rec)
	}
}

func TestParseNetDev(t *testing.T) {
	data, err := os.ReadFile("testdata/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseNetDev(data, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if c[0] != 57923724 || c[2] != 1 || c[7] != 6 || c[8] != 272497 || c[15] != 12 {
		t.Errorf("eth0 counters %v", c)
	}
	if c, err := parseNetDev(data, "wlan0"); err != nil || c[0] != 1000 || c[9] != 20 {
		t.Errorf("wlan0 (no space after the colon): %v, %v", c, err)
	}
	for _, bad := range []string{"eth0: 1 2 3\n", "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n", "eth0: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"} {
		if _, err := parseNetDev([]byte(bad), "eth0"); err == nil || errors.Is(err, errNoInterface) {
			t.Errorf("%q: error %v, want malformed", bad, err)
		}
	}
	if _, err := parseNetDev(data, "eth"); !errors.Is(err, errNoInterface) {
		t.Errorf("prefix eth: %v, want no such interface", err)
	}
}

func FuzzParseNetDev(f *testing.F) {
	data, err := os.ReadFile("testdata/proc/net/dev")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, "eth0")
	f.Add([]byte("lo:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"), "lo")
	f.Fuzz(func(t *testing.T, data []byte, iface string) {
		c, err := parseNetDev(data, iface)
		if (c == nil) == (err == nil) {
			t.Fatalf("counters %v with error %v", c, err)
		}
	})
}
