package disk

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

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

func TestDecodeAndBadValues(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "disk", "Interval_Sec", "2", "Interval_Nsec", "5", "Dev_Name", "/dev/sda")
	if in.interval != 2*time.Second+5 || in.DevName != "/dev/sda" {
		t.Errorf("decoded %+v", in)
	}
	for _, tc := range []struct{ key, value string }{
		{"interval_sec", "-1"}, {"interval_nsec", "x"}, {"dev_name", "sd a"}, {"dev_name", "a/b"}, {"device", "sda"},
	} {
		if _, err := pipelinetest.NewInput("disk", tc.key, tc.value); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s %q: error %v, want one naming the key", tc.key, tc.value, err)
		}
	}
}

// On this machine: Fluent Bit's two fields, byte counts no disk could move in 50ms.
func TestRecordOnThisMachine(t *testing.T) {
	var logs pipelinetest.Logs
	in := pipelinetest.Input[*Input](t, "disk", "interval_sec", "0", "interval_nsec", "50000000")
	run := pipelinetest.StartInput(t, in, logs.Env("disk.0"), nil)
	rec := run.Rec
	ok := rec.Wait(3, 20*time.Second)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/diskstats"); err != nil {
		if rec.Len() != 0 || logs.Count(slog.LevelWarn) != 1 {
			t.Errorf("no /proc/diskstats: %d records, %d warnings; want 0 and 1", rec.Len(), logs.Count(slog.LevelWarn))
		}
		t.Skip("no /proc/diskstats here")
	}
	if !ok {
		t.Fatalf("%d records, want 3", rec.Len())
	}
	for i, r := range rec.Records()[:3] {
		if len(r.Event.Record) != 2 {
			t.Errorf("record %d: %v, want read_size and write_size only", i, r.Event.Record)
		}
		for _, k := range []string{"read_size", "write_size"} {
			if v := num(t, r.Event.Record.ToMap(), k); v > 1<<40 {
				t.Errorf("record %d: %s = %d in 50ms", i, k, v)
			}
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings", n)
	}
}

// fakeHost is a /proc and /sys with one disk, sda, and its partition sda1.
type fakeHost struct{ dir string }

func newFakeHost(t *testing.T) *fakeHost {
	h := &fakeHost{dir: t.TempDir()}
	for _, d := range []string{"proc", "sys/block/sda"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *fakeHost) host() metric.Host {
	return metric.Host{Proc: filepath.Join(h.dir, "proc"), Sys: filepath.Join(h.dir, "sys")}
}

// stats writes /proc/diskstats with sectors read and written per device.
func (h *fakeHost) stats(t *testing.T, sda, sda1 [2]uint64) {
	t.Helper()
	line := func(minor int, name string, s [2]uint64) string {
		return strings.Join([]string{"   8", itoa(uint64(minor)), name, "10 0", itoa(s[0]), "5 20 0", itoa(s[1]), "7 0 12 12 0 0 0 0 0 0"}, " ") + "\n"
	}
	data := line(0, "sda", sda) + line(1, "sda1", sda1)
	if err := os.WriteFile(filepath.Join(h.dir, "proc", "diskstats"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

func TestBytesFromSectors(t *testing.T) {
	for _, tc := range []struct {
		dev         string
		read, write uint64
	}{
		{"", (150 - 100) * 512, (90 - 40) * 512}, // sda only: partitions are not counted twice
		{"sda1", (70 - 60) * 512, (33 - 30) * 512},
		{"/dev/sda1", (70 - 60) * 512, (33 - 30) * 512},
	} {
		h := newFakeHost(t)
		h.stats(t, [2]uint64{100, 40}, [2]uint64{60, 30})
		in := New()
		in.DevName, in.host = tc.dev, h.host()
		var logs pipelinetest.Logs
		if err := in.Init(context.Background(), logs.Env("disk.0")); err != nil {
			t.Fatal(err)
		}
		h.stats(t, [2]uint64{150, 90}, [2]uint64{70, 33})
		rec := in.collect(h.host().Context(context.Background()))
		if got, want := rec.Value("read_size"), tc.read; got != want {
			t.Errorf("dev_name %q: read_size %v, want %d", tc.dev, got, want)
		}
		if got, want := rec.Value("write_size"), tc.write; got != want {
			t.Errorf("dev_name %q: write_size %v, want %d", tc.dev, got, want)
		}
		// A counter that went back (the device came back) counts from 0.
		h.stats(t, [2]uint64{10, 90}, [2]uint64{70, 33})
		rec = in.collect(h.host().Context(context.Background()))
		if tc.dev == "" && (rec.Value("read_size") != uint64(10*512) || rec.Value("write_size") != uint64(0)) {
			t.Errorf("after a reset: %v, want read_size 5120 write_size 0", rec)
		}
	}
}

// A device that is not there: one warning, no records, and records again when it is back.
func TestMissingDeviceLogsOnce(t *testing.T) {
	h := newFakeHost(t)
	h.stats(t, [2]uint64{1, 1}, [2]uint64{1, 1})
	in := New()
	in.DevName, in.host = "sdb", h.host()
	var logs pipelinetest.Logs
	if err := in.Init(context.Background(), logs.Env("disk.0")); err != nil {
		t.Fatal(err)
	}
	ctx := h.host().Context(context.Background())
	for range 20 {
		if rec := in.collect(ctx); rec != nil {
			t.Fatalf("record %v for a missing device", rec)
		}
	}
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings over 20 intervals, want 1", n)
	}
	in.DevName = "sda" // as if it had been plugged in
	in.collect(ctx)
	if rec := in.collect(ctx); rec == nil || rec.Value("read_size") != uint64(0) {
		t.Errorf("record %v after the device came back, want zeros", rec)
	}
	if n := logs.Count(slog.LevelInfo) - logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d info lines, want 1 saying the device is back", n)
	}
}

// A device whose counters are all 0 (gopsutil leaves those out) is idle, not missing.
func TestIdleDeviceIsNotMissing(t *testing.T) {
	h := newFakeHost(t)
	h.stats(t, [2]uint64{1, 1}, [2]uint64{1, 1})
	data, _ := os.ReadFile(filepath.Join(h.dir, "proc", "diskstats"))
	data = append(data, "   8 16 sdb 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"...)
	os.WriteFile(filepath.Join(h.dir, "proc", "diskstats"), data, 0o644)
	os.MkdirAll(filepath.Join(h.dir, "sys", "class", "block", "sdb"), 0o755)
	in := New()
	in.DevName, in.host = "sdb", h.host()
	var logs pipelinetest.Logs
	if err := in.Init(context.Background(), logs.Env("disk.0")); err != nil {
		t.Fatal(err)
	}
	rec := in.collect(h.host().Context(context.Background()))
	if rec.Value("read_size") != uint64(0) || rec.Value("write_size") != uint64(0) {
		t.Errorf("record %v, want zeros", rec)
	}
	if n := logs.Count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings for an idle device", n)
	}
}
