// Package cpu reports CPU usage as records, like Fluent Bit's cpu input: the whole system
// and each core, or one process. It reads /proc/stat itself where there is one (Linux)
// and the operating system's counters through gopsutil elsewhere and for a process; it
// does not report load averages, frequencies or temperatures.
//
//	[INPUT]
//	    Name          cpu
//	    Tag           my_cpu
//	    Interval_Sec  1
//
// Keys:
//
//   - interval_sec: seconds between records (default 1); a fraction (0.5) or a Go duration
//     (500ms) works too.
//   - interval_nsec: nanoseconds added to interval_sec (default 0). When both are 0 the
//     interval is 1 second, as in Fluent Bit.
//   - pid: report only this process (default: the whole system). The process must exist
//     when the input starts.
//
// Records (values are float64 percentages from 0 to 100 over the last interval):
//
//   - cpu_p, user_p, system_p: time spent in user space (user + nice), in the kernel, and
//     both, divided by the number of online cores, so 100 means every core busy.
//   - cpu0.p_cpu, cpu0.p_user, cpu0.p_system, cpu1.p_cpu, ...: the same for each core, not
//     divided (100 means that core busy). Names follow the kernel's core numbers.
//   - With pid: cpu_p, user_p, system_p of that process, divided by the number of online
//     cores as Fluent Bit does.
//
// The first record comes one interval after the input starts: a percentage needs two
// readings. Percentages are computed over the time that really passed between the readings
// (Fluent Bit divides by the configured interval) and kept within 0..100, so a late timer
// or the counters' tick granularity cannot report 103%: when user and system add up to more
// than 100 both are scaled down together, so cpu_p is always user_p + system_p. When the platform does not provide a
// counter (no /proc/stat, a process that exited) the input logs it once and keeps running,
// emitting what it can; if a process comes back under that pid, reporting resumes.
package cpu

import (
	"context"
	"fmt"
	"runtime"
	"time"

	gocpu "github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/process"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the cpu input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	metric.Interval
	PID int `conf:"pid"` // 0 (or Fluent Bit's -1): the whole system

	warn     *metric.Warner
	interval time.Duration
	ncpu     int // online cores, for the system-wide and per-process averages
	proc     *process.Process
	procRoot string // tests: read this directory instead of /proc
	stat     statReader
	spare    []core // the cores of the reading before last, reused by the next
	keys     map[string]*[3]string
	rec      event.Map // reused: the engine encodes it before Emit returns
}

// New returns an Input with Fluent Bit's defaults.
func New() *Input { return &Input{Interval: metric.Interval{IntervalSec: time.Second}} }

func init() { pipeline.RegisterInput("cpu", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects: config.KeyErrorf errors name the key
// at fault. It may be called more than once.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	switch {
	case in.PID < -1:
		return config.KeyErrorf("pid", "%d: want a process id", in.PID)
	}
	in.interval = interval
	return nil
}

// Init validates the keys and, with pid, checks that the process exists.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "cpu")
	if err := in.Validate(); err != nil {
		return err
	}
	in.keys = map[string]*[3]string{}
	in.rec = event.Map{}
	ctx = in.env(ctx)
	in.stat = statReader{path: metric.ProcPath(ctx, "stat")}
	in.ncpu = runtime.NumCPU()
	if _, _, cores, err := in.stat.read(nil); err == nil {
		if len(cores) > 0 {
			in.ncpu = len(cores)
		}
	} else if cores, err := gocpu.TimesWithContext(ctx, true); err == nil && len(cores) > 0 {
		in.ncpu = len(cores)
	}
	in.proc = nil
	if in.PID > 0 {
		p, err := process.NewProcessWithContext(ctx, int32(in.PID))
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
	prev := in.sample(in.env(ctx))
	return metric.Every(ctx, in.interval, func(ctx context.Context, _ time.Time) error {
		cur := in.sample(in.env(ctx))
		rec := in.record(prev, cur)
		in.spare, prev = prev.cores, cur
		if rec == nil {
			return nil
		}
		if err := emit.Emit("", event.Event{Time: cur.at, Record: rec}); err != nil {
			return fmt.Errorf("cpu: emit: %w", err)
		}
		return nil
	})
}

// times are seconds of CPU time.
type times struct{ user, system float64 }

type core struct {
	name string // "cpu0"
	times
}

// snapshot is one reading of the counters. ok is false when even the totals are missing.
type snapshot struct {
	at    time.Time
	ok    bool
	total times
	cores []core
}

