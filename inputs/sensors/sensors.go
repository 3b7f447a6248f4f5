// Package sensors reads the sensor chips a Linux board exposes through the kernel — hwmon
// (temperatures, fans, voltages, currents, power, energy, humidity), IIO (humidity, pressure,
// temperature, light, ADC channels...) and 1-Wire temperature probes (DS18B20 and its
// family) — as records, one per chip per interval, values in SI units. It reads sysfs only:
// it loads no driver, runs no lm-sensors binary and writes nothing (no thresholds, no
// sampling rates). Fluent Bit has no such input.
//
//	[INPUT]
//	    Name          sensors
//	    Tag           board
//	    Interval_Sec  10
//	    Exclude_Chip  ^pwmfan$
//
// Keys:
//
//   - interval_sec, interval_nsec: the period, as in Fluent Bit's metric inputs (default 1s).
//   - sysfs_root: the sysfs to read (default /sys), e.g. a copy of a device's tree, or the
//     host's /sys mounted into a container.
//   - hwmon, iio, w1: read that source (each default on).
//   - include_chip, exclude_chip: regular expressions (a search, as thermal's name_regex)
//     on the chip name (hwmon's name file, an IIO device's name, a 1-Wire family such as
//     ds18b20, or the 1-Wire id 28-0316a27953ff): only matching chips, or none matching.
//   - include_label, exclude_label: the same on a reading's key without its unit
//     ("cpu_core_0", "temp1", "humidityrelative"), so a chip's uninteresting readings can go.
//
// Records: {"source": "hwmon", "chip": "cpu_thermal", "device": "hwmon0", "temp1_celsius":
// 48.686}. A reading's key is its label (hwmon's tempN_label, lower-cased, anything but
// letters and digits turned into _) or its sysfs name, then the unit: _celsius, _volts,
// _amperes, _watts, _joules, _rpm, _percent (relative humidity), _pascals, _lux, ... Alarm
// files (in0_lcrit_alarm: a Pi's under-voltage) are reported as 0 or 1 under their sysfs
// name. IIO values are (raw + offset) × scale in the IIO ABI's units, converted to SI;
// channels without a known unit keep the IIO name and the scaled value. 1-Wire probes are
// read from w1_slave, whose CRC is checked (the kernel's verdict and our own); a reading
// with a bad CRC is not reported.
//
// A reading that cannot be read (a vanished device, an I/O error, a bad CRC) is logged
// once per sensor, with the sensor's path, and left out; the other readings still arrive,
// and the log says when it comes back. Chips that appear later are found at the next
// interval.
package sensors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the sensors input.
type Input struct {
	metric.Interval
	SysfsRoot    string         `conf:"sysfs_root"`
	Hwmon        bool           `conf:"hwmon"`
	IIO          bool           `conf:"iio"`
	W1           bool           `conf:"w1"`
	IncludeChip  *regexp.Regexp `conf:"include_chip"`
	ExcludeChip  *regexp.Regexp `conf:"exclude_chip"`
	IncludeLabel *regexp.Regexp `conf:"include_label"`
	ExcludeLabel *regexp.Regexp `conf:"exclude_label"`

	interval time.Duration
	warn     *metric.Warner
}

// New returns an Input with the defaults.
func New() *Input {
	return &Input{Interval: metric.Interval{IntervalSec: time.Second}, SysfsRoot: "/sys", Hwmon: true, IIO: true, W1: true}
}

func init() { pipeline.RegisterInput("sensors", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	if strings.TrimSpace(in.SysfsRoot) == "" {
		return config.KeyErrorf("sysfs_root", "empty: want a directory such as /sys")
	}
	if !in.Hwmon && !in.IIO && !in.W1 {
		return config.KeyErrorf("hwmon", "hwmon, iio and w1 are all off: nothing to read")
	}
	in.interval = interval
	return nil
}

// Init checks sysfs_root is a directory: a typo there would otherwise look like a board
// without sensors.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "sensors")
	st, err := os.Stat(in.SysfsRoot)
	if err != nil {
		return config.KeyErrorf("sysfs_root", "%v", err)
	}
	if !st.IsDir() {
		return config.KeyErrorf("sysfs_root", "%s: not a directory", in.SysfsRoot)
	}
	return nil
}

