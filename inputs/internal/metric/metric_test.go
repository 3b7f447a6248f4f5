package metric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestPeriod(t *testing.T) {
	for _, tc := range []struct {
		iv   Interval
		want time.Duration
		key  string
	}{
		{Interval{}, time.Second, ""},
		{Interval{IntervalSec: 2 * time.Second}, 2 * time.Second, ""},
		{Interval{IntervalNsec: 5e7}, 50 * time.Millisecond, ""},
		{Interval{IntervalSec: time.Second, IntervalNsec: 5e8}, 1500 * time.Millisecond, ""},
		{Interval{IntervalSec: -1}, 0, "interval_sec"},
		{Interval{IntervalNsec: -1}, 0, "interval_nsec"},
	} {
		got, err := tc.iv.Period()
		if tc.key != "" {
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("%+v: error %v, want one naming %s", tc.iv, err, tc.key)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: Period() = %v, %v; want %v", tc.iv, got, err, tc.want)
		}
	}
}

func TestHostPaths(t *testing.T) {
	t.Setenv("HOST_PROC", "")
	t.Setenv("HOST_SYS", "")
	ctx := context.Background()
	if got := ProcPath(ctx, "1", "status"); got != "/proc/1/status" {
		t.Errorf("ProcPath = %s", got)
	}
	ctx = Host{Proc: "/x/proc", Sys: "/x/sys"}.Context(ctx)
	if got := ProcPath(ctx, "diskstats"); got != "/x/proc/diskstats" {
		t.Errorf("ProcPath = %s", got)
	}
	if got := SysPath(ctx, "class", "thermal"); got != "/x/sys/class/thermal" {
		t.Errorf("SysPath = %s", got)
	}
	t.Setenv("HOST_SYS", "/env/sys")
	if got := SysPath(context.Background(), "class"); got != "/env/sys/class" {
		t.Errorf("SysPath with HOST_SYS = %s", got)
	}
}

func TestWarnerLogsOncePerKind(t *testing.T) {
	var logs pipelinetest.Logs
	w := NewWarner(logs.Logger(), "x")
	for range 10 {
		w.Once("a", "a is missing")
		w.Once("b", "b is missing")
	}
	if n := logs.Count(slog.LevelWarn); n != 2 {
		t.Fatalf("%d warnings, want 2", n)
	}
	w.Recovered("a", "a is back")
	w.Recovered("a", "a is back")
	w.Once("a", "a is missing")
	if w, all := logs.Count(slog.LevelWarn), logs.Count(slog.LevelInfo); w != 3 || all != 4 {
		t.Errorf("%d warnings and %d infos, want 3 and 1", w, all-w)
	}
	if msg := logs.Records()[0].Message; msg != "x: a is missing" {
		t.Errorf("message %q", msg)
	}
}

func TestEveryStops(t *testing.T) {
	calls := 0
	err := Every(context.Background(), time.Millisecond, func(context.Context, time.Time) error {
		if calls++; calls == 3 {
			return fmt.Errorf("emit: %w", pipeline.ErrStopped)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Every = %v after %d calls, want nil after 3", err, calls)
	}
	boom := errors.New("boom")
	if err := Every(context.Background(), time.Millisecond, func(context.Context, time.Time) error { return boom }); err != boom {
		t.Errorf("Every = %v, want the collect error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Every(ctx, time.Hour, func(context.Context, time.Time) error { return boom }); err != nil {
		t.Errorf("Every on a done context = %v", err)
	}
}