// sample reads the counters, logging once per counter the platform does not provide.
func (in *Input) sample(ctx context.Context) snapshot {
	s := snapshot{at: time.Now()}
	if in.proc != nil {
		t, err := in.proc.TimesWithContext(ctx)
		if err != nil {
			in.warn.Once("pid", "cannot read the process's CPU times; will keep trying", "pid", in.PID, "err", err)
			return s
		}
		s.ok, s.total = true, times{user: t.User, system: t.System}
		return s
	}
	if in.stat.path != "" {
		total, totalOK, cores, err := in.stat.read(in.spare[:0])
		in.spare = nil
		if err == nil {
			if len(cores) == 0 {
				in.warn.Once("percpu", "per-core CPU times are not available on this platform")
			}
			s.ok, s.total, s.cores = totalOK, total, cores
			return in.fillTotal(s, nil)
		}
	}
	cores, err := gocpu.TimesWithContext(ctx, true)
	if err != nil || len(cores) == 0 {
		in.warn.Once("percpu", "per-core CPU times are not available on this platform", "err", err)
	}
	for _, c := range cores {
		s.cores = append(s.cores, core{name: c.CPU, times: times{user: c.User + c.Nice, system: c.System}})
	}
	all, err := gocpu.TimesWithContext(ctx, false)
	if err == nil && len(all) > 0 {
		s.ok, s.total = true, times{user: all[0].User + all[0].Nice, system: all[0].System}
	}
	return in.fillTotal(s, err)
}

// fillTotal sums the cores into the totals where the platform gives only those, and logs
// once when there is neither.
func (in *Input) fillTotal(s snapshot, err error) snapshot {
	switch {
	case s.ok:
	case len(s.cores) > 0:
		// Totals are the sum of the cores where the platform gives only those.
		s.ok = true
		for _, c := range s.cores {
			s.total.user += c.user
			s.total.system += c.system
		}
	default:
		in.warn.Once("total", "CPU times are not available on this platform", "err", err)
	}
	return s
}

// record computes the percentages between two readings; nil when there is nothing to
// report. The returned map is reused by the next call.
func (in *Input) record(prev, cur snapshot) event.Map {
	elapsed := cur.at.Sub(prev.at).Seconds()
	if !prev.ok || !cur.ok || elapsed <= 0 {
		return nil
	}
	n := float64(in.ncpu)
	if in.proc == nil && len(cur.cores) > 0 {
		n = float64(len(cur.cores))
	}
	clear(in.rec)
	rec := in.rec[:0]
	all, user, sys := shares(prev.total, cur.total, elapsed, n)
	rec = append(rec, event.KV{Key: "cpu_p", Value: all}, event.KV{Key: "user_p", Value: user}, event.KV{Key: "system_p", Value: sys})
	for i, c := range cur.cores {
		p, ok := find(prev.cores, i, c.name)
		if !ok {
			continue // a core that came online since the last reading
		}
		k := in.keys[c.name]
		if k == nil {
			k = &[3]string{c.name + ".p_cpu", c.name + ".p_user", c.name + ".p_system"}
			in.keys[c.name] = k
		}
		all, user, sys := shares(p.times, c.times, elapsed, 1)
		rec = append(rec, event.KV{Key: k[0], Value: all}, event.KV{Key: k[1], Value: user}, event.KV{Key: k[2], Value: sys})
	}
	in.rec = rec
	return rec
}

// find returns the core named name in cores, looking at index i first.
func find(cores []core, i int, name string) (core, bool) {
	if i < len(cores) && cores[i].name == name {
		return cores[i], true
	}
	for _, c := range cores {
		if c.name == name {
			return c, true
		}
	}
	return core{}, false
}

// shares returns the percentages of elapsed seconds on n cores spent in user space and in
// the kernel between two readings, and their sum. A counter that went backwards counts as
// 0; when the sum exceeds 100 (the counters' tick granularity, a late reading) both are
// scaled down together, so the sum stays the total and nothing reports more than 100.
func shares(before, after times, elapsed, n float64) (total, user, system float64) {
	user = max(after.user-before.user, 0) / elapsed / n * 100
	system = max(after.system-before.system, 0) / elapsed / n * 100
	if total = user + system; total > 100 {
		// Rescaled shares can round just past 100 (100.00000000000001): clamp each.
		user, system, total = min(user*100/total, 100), min(system*100/total, 100), 100
	}
	return total, user, system
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