// Run emits one record per chip per interval until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	return metric.Every(ctx, in.interval, func(ctx context.Context, now time.Time) error {
		for _, c := range in.Read() {
			if err := emit.Emit("", event.Event{Time: now, Record: c.Record()}); err != nil {
				return fmt.Errorf("sensors: emit: %w", err)
			}
		}
		return nil
	})
}

// Chip is what one chip reported in one reading.
type Chip struct {
	Source   string // hwmon, iio, w1
	Name     string // the chip: cpu_thermal, hdc100x, ds18b20
	Device   string // the sysfs entry: hwmon0, iio:device0, 28-0316a27953ff
	Readings []Reading
}

// Reading is one value of a chip.
type Reading struct {
	Key   string // label or sysfs name with the unit: temp1_celsius
	Value any    // float64, or int64 for alarms
}

// Record is the chip as a record: source, chip, device, then the readings in order.
func (c Chip) Record() event.Map {
	rec := make(event.Map, 0, 3+len(c.Readings))
	rec = append(rec, event.KV{Key: "source", Value: c.Source}, event.KV{Key: "chip", Value: c.Name}, event.KV{Key: "device", Value: c.Device})
	for _, r := range c.Readings {
		rec.Set(r.Key, r.Value)
	}
	return rec
}

// Read reads every selected chip once: hwmon, then IIO, then 1-Wire, each in its devices'
// order. Chips with no readable reading are left out (and logged).
func (in *Input) Read() []Chip {
	if in.warn == nil {
		in.warn = metric.NewWarner(slog.New(slog.DiscardHandler), "sensors")
	}
	var chips []Chip
	if in.Hwmon {
		chips = in.readSource(chips, "hwmon", filepath.Join(in.SysfsRoot, "class", "hwmon"), "hwmon", in.hwmonChip)
	}
	if in.IIO {
		chips = in.readSource(chips, "iio", filepath.Join(in.SysfsRoot, "bus", "iio", "devices"), "iio:device", in.iioChip)
	}
	if in.W1 {
		chips = in.readSource(chips, "w1", filepath.Join(in.SysfsRoot, "bus", "w1", "devices"), "", in.w1Chip)
	}
	return chips
}

func (in *Input) readSource(chips []Chip, source, dir, prefix string, read func(dir, dev string) (Chip, bool)) []Chip {
	entries, err := os.ReadDir(dir)
	if err != nil {
		// Most boards lack one source or another: not worth more than a debug line.
		return chips
	}
	var devs []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && !strings.HasPrefix(e.Name(), "w1_bus_master") {
			devs = append(devs, e.Name())
		}
	}
	sort.Slice(devs, func(i, j int) bool { return naturalLess(devs[i], devs[j]) })
	for _, dev := range devs {
		if c, ok := read(filepath.Join(dir, dev), dev); ok {
			c.Source, c.Device = source, dev
			chips = append(chips, c)
		}
	}
	return chips
}

func (in *Input) chipSelected(name string) bool {
	if in.IncludeChip != nil && !in.IncludeChip.MatchString(name) {
		return false
	}
	return in.ExcludeChip == nil || !in.ExcludeChip.MatchString(name)
}

func (in *Input) labelSelected(label string) bool {
	if in.IncludeLabel != nil && !in.IncludeLabel.MatchString(label) {
		return false
	}
	return in.ExcludeLabel == nil || !in.ExcludeLabel.MatchString(label)
}

// hwmonUnits maps a hwmon sensor type to its key suffix and the factor from sysfs units
// (Documentation/hwmon/sysfs-interface.rst) to SI.
var hwmonUnits = map[string]struct {
	unit   string
	factor float64
}{
	"temp":     {"celsius", 1e-3}, // millidegree Celsius
	"in":       {"volts", 1e-3},   // millivolt
	"curr":     {"amperes", 1e-3}, // milliampere
	"power":    {"watts", 1e-6},   // microwatt
	"energy":   {"joules", 1e-6},  // microjoule
	"fan":      {"rpm", 1},        // revolutions per minute
	"humidity": {"percent", 1e-3}, // milli-percent relative humidity
	"freq":     {"hertz", 1},      // Hz
}

