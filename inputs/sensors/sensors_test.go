package sensors

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func newInput(t *testing.T, logs *pipelinetest.Logs, kv ...string) *Input {
	t.Helper()
	p, err := pipelinetest.NewInput("sensors", kv...)
	if err != nil {
		t.Fatal(err)
	}
	in := p.(*Input)
	if err := in.Init(context.Background(), logs.Env("sensors.0")); err != nil {
		t.Fatal(err)
	}
	return in
}

// chips indexes records by device for the assertions.
func chips(cs []Chip) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, c := range cs {
		out[c.Device] = c.Record().ToMap()
	}
	return out
}

func near(a any, want float64) bool {
	f, ok := a.(float64)
	return ok && math.Abs(f-want) < 1e-6*math.Max(1, math.Abs(want))
}

func TestRaspberryPi4(t *testing.T) {
	var logs pipelinetest.Logs
	in := newInput(t, &logs, "sysfs_root", "testdata/rpi4/sys")
	got := in.Read()
	var order []string
	for _, c := range got {
		order = append(order, c.Source+"/"+c.Name+"/"+c.Device)
	}
	if want := "hwmon/cpu_thermal/hwmon0 hwmon/rpi_volt/hwmon1 w1/ds18b20/28-0316a27953ff"; strings.Join(order, " ") != want {
		t.Fatalf("chips %v, want %s (the probe with a bad CRC left out)", order, want)
	}
	m := chips(got)
	if r := m["hwmon0"]; !near(r["temp1_celsius"], 48.686) || len(r) != 4 {
		t.Errorf("cpu_thermal = %v, want temp1_celsius 48.686", r)
	}
	if r := m["hwmon1"]; r["in0_lcrit_alarm"] != int64(0) {
		t.Errorf("rpi_volt = %v, want in0_lcrit_alarm 0", r)
	}
	if r := m["28-0316a27953ff"]; !near(r["temp_celsius"], 23.125) {
		t.Errorf("ds18b20 = %v, want temp_celsius 23.125", r)
	}
	// The bad CRC: one warning naming the probe, every interval's reading left out.
	in.Read()
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
	rec := logs.Records()[0]
	var path string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "path" {
			path = a.Value.String()
		}
		return true
	})
	if !strings.Contains(path, "28-3c01d607d1a4") || !strings.Contains(rec.Message, "bad 1-Wire reading") {
		t.Errorf("warning %q path %q, want the bad probe named", rec.Message, path)
	}
}

func TestIIOBoard(t *testing.T) {
	var logs pipelinetest.Logs
	in := newInput(t, &logs, "sysfs_root", "testdata/iio-board/sys")
	m := chips(in.Read())
	for _, tc := range []struct {
		dev, key string
		want     float64
	}{
		// hdc100x: (raw + offset) × scale, milli-units to SI.
		{"iio:device0", "temp_celsius", (26000 - 15887.515151) * 2.517700195 / 1000},
		{"iio:device0", "humidityrelative_percent", 30000 * 1.525878906 / 1000},
		// bme280: processed values.
		{"iio:device1", "temp_celsius", 22.870},
		{"iio:device1", "pressure_pascals", 101325},
		{"iio:device1", "humidityrelative_percent", 41.230},
		// ads1015: per-channel scale, millivolts to volts.
		{"iio:device2", "voltage0_volts", 1.65},
		{"iio:device2", "voltage1_volts", 0.05},
		// ina3221 with labels; in4 without one.
		{"hwmon0", "vdd_5v_volts", 5.040},
		{"hwmon0", "vdd_5v_amperes", 0.420},
		{"hwmon0", "camera_3v3_volts", 3.296},
		{"hwmon0", "in4_volts", 0.008},
		{"hwmon1", "fan1_rpm", 2450},
	} {
		if got := m[tc.dev][tc.key]; !near(got, tc.want) {
			t.Errorf("%s %s = %v, want %v (record %v)", tc.dev, tc.key, got, tc.want, m[tc.dev])
		}
	}
	if got := m["hwmon0"]["curr1_crit_alarm"]; got != int64(0) {
		t.Errorf("curr1_crit_alarm = %v", got)
	}
	if _, ok := m["iio:device1"]["temp_oversampling_ratio"]; ok {
		t.Error("a setting was reported as a reading")
	}
	if n := logs.Count(slog.LevelWarn); n != 0 {
		t.Errorf("%d warnings on a healthy board: %v", n, logs.Records())
	}
}

func TestIncludeExclude(t *testing.T) {
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"include_chip", "^ina"}, "ina3221"},
		{[]string{"exclude_chip", "fan|ina|ads"}, "hdc100x bme280"},
		{[]string{"include_label", "^temp", "hwmon", "off"}, "hdc100x bme280"},
		{[]string{"iio", "off", "exclude_label", "vdd"}, "ina3221 pwmfan"},
	} {
		var logs pipelinetest.Logs
		in := newInput(t, &logs, append([]string{"sysfs_root", "testdata/iio-board/sys"}, tc.kv...)...)
		var names []string
		for _, c := range in.Read() {
			names = append(names, c.Name)
			for _, r := range c.Readings {
				if strings.Contains(strings.Join(tc.kv, " "), "exclude_label vdd") && strings.HasPrefix(r.Key, "vdd") {
					t.Errorf("%v: excluded reading %s reported", tc.kv, r.Key)
				}
			}
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%v: chips %q, want %q", tc.kv, got, tc.want)
		}
	}
}

