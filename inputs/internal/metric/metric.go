// Package metric is what the system metric inputs (cpu, mem, disk, netif, thermal, proc)
// share: Fluent Bit's interval keys, the collection loop, pointing gopsutil at another
// /proc or /sys (tests, containers watching their host), and logging a missing metric
// once instead of every interval. It reads no metric itself.
package metric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/shirou/gopsutil/v3/common"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Interval holds Fluent Bit's interval_sec and interval_nsec keys. Embed it in an input
// struct: config.Decode fills the fields of embedded structs as the input's own.
type Interval struct {
	// IntervalSec takes seconds (1, 0.5) or a Go duration (500ms).
	IntervalSec time.Duration `conf:"interval_sec"`
	// IntervalNsec takes whole nanoseconds, added to IntervalSec.
	IntervalNsec int64 `conf:"interval_nsec"`
}

// DefaultInterval is the period when both keys are 0, as in Fluent Bit.
const DefaultInterval = time.Second

// Period checks the keys and returns the period between collections: their sum, or
// DefaultInterval when both are 0. Errors are config.KeyErrorf errors naming the key.
func (iv Interval) Period() (time.Duration, error) {
	switch {
	case iv.IntervalSec < 0:
		return 0, config.KeyErrorf("interval_sec", "%v: want 0 or more", iv.IntervalSec)
	case iv.IntervalNsec < 0:
		return 0, config.KeyErrorf("interval_nsec", "%d: want 0 or more", iv.IntervalNsec)
	}
	if p := iv.IntervalSec + time.Duration(iv.IntervalNsec); p > 0 {
		return p, nil
	}
	return DefaultInterval, nil
}

// Host names the directories gopsutil reads instead of /proc and /sys; empty means the
// real ones (or gopsutil's HOST_PROC and HOST_SYS environment variables).
type Host struct {
	Proc string
	Sys  string
}

// Context returns ctx carrying h for gopsutil calls made with it.
func (h Host) Context(ctx context.Context) context.Context {
	if h.Proc == "" && h.Sys == "" {
		return ctx
	}
	env := common.EnvMap{}
	if h.Proc != "" {
		env[common.HostProcEnvKey] = h.Proc
	}
	if h.Sys != "" {
		env[common.HostSysEnvKey] = h.Sys
	}
	return context.WithValue(ctx, common.EnvKey, env)
}

// ProcPath joins parts under the proc root in effect for ctx (Host.Proc, HOST_PROC, or /proc).
func ProcPath(ctx context.Context, parts ...string) string {
	return root(ctx, common.HostProcEnvKey, "/proc", parts)
}

// SysPath joins parts under the sys root in effect for ctx (Host.Sys, HOST_SYS, or /sys).
func SysPath(ctx context.Context, parts ...string) string {
	return root(ctx, common.HostSysEnvKey, "/sys", parts)
}

// root resolves a directory as gopsutil does: the context's EnvMap, then the environment
// variable of the same name, then dflt.
func root(ctx context.Context, key common.EnvKeyType, dflt string, parts []string) string {
	var dir string
	if env, ok := ctx.Value(common.EnvKey).(common.EnvMap); ok {
		dir = env[key]
	}
	if dir == "" {
		dir = os.Getenv(string(key))
	}
	if dir == "" {
		dir = dflt
	}
	return filepath.Join(append([]string{dir}, parts...)...)
}

// Logger returns env's logger, or one that discards when the input runs without an engine.
func Logger(env pipeline.Env) *slog.Logger {
	if env.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return env.Logger
}

// Warner logs each kind of trouble once: a metric the platform lacks stays missing, and
// logging it every interval would flood the log. Not safe for concurrent use: an input's
// collection runs in one goroutine.
type Warner struct {
	log    *slog.Logger
	prefix string
	warned map[string]bool
}

// NewWarner returns a Warner logging to log with messages prefixed by prefix ("cpu").
func NewWarner(log *slog.Logger, prefix string) *Warner {
	return &Warner{log: log, prefix: prefix + ": ", warned: map[string]bool{}}
}

// Once logs msg at warning level the first time it is called for what.
func (w *Warner) Once(what, msg string, args ...any) {
	if w.warned[what] {
		return
	}
	w.warned[what] = true
	w.log.Warn(w.prefix+msg, args...)
}

// Recovered forgets what, logging msg at info level if it had been warned about, so the
// log says when a metric came back and a later loss is logged again.
func (w *Warner) Recovered(what, msg string, args ...any) {
	if !w.warned[what] {
		return
	}
	delete(w.warned, what)
	w.log.Info(w.prefix+msg, args...)
}

// Every calls collect once per period until ctx is done. The first call is one period
// after Every starts. It returns nil when ctx is done or collect returns an error wrapping
// pipeline.ErrStopped (the engine is shutting down), and collect's other errors as they are.
func Every(ctx context.Context, period time.Duration, collect func(ctx context.Context, now time.Time) error) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := collect(ctx, now); err != nil {
				if errors.Is(err, pipeline.ErrStopped) {
					return nil
				}
				return err
			}
		}
	}
}

// EmitEvery emits, once per period, the record collect returns (nothing when it returns
// nil), stamped with the tick's time, until ctx is done or the engine stops. plugin names
// the input in emit errors.
func EmitEvery(ctx context.Context, emit pipeline.Emitter, period time.Duration, plugin string, collect func(ctx context.Context) event.Map) error {
	return Every(ctx, period, func(ctx context.Context, now time.Time) error {
		rec := collect(ctx)
		if rec == nil {
			return nil
		}
		if err := emit.Emit("", event.Event{Time: now, Record: rec}); err != nil {
			return fmt.Errorf("%s: emit: %w", plugin, err)
		}
		return nil
	})
}