var hwmonInput = regexp.MustCompile(`^([a-z]+)([0-9]+)_input$`)
var hwmonAlarm = regexp.MustCompile(`^([a-z]+)([0-9]+)_(?:[a-z_]+_)?alarm$`)

// hwmonChip reads /sys/class/hwmon/hwmonN. Older drivers keep their files in device/.
func (in *Input) hwmonChip(dir, dev string) (Chip, bool) {
	name, err := readString(filepath.Join(dir, "name"))
	if err != nil {
		name, err = readString(filepath.Join(dir, "device", "name"))
	}
	if err != nil {
		in.warn.Once(dir, "cannot read the chip's name; skipping it", "path", dir, "err", err)
		return Chip{}, false
	}
	if !in.chipSelected(name) {
		return Chip{}, false
	}
	files := listFiles(dir)
	if !hasInputs(files) {
		files = listFiles(filepath.Join(dir, "device"))
		dir = filepath.Join(dir, "device")
	}
	c := Chip{Name: name}
	used := map[string]bool{}
	for _, f := range files {
		var key string
		var value any
		if m := hwmonInput.FindStringSubmatch(f); m != nil {
			u, ok := hwmonUnits[m[1]]
			if !ok {
				continue
			}
			base := m[1] + m[2]
			if l, err := readString(filepath.Join(dir, base+"_label")); err == nil && l != "" {
				base = keyName(l)
			}
			if !in.labelSelected(base) {
				continue
			}
			key = base + "_" + u.unit
			if used[key] { // two sensors with one label: keep them apart by their names
				key = m[1] + m[2] + "_" + u.unit
			}
			n, ok := in.readInt(filepath.Join(dir, f))
			if !ok {
				continue
			}
			value = float64(n) * u.factor
		} else if m := hwmonAlarm.FindStringSubmatch(f); m != nil {
			if _, ok := hwmonUnits[m[1]]; !ok || !in.labelSelected(m[1]+m[2]) {
				continue
			}
			key = f
			n, ok := in.readInt(filepath.Join(dir, f))
			if !ok {
				continue
			}
			value = n
		} else {
			continue
		}
		used[key] = true
		c.Readings = append(c.Readings, Reading{Key: key, Value: value})
	}
	return c, len(c.Readings) > 0
}

func hasInputs(files []string) bool {
	for _, f := range files {
		if hwmonInput.MatchString(f) || hwmonAlarm.MatchString(f) {
			return true
		}
	}
	return false
}

// iioUnits maps an IIO channel type to its key suffix and the factor from the IIO ABI's
// unit (Documentation/ABI/testing/sysfs-bus-iio) to SI.
var iioUnits = map[string]struct {
	unit   string
	factor float64
}{
	"temp":                   {"celsius", 1e-3}, // milli degrees Celsius
	"humidityrelative":       {"percent", 1e-3}, // milli percent
	"pressure":               {"pascals", 1e3},  // kilopascal
	"voltage":                {"volts", 1e-3},   // millivolts
	"current":                {"amperes", 1e-3}, // milliamps
	"power":                  {"watts", 1e-3},   // milliwatts
	"illuminance":            {"lux", 1},        // lux
	"intensity":              {"", 1},           // unitless
	"accel":                  {"mps2", 1},       // m/s²
	"anglvel":                {"radps", 1},      // rad/s
	"magn":                   {"gauss", 1},      // Gauss
	"resistance":             {"ohms", 1},       // ohms
	"concentration":          {"percent", 1},    // percent
	"distance":               {"meters", 1},     // meters
	"proximity":              {"", 1},           // unitless
	"uvindex":                {"", 1},           // unitless
	"ph":                     {"ph", 1},         // pH
	"electricalconductivity": {"spm", 1},        // S/m
}

