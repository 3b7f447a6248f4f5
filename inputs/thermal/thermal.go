// Package thermal reports the temperature of each thermal zone, like Fluent Bit's thermal
// input: one record per zone per interval. It reads Linux's /sys/class/thermal; it does not
// read hwmon sensors, fan speeds or trip points.
//
//	[INPUT]
//	    Name          thermal
//	    Tag           thermal
//	    Interval_Sec  10
//	    Name_Regex    ^thermal_zone0$
//
// Keys:
//
//   - interval_sec: seconds between readings (default 1); a fraction (0.5) or a Go duration
//     (500ms) works too.
//   - interval_nsec: nanoseconds added to interval_sec (default 0). When both are 0 the
//     interval is 1 second, as in Fluent Bit.
//   - name_regex: report only zones whose name matches (a search, not a whole match, as in
//     Fluent Bit: "zone1" matches thermal_zone1 and thermal_zone10).
//   - type_regex: report only zones whose type matches, e.g. cpu-thermal, x86_pkg_temp.
//
// Records: name (thermal_zone0), type (cpu-thermal) and temp, degrees Celsius as a float
// (the kernel's millidegrees / 1000). Zones are reported in their number's order.
//
// A machine without thermal zones (many virtual machines and containers), or a zone whose
// temperature cannot be read (some report an error while their sensor is off), is logged
// once and skipped; the input keeps running and reports zones that appear later.
// Differences from Fluent Bit: a bad regular expression is an error here (Fluent Bit logs
// it and reports every zone), and there is no limit of 32 zones.
package thermal

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the thermal input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	metric.Interval
	NameRegex *regexp.Regexp `conf:"name_regex"`
	TypeRegex *regexp.Regexp `conf:"type_regex"`

	host     metric.Host // tests: read this /sys instead
	warn     *metric.Warner
	interval time.Duration
}

// Zone is one thermal zone's reading.
type Zone struct {
	Name string
	Type string
	Temp float64 // degrees Celsius
}

// New returns an Input with Fluent Bit's defaults.
func New() *Input { return &Input{Interval: metric.Interval{IntervalSec: time.Second}} }

func init() { pipeline.RegisterInput("thermal", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects. Regular expressions are checked when
// they are decoded.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	in.interval = interval
	return nil
}

// Init validates the keys.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "thermal")
	if err := in.Validate(); err != nil {
		return err
	}
	return nil
}

// Run emits one record per zone per interval until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	return metric.Every(ctx, in.interval, func(ctx context.Context, now time.Time) error {
		for _, z := range in.Zones(in.host.Context(ctx)) {
			rec := event.Map{{"name", z.Name}, {"type", z.Type}, {"temp", z.Temp}}
			if err := emit.Emit("", event.Event{Time: now, Record: rec}); err != nil {
				return fmt.Errorf("thermal: emit: %w", err)
			}
		}
		return nil
	})
}

// Zones reads the zones the filters select, logging once what cannot be read.
func (in *Input) Zones(ctx context.Context) []Zone {
	dir := metric.SysPath(ctx, "class", "thermal")
	entries, err := os.ReadDir(dir)
	if err != nil {
		in.warn.Once("dir", "no thermal zones on this platform; will keep looking", "dir", dir, "err", err)
		return nil
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "thermal_zone") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		in.warn.Once("dir", "no thermal zones on this platform; will keep looking", "dir", dir)
		return nil
	}
	in.warn.Recovered("dir", "thermal zones found", "dir", dir)
	sort.Slice(names, func(i, j int) bool { return zoneLess(names[i], names[j]) })
	var zones []Zone
	for _, name := range names {
		if in.NameRegex != nil && !in.NameRegex.MatchString(name) {
			continue
		}
		typ, err := os.ReadFile(metric.SysPath(ctx, "class", "thermal", name, "type"))
		if err != nil {
			in.warn.Once(name, "cannot read the zone's type; skipping it", "zone", name, "err", err)
			continue
		}
		z := Zone{Name: name, Type: strings.TrimSpace(string(typ))}
		if in.TypeRegex != nil && !in.TypeRegex.MatchString(z.Type) {
			continue
		}
		raw, err := os.ReadFile(metric.SysPath(ctx, "class", "thermal", name, "temp"))
		if err != nil {
			in.warn.Once(name, "cannot read the zone's temperature; skipping it", "zone", name, "err", err)
			continue
		}
		milli, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			in.warn.Once(name, "the zone's temperature is not a number; skipping it", "zone", name, "value", strings.TrimSpace(string(raw)))
			continue
		}
		in.warn.Recovered(name, "zone readable again", "zone", name)
		z.Temp = float64(milli) / 1000
		zones = append(zones, z)
	}
	return zones
}

// zoneLess orders thermal_zone2 before thermal_zone10.
func zoneLess(a, b string) bool {
	na, errA := strconv.Atoi(strings.TrimPrefix(a, "thermal_zone"))
	nb, errB := strconv.Atoi(strings.TrimPrefix(b, "thermal_zone"))
	if errA != nil || errB != nil || na == nb {
		return a < b
	}
	return na < nb
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
