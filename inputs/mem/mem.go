// Package mem reports memory and swap usage as records, like Fluent Bit's mem input, and
// optionally one process's resident memory. It reads the operating system's counters
// through sysinfo(2) on Linux, as Fluent Bit does, and gopsutil elsewhere (and for the
// process); it does not report per-process breakdowns beyond that one process.
//
//	[INPUT]
//	    Name          mem
//	    Tag           memory
//	    Interval_Sec  1
//
// Keys:
//
//   - interval_sec: seconds between records (default 1); a fraction (0.5) or a Go duration
//     (500ms) works too.
//   - interval_nsec: nanoseconds added to interval_sec (default 0). When both are 0 the
//     interval is 1 second.
//   - pid: also report this process's resident memory. The process must exist when the
//     input starts.
//
// Records (integers, in kilobytes of 1024 bytes as in Fluent Bit):
//
//   - Mem.total, Mem.free, Mem.used: total memory, the kernel's free memory (MemFree, what
//     Fluent Bit reads through sysinfo(2): page cache counts as used), and total - free.
//   - Swap.total, Swap.free, Swap.used: the same for swap (0 without swap).
//   - With pid: proc_bytes, the process's resident set size in bytes, and proc_hr, the same
//     in Fluent Bit's human-readable form ("512 b", "1.50K", "12.00M").
//
// The first record comes one interval after the input starts. Fluent Bit reads
// interval_sec 0 as 1 second even when interval_nsec is set; here interval_sec 0 with
// interval_nsec 50000000 means 50ms. When the platform does not provide a counter, or the
// process has exited, the input logs it once, leaves those fields out and keeps running;
// they come back if the counter does.
package mem

import (
	"context"
	"github.com/fluentbit-go/fluentbit-go/event"
	"strconv"
	"time"

	gomem "github.com/shirou/gopsutil/v3/mem"
	"github.com/shirou/gopsutil/v3/process"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the mem input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	metric.Interval
	PID int `conf:"pid"` // 0: no process

	warn     *metric.Warner
	interval time.Duration
	proc     *process.Process
	procRoot string    // tests: read this directory instead of /proc
	rec      event.Map // reused: the engine encodes it before Emit returns
}

// New returns an Input with Fluent Bit's defaults.
func New() *Input { return &Input{Interval: metric.Interval{IntervalSec: time.Second}} }

func init() { pipeline.RegisterInput("mem", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects: config.KeyErrorf errors name the key
// at fault. It may be called more than once.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	switch {
	case in.PID < 0:
		return config.KeyErrorf("pid", "%d: want a process id", in.PID)
	}
	in.interval = interval
	return nil
}

// Init validates the keys and, with pid, checks that the process exists.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "mem")
	if err := in.Validate(); err != nil {
		return err
	}
	in.rec = event.Map{}
	in.proc = nil
	if in.PID > 0 {
		p, err := process.NewProcessWithContext(in.env(ctx), int32(in.PID))
		if err != nil {
			return config.KeyErrorf("pid", "%d: %v", in.PID, err)
		}
		in.proc = p
	}
	return nil
}

// env points gopsutil at procRoot when a test set it.
func (in *Input) env(ctx context.Context) context.Context {
	return metric.Host{Proc: in.procRoot}.Context(ctx)
}

// Run emits one record per interval until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	return metric.EmitEvery(ctx, emit, in.interval, "mem", func(ctx context.Context) event.Map {
		if rec := in.sample(in.env(ctx)); len(rec) > 0 {
			return rec
		}
		return nil
	})
}

// sample reads the counters into the reused record, leaving out (and logging once) those
// the platform does not provide.
func (in *Input) sample(ctx context.Context) event.Map {
	clear(in.rec)
	rec := in.rec[:0]
	defer func() { in.rec = rec }()
	// On Linux one sysinfo(2) call gives all four (tests point procRoot at a fake /proc,
	// which only gopsutil reads).
	if in.procRoot == "" {
		if total, free, stotal, sfree, ok := sysMemory(); ok && total > 0 {
			free, sfree = min(free, total), min(sfree, stotal)
			rec = append(rec, event.KV{Key: "Mem.total", Value: total}, event.KV{Key: "Mem.used", Value: total - free}, event.KV{Key: "Mem.free", Value: free})
			rec = append(rec, event.KV{Key: "Swap.total", Value: stotal}, event.KV{Key: "Swap.used", Value: stotal - sfree}, event.KV{Key: "Swap.free", Value: sfree})
			rec = in.sampleProc(ctx, rec)
			return rec
		}
	}
	// gopsutil reports a missing /proc/meminfo as zero memory rather than an error.
	if vm, err := gomem.VirtualMemoryWithContext(ctx); err != nil || vm.Total == 0 {
		in.warn.Once("mem", "memory usage is not available on this platform", "err", err)
	} else {
		total, free := vm.Total/1024, min(vm.Free/1024, vm.Total/1024)
		rec = append(rec, event.KV{Key: "Mem.total", Value: total}, event.KV{Key: "Mem.used", Value: total - free}, event.KV{Key: "Mem.free", Value: free})
	}
	if sw, err := gomem.SwapMemoryWithContext(ctx); err != nil {
		in.warn.Once("swap", "swap usage is not available on this platform", "err", err)
	} else {
		total, free := sw.Total/1024, min(sw.Free/1024, sw.Total/1024)
		rec = append(rec, event.KV{Key: "Swap.total", Value: total}, event.KV{Key: "Swap.used", Value: total - free}, event.KV{Key: "Swap.free", Value: free})
	}
	rec = in.sampleProc(ctx, rec)
	return rec
}

// sampleProc adds the process's resident size to rec when pid is set.
func (in *Input) sampleProc(ctx context.Context, rec event.Map) event.Map {
	if in.proc != nil {
		if mi, err := in.proc.MemoryInfoWithContext(ctx); err != nil {
			in.warn.Once("pid", "cannot read the process's memory; will keep trying", "pid", in.PID, "err", err)
		} else {
			rec = append(rec, event.KV{Key: "proc_bytes", Value: mi.RSS}, event.KV{Key: "proc_hr", Value: humanSize(mi.RSS)})
		}
	}
	return rec
}

// humanSize formats bytes as Fluent Bit's in_mem does: "512 b" below 1K, else two decimals
// and a 1024-based unit, "1.50K", "12.00M".
func humanSize(n uint64) string {
	const units = "bKMGTPE"
	div, i := uint64(1), 0
	for ; i < len(units)-1 && n/(div*1024) != 0; i++ {
		div *= 1024
	}
	if i == 0 {
		return strconv.FormatUint(n, 10) + " b"
	}
	// Fluent Bit divides in double and prints a float.
	f := float32(float64(n) / float64(div))
	return strconv.FormatFloat(float64(f), 'f', 2, 64) + units[i:i+1]
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