var iioChannel = regexp.MustCompile(`^in_([a-z]+)([0-9]*)((?:_[a-z0-9]+)*?)_(raw|input)$`)

// iioChip reads /sys/bus/iio/devices/iio:deviceN: processed channels (in_X_input) as they
// are, raw ones (in_X_raw) with their offset and scale applied. A channel with both is read
// from _input.
func (in *Input) iioChip(dir, dev string) (Chip, bool) {
	name, err := readString(filepath.Join(dir, "name"))
	if err != nil {
		in.warn.Once(dir, "cannot read the device's name; skipping it", "path", dir, "err", err)
		return Chip{}, false
	}
	if !in.chipSelected(name) {
		return Chip{}, false
	}
	files := listFiles(dir)
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	c := Chip{Name: name}
	for _, f := range files {
		m := iioChannel.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		typ, idx, mod, kind := m[1], m[2], m[3], m[4]
		ch := typ + idx + mod // humidityrelative, voltage0, accel_x
		if kind == "raw" && have["in_"+ch+"_input"] {
			continue
		}
		if !in.labelSelected(ch) {
			continue
		}
		path := filepath.Join(dir, f)
		v, ok := in.readFloat(path)
		if !ok {
			continue
		}
		if kind == "raw" {
			// The most specific attribute wins: in_voltage0_scale, then the type's shared
			// in_voltage_scale, then the device's in_scale.
			offset := in.iioAttr(dir, have, []string{ch, typ + mod, typ}, "offset", 0)
			scale := in.iioAttr(dir, have, []string{ch, typ + mod, typ}, "scale", 1)
			v = (v + offset) * scale
		}
		key := ch
		if u, ok := iioUnits[typ]; ok {
			v *= u.factor
			if u.unit != "" {
				key += "_" + u.unit
			}
		}
		c.Readings = append(c.Readings, Reading{Key: key, Value: v})
	}
	return c, len(c.Readings) > 0
}

func (in *Input) iioAttr(dir string, have map[string]bool, names []string, attr string, dflt float64) float64 {
	for _, n := range append(names, "") {
		f := "in_" + n + "_" + attr
		if n == "" {
			f = "in_" + attr
		}
		if have[f] {
			if v, ok := in.readFloat(filepath.Join(dir, f)); ok {
				return v
			}
			return dflt
		}
	}
	return dflt
}

// w1Families names the 1-Wire temperature sensors whose w1_slave has the therm format.
var w1Families = map[string]string{"10": "ds18s20", "22": "ds1822", "28": "ds18b20", "3b": "ds1825", "42": "ds28ea00"}

// w1Chip reads /sys/bus/w1/devices/<family>-<id>/w1_slave.
func (in *Input) w1Chip(dir, dev string) (Chip, bool) {
	family, _, ok := strings.Cut(dev, "-")
	name, known := w1Families[strings.ToLower(family)]
	if !ok || !known {
		return Chip{}, false
	}
	if !in.chipSelected(name) && !in.chipSelected(dev) {
		return Chip{}, false
	}
	if !in.labelSelected("temp") {
		return Chip{}, false
	}
	path := filepath.Join(dir, "w1_slave")
	b, err := os.ReadFile(path)
	if err != nil {
		in.warn.Once(path, "cannot read the 1-Wire sensor; leaving it out", "path", path, "err", err)
		return Chip{}, false
	}
	milli, err := ParseW1Slave(b)
	if err != nil {
		in.warn.Once(path, "bad 1-Wire reading; leaving it out", "path", path, "err", err)
		return Chip{}, false
	}
	in.warn.Recovered(path, "1-Wire sensor readable again", "path", path)
	return Chip{Name: name, Readings: []Reading{{Key: "temp_celsius", Value: float64(milli) / 1000}}}, true
}

// ErrCRC is returned by ParseW1Slave when the scratchpad's CRC does not match.
var ErrCRC = errors.New("CRC mismatch")

