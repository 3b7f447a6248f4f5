// Package disk reports how many bytes the system's disks read and wrote, like Fluent Bit's
// disk input. It reads the kernel's block device counters through gopsutil
// (/proc/diskstats); it does not report space used, inodes or I/O times.
//
//	[INPUT]
//	    Name          disk
//	    Tag           disk
//	    Interval_Sec  1
//	    Dev_Name      sda
//
// Keys:
//
//   - interval_sec: seconds between records (default 1); a fraction (0.5) or a Go duration
//     (500ms) works too.
//   - interval_nsec: nanoseconds added to interval_sec (default 0). When both are 0 the
//     interval is 1 second, as in Fluent Bit.
//   - dev_name: report only this block device ("sda", "mmcblk0", "mmcblk0p2"; a /dev/
//     prefix is ignored). Default: every whole disk.
//
// Records: read_size and write_size, the bytes read and written during the last interval
// (the kernel's 512-byte sectors times 512), unsigned integers.
//
// The first record comes one interval after the input starts: a difference needs two
// readings. A counter that goes backwards (a device removed and added again) counts from
// 0, never as a wrap to 2^64.
//
// Differences from Fluent Bit: it sums every line of /proc/diskstats, so each byte written
// to a partition is counted twice (once for the partition, once for its disk), and dev_name
// matches any device whose name contains it ("sda" takes sda1 and sda2 as well). Here
// without dev_name only whole disks (the entries of /sys/block) are summed, and dev_name
// names one device exactly. When the device is missing (a USB disk unplugged) or the
// platform has no disk counters, the input logs it once, emits nothing, and resumes when
// the counters come back.
package disk

import (
	"context"
	"github.com/fluentbit-go/fluentbit-go/event"
	"os"
	"path/filepath"
	"strings"
	"time"

	godisk "github.com/shirou/gopsutil/v3/disk"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the disk input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	metric.Interval
	DevName string `conf:"dev_name"`

	host     metric.Host // tests: read these directories instead of /proc and /sys
	warn     *metric.Warner
	interval time.Duration
	prev     map[string]counters // by device, from the last reading; nil before the first
}

type counters struct{ read, written uint64 }

// New returns an Input with Fluent Bit's defaults.
func New() *Input { return &Input{Interval: metric.Interval{IntervalSec: time.Second}} }

func init() { pipeline.RegisterInput("disk", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(strings.TrimSpace(in.DevName), "/dev/")
	if strings.ContainsAny(name, "/ \t") {
		return config.KeyErrorf("dev_name", "%q: want a block device name like sda or mmcblk0", in.DevName)
	}
	in.interval = interval
	return nil
}

// Init validates the keys and takes the first reading.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "disk")
	if err := in.Validate(); err != nil {
		return err
	}
	in.prev = in.read(in.host.Context(ctx))
	return nil
}

// Run emits one record per interval until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	return metric.EmitEvery(ctx, emit, in.interval, "disk", func(ctx context.Context) event.Map {
		return in.collect(in.host.Context(ctx))
	})
}

// collect reads the counters and returns the record of what changed since the last
// reading, or nil when there is nothing to compare.
func (in *Input) collect(ctx context.Context) event.Map {
	cur := in.read(ctx)
	prev := in.prev
	in.prev = cur
	if cur == nil || prev == nil {
		return nil
	}
	var read, written uint64
	for dev, c := range cur {
		p, ok := prev[dev]
		if !ok {
			continue // appeared since the last reading: its totals are not this interval's
		}
		read += delta(p.read, c.read)
		written += delta(p.written, c.written)
	}
	return event.Map{{"read_size", read}, {"write_size", written}}
}

// delta is after-before, or after when the counter went back (the device was reset).
func delta(before, after uint64) uint64 {
	if after < before {
		return after
	}
	return after - before
}

// read returns the byte counters of the devices to report, nil (logged once) when there
// are none.
func (in *Input) read(ctx context.Context) map[string]counters {
	name := strings.TrimPrefix(strings.TrimSpace(in.DevName), "/dev/")
	var stats map[string]godisk.IOCountersStat
	var err error
	if name != "" {
		stats, err = godisk.IOCountersWithContext(ctx, name)
	} else {
		stats, err = godisk.IOCountersWithContext(ctx)
	}
	if err == nil && len(stats) == 0 && name != "" && exists(metric.SysPath(ctx, "class", "block", name)) {
		// gopsutil leaves out devices whose counters are all 0: an idle device, not a missing one.
		stats = map[string]godisk.IOCountersStat{name: {}}
	}
	if err != nil || len(stats) == 0 {
		if name != "" && err == nil {
			in.warn.Once("dev", "no such block device; will keep looking", "dev_name", name)
		} else {
			in.warn.Once("diskstats", "disk counters are not available on this platform", "err", err)
		}
		return nil
	}
	in.warn.Recovered("dev", "block device is back", "dev_name", name)
	in.warn.Recovered("diskstats", "disk counters are back")
	whole := wholeDisks(ctx)
	out := make(map[string]counters, len(stats))
	for dev, s := range stats {
		if name == "" && whole != nil && !whole[dev] {
			continue
		}
		out[dev] = counters{read: s.ReadBytes, written: s.WriteBytes}
	}
	return out
}

// wholeDisks returns the names under /sys/block (disks, not partitions), or nil when the
// platform has no such directory: then every device counts.
func wholeDisks(ctx context.Context) map[string]bool {
	entries, err := os.ReadDir(metric.SysPath(ctx, "block"))
	if err != nil || len(entries) == 0 {
		return nil
	}
	m := make(map[string]bool, len(entries))
	for _, e := range entries {
		m[filepath.Base(e.Name())] = true
	}
	return m
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