func TestParseW1Slave(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n", 23125, ""},
		{"5e ff 55 00 7f ff 0c 10 57 : crc=57 YES\n5e ff 55 00 7f ff 0c 10 57 t=-10125\n", -10125, ""},
		{"73 01 4b 46 7f ff 0e 10 57 : crc=57 NO\n73 01 4b 46 7f ff 0e 10 57 t=23187\n", 0, "kernel says"},
		// A kernel that said YES to a frame whose CRC is wrong: we check it ourselves.
		{"73 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n73 01 4b 46 7f ff 0e 10 57 t=23187\n", 0, "computed 14"},
		{"00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n", 0, "all zeros"},
		{"", 0, "two lines"},
		{"72 01 : crc=57 YES\nt=1\n", 0, "9 scratchpad bytes"},
		{"72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57\n", 0, "no t="},
	} {
		got, err := ParseW1Slave([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			if strings.Contains(tc.err, "kernel") && !errors.Is(err, ErrCRC) {
				t.Errorf("%q: err %v is not ErrCRC", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// copyTree copies a fixture tree, symlinks as symlinks, so a test can change it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "sys")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

func TestVanishedDeviceIsLoggedAndTheRestGoesOn(t *testing.T) {
	root := copyTree(t, "testdata/iio-board/sys")
	var logs pipelinetest.Logs
	in := newInput(t, &logs, "sysfs_root", root, "interval_nsec", "5000000", "interval_sec", "0")
	rec := pipelinetest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, rec) }()
	if !rec.Wait(5, 10*time.Second) {
		t.Fatalf("%d records before the unplug", rec.Len())
	}
	// The HDC1080 goes away between listing and reading: its files error out.
	dev := filepath.Join(root, "devices/platform/soc/20804000.i2c/i2c-1/1-0040/iio:device0")
	for _, f := range []string{"in_temp_raw", "in_humidityrelative_raw"} {
		if err := os.Remove(filepath.Join(dev, f)); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dev, f), 0o755); err != nil { // read: EISDIR, like a driver's EIO
			t.Fatal(err)
		}
	}
	n := rec.Len()
	if !rec.Wait(n+15, 10*time.Second) {
		t.Fatalf("the input stopped after the unplug: %d records", rec.Len())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w := logs.Count(slog.LevelWarn); w != 2 {
		t.Errorf("%d warnings, want one per vanished reading (2): %v", w, logs.Records())
	}
	all := rec.Records()
	var lastChips []string
	for _, r := range all[len(all)-4:] {
		lastChips = append(lastChips, r.Event.Record.Value("chip").(string))
	}
	if got := strings.Join(lastChips, " "); got != "ina3221 pwmfan bme280 ads1015" {
		t.Errorf("last interval's chips %q, want the others still reported and hdc100x left out", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{[]string{"hwmon", "off", "iio", "off", "w1", "off"}, "hwmon"},
		{[]string{"include_chip", "("}, "include_chip"},
		{[]string{"interval_sec", "-1"}, "interval_sec"},
		{[]string{"sysfs_root", ""}, "sysfs_root"},
		{[]string{"sysfs", "/x"}, "sysfs"},
	} {
		_, err := pipelinetest.NewInput("sensors", tc.kv...)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: err %v, want a config error on %s", tc.kv, err, tc.key)
		}
	}
	p, err := pipelinetest.NewInput("sensors", "sysfs_root", "testdata/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.(*Input).Init(context.Background(), (&pipelinetest.Logs{}).Env("s")); err == nil || !strings.Contains(err.Error(), "sysfs_root") {
		t.Errorf("Init on a missing root: %v", err)
	}
}

// TestThisMachine reads the real /sys: every chip found must give finite numbers.
func TestThisMachine(t *testing.T) {
	entries, err := os.ReadDir("/sys/class/hwmon")
	if err != nil || len(entries) == 0 {
		t.Skipf("this machine exposes no hwmon chips (/sys/class/hwmon: %v, %d entries): nothing real to read", err, len(entries))
	}
	var logs pipelinetest.Logs
	in := newInput(t, &logs, "iio", "off", "w1", "off")
	got := in.Read()
	if len(got) == 0 {
		t.Fatalf("%d hwmon entries but no chip read; logs: %v", len(entries), logs.Records())
	}
	for _, c := range got {
		for _, r := range c.Readings {
			if f, ok := r.Value.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				t.Errorf("%s %s = %v", c.Name, r.Key, f)
			}
		}
		t.Logf("%s %s: %v", c.Device, c.Name, c.Record())
	}
}

func TestNaturalLess(t *testing.T) {
	for _, tc := range [][2]string{{"hwmon2", "hwmon10"}, {"temp2_input", "temp10_input"}, {"iio:device9", "iio:device11"}, {"a", "b"}, {"in", "in0"}} {
		if !naturalLess(tc[0], tc[1]) || naturalLess(tc[1], tc[0]) {
			t.Errorf("%s < %s broken", tc[0], tc[1])
		}
	}
	if keyName("Core 0") != "core_0" || keyName("VDD_5V") != "vdd_5v" || keyName(" Tctl ") != "tctl" {
		t.Errorf("keyName: %q %q %q", keyName("Core 0"), keyName("VDD_5V"), keyName(" Tctl "))
	}
}