// ParseW1Slave reads the kernel's w1_therm w1_slave text — two lines of the nine
// scratchpad bytes in hex, the first ending in ": crc=XX YES|NO", the second in "t=<milli
// degrees Celsius>" — and returns the temperature in millidegrees. It checks the kernel's
// verdict and the CRC itself (an all-zero scratchpad, which passes a CRC, is refused too).
func ParseW1Slave(b []byte) (int64, error) {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) < 2 {
		return 0, fmt.Errorf("want two lines, got %d", len(lines))
	}
	first := string(lines[0])
	hexPart, verdict, ok := strings.Cut(first, ":")
	if !ok {
		return 0, fmt.Errorf("first line %q: no crc verdict", clip(first))
	}
	fields := strings.Fields(hexPart)
	if len(fields) != 9 {
		return 0, fmt.Errorf("first line %q: want 9 scratchpad bytes, got %d", clip(first), len(fields))
	}
	var pad [9]byte
	allZero := true
	for i, f := range fields {
		n, err := strconv.ParseUint(f, 16, 8)
		if err != nil {
			return 0, fmt.Errorf("first line %q: byte %q is not hex", clip(first), f)
		}
		pad[i] = byte(n)
		allZero = allZero && n == 0
	}
	if !strings.HasSuffix(strings.TrimSpace(verdict), "YES") {
		return 0, fmt.Errorf("%w: the kernel says %q", ErrCRC, strings.TrimSpace(verdict))
	}
	if crc8(pad[:8]) != pad[8] {
		return 0, fmt.Errorf("%w: computed %02x, the sensor sent %02x", ErrCRC, crc8(pad[:8]), pad[8])
	}
	if allZero {
		return 0, errors.New("the scratchpad is all zeros (data line held low?)")
	}
	second := string(lines[1])
	i := strings.LastIndex(second, "t=")
	if i < 0 {
		return 0, fmt.Errorf("second line %q: no t=", clip(second))
	}
	t, err := strconv.ParseInt(strings.TrimSpace(second[i+2:]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("second line %q: %w", clip(second), err)
	}
	return t, nil
}

// crc8 is the Dallas/Maxim 1-Wire CRC (polynomial x^8 + x^5 + x^4 + 1, reflected).
func crc8(b []byte) byte {
	var crc byte
	for _, c := range b {
		for range 8 {
			mix := (crc ^ c) & 1
			crc >>= 1
			if mix != 0 {
				crc ^= 0x8C
			}
			c >>= 1
		}
	}
	return crc
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// readInt reads an integer file, logging (once per file) what goes wrong.
func (in *Input) readInt(path string) (int64, bool) {
	s, err := readString(path)
	if err == nil {
		var n int64
		if n, err = strconv.ParseInt(s, 10, 64); err == nil {
			in.warn.Recovered(path, "sensor readable again", "path", path)
			return n, true
		}
	}
	in.warn.Once(path, "cannot read the sensor; leaving it out", "path", path, "err", err)
	return 0, false
}

// readFloat reads a decimal file (IIO writes "2.517700195", "-15887.515151").
func (in *Input) readFloat(path string) (float64, bool) {
	s, err := readString(path)
	if err == nil {
		var v float64
		if v, err = strconv.ParseFloat(s, 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			in.warn.Recovered(path, "sensor readable again", "path", path)
			return v, true
		} else if err == nil {
			err = fmt.Errorf("%q is not a finite number", s)
		}
	}
	in.warn.Once(path, "cannot read the sensor; leaving it out", "path", path, "err", err)
	return 0, false
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// listFiles lists dir's entries in natural order (temp2 before temp10).
func listFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	return names
}

// keyName turns a label ("Core 0", "VDD_5V") into a record key ("core_0", "vdd_5v").
func keyName(label string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(label) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// naturalLess orders names with numbers by the numbers' values: hwmon2 before hwmon10,
// temp2_input before temp10_input.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			i, j := digits(a), digits(b)
			na, _ := strconv.ParseUint(a[:i], 10, 64)
			nb, _ := strconv.ParseUint(b[:j], 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
)
