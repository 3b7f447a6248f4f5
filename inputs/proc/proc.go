// Package proc reports whether a named process is running, and its memory and open file
// descriptors, like Fluent Bit's proc input: a health check for a daemon on a device. It
// reads Linux's /proc (process list through gopsutil, /proc/PID/status and /proc/PID/fd); it
// does not report CPU usage (the cpu input's pid key does) nor start missing processes.
//
//	[INPUT]
//	    Name          proc
//	    Tag           proc.crond
//	    Proc_Name     crond
//	    Interval_Sec  1
//	    Fd            true
//	    Mem           true
//
// Keys:
//
//   - proc_name: the process to watch (required): the file name of its command (argv[0]
//     without directories, "crond" for /usr/sbin/crond) or its kernel name (comm, at most
//     15 characters). When several processes match, the one with the lowest pid is
//     reported.
//   - interval_sec: seconds between records (default 1); a fraction (0.5) or a Go duration
//     (500ms) works too.
//   - interval_nsec: nanoseconds added to interval_sec (default 0). When both are 0 the
//     interval is 1 second, as in Fluent Bit.
//   - alert on|off: emit records only while the process is not running (default off).
//   - fd on|off: add fd, the number of open file descriptors (default on).
//   - mem on|off: add the mem.* fields (default on).
//
// Records: alive (bool), proc_name, pid (-1 when not running); with mem, mem.VmPeak,
// mem.VmSize, mem.VmLck, mem.VmHWM, mem.VmRSS, mem.VmData, mem.VmStk, mem.VmExe, mem.VmLib,
// mem.VmPTE and mem.VmSwap from /proc/PID/status; with fd, fd. As in Fluent Bit the mem
// values are the kernel's kB times 1000 (not 1024), so dashboards built for it keep their
// scale, and a process that is not running reports 0 for each of them.
//
// Reading another user's file descriptors needs privileges: when /proc/PID/fd cannot be
// read the fd field is left out and the input says so once. Differences from Fluent Bit:
// it compares only argv[0]'s file name, reports whatever memory was left in its buffer for
// a process that is not running, and 0 descriptors when it cannot count them.
package proc

import (
	"bytes"
	"context"
	"github.com/fluentbit-go/fluentbit-go/event"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the proc input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	metric.Interval
	ProcName string `conf:"proc_name"`
	Alert    bool   `conf:"alert"`
	FD       bool   `conf:"fd"`
	Mem      bool   `conf:"mem"`

	host     metric.Host // tests: read this /proc instead
	warn     *metric.Warner
	interval time.Duration
	pid      int32 // the process last found, 0 when none
}

// memKeys are the /proc/PID/status fields reported, with their record keys.
var memKeys = [...]struct{ status, key string }{
	{"VmPeak", "mem.VmPeak"}, {"VmSize", "mem.VmSize"}, {"VmLck", "mem.VmLck"}, {"VmHWM", "mem.VmHWM"},
	{"VmRSS", "mem.VmRSS"}, {"VmData", "mem.VmData"}, {"VmStk", "mem.VmStk"}, {"VmExe", "mem.VmExe"},
	{"VmLib", "mem.VmLib"}, {"VmPTE", "mem.VmPTE"}, {"VmSwap", "mem.VmSwap"},
}

// New returns an Input with Fluent Bit's defaults.
func New() *Input {
	return &Input{Interval: metric.Interval{IntervalSec: time.Second}, FD: true, Mem: true}
}

func init() { pipeline.RegisterInput("proc", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	name := strings.TrimSpace(in.ProcName)
	switch {
	case name == "":
		return config.KeyErrorf("proc_name", "not set: name the process to watch, e.g. crond")
	case strings.ContainsRune(name, '/'):
		return config.KeyErrorf("proc_name", "%q: want the command's file name without directories", in.ProcName)
	}
	in.interval = interval
	return nil
}

// Init validates the keys.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "proc")
	if err := in.Validate(); err != nil {
		return err
	}
	in.pid = 0
	return nil
}

// Run emits one record per interval (with alert, only while the process is not running)
// until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	return metric.EmitEvery(ctx, emit, in.interval, "proc", func(ctx context.Context) event.Map {
		return in.collect(in.host.Context(ctx))
	})
}

// collect returns the record for this interval, or nil when alert is on and the process
// is running.
func (in *Input) collect(ctx context.Context) event.Map {
	name := strings.TrimSpace(in.ProcName)
	var status []byte
	pid := in.find(ctx, name)
	if pid > 0 {
		var err error
		if status, err = os.ReadFile(metric.ProcPath(ctx, strconv.Itoa(int(pid)), "status")); err != nil {
			pid, in.pid = 0, 0 // exited since it was found
		}
	}
	alive := pid > 0
	if alive && in.Alert {
		return nil
	}
	rec := make(event.Map, 0, 15)
	rec = append(rec, event.KV{Key: "alive", Value: alive}, event.KV{Key: "proc_name", Value: name}, event.KV{Key: "pid", Value: int64(-1)})
	if alive {
		rec[2].Value = int64(pid)
	}
	if in.Mem {
		vm := parseStatus(status)
		for _, k := range memKeys {
			rec = append(rec, event.KV{Key: k.key, Value: vm[k.status] * 1000})
		}
	}
	if in.FD {
		if !alive {
			rec = append(rec, event.KV{Key: "fd", Value: uint64(0)})
		} else if fds, err := os.ReadDir(metric.ProcPath(ctx, strconv.Itoa(int(pid)), "fd")); err != nil {
			in.warn.Once("fd", "cannot count the process's file descriptors (another user's process needs privileges); leaving fd out",
				"proc_name", name, "pid", pid, "err", err)
		} else {
			rec = append(rec, event.KV{Key: "fd", Value: uint64(len(fds))})
		}
	}
	return rec
}

// find returns the pid of the process named name, or 0. The last one found is checked
// first, so a steady process costs two small reads per interval, not a scan of /proc.
func (in *Input) find(ctx context.Context, name string) int32 {
	if in.pid > 0 && matches(ctx, in.pid, name) {
		return in.pid
	}
	in.pid = 0
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		in.warn.Once("pids", "cannot list processes on this platform; will keep trying", "err", err)
		return 0
	}
	in.warn.Recovered("pids", "process list readable again")
	for _, pid := range pids { // sorted: the lowest pid wins
		if matches(ctx, pid, name) {
			in.pid = pid
			return pid
		}
	}
	return 0
}

// matches reports whether process pid's argv[0] file name, or its kernel name, is name.
func matches(ctx context.Context, pid int32, name string) bool {
	dir := metric.ProcPath(ctx, strconv.Itoa(int(pid)))
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(cmdline) > 0 {
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if filepath.Base(string(argv0)) == name {
			return true
		}
	}
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	return err == nil && strings.TrimSuffix(string(comm), "\n") == name
}

// parseStatus returns the Vm* fields of a /proc/PID/status text, in kB. Lines it does not
// understand are skipped.
func parseStatus(data []byte) map[string]uint64 {
	vm := make(map[string]uint64, len(memKeys))
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if !bytes.HasPrefix(line, []byte("Vm")) {
			continue
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		value = bytes.TrimSpace(bytes.TrimSuffix(value, []byte("kB")))
		n, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil || n > 1<<53 { // kB: 2^53 kB is far beyond any address space
			continue
		}
		vm[string(key)] = n
	}
	return vm
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
