package throttle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time         { return c.t }
func (c *clock) add(d time.Duration)    { c.t = c.t.Add(d) }
func newClock() *clock                  { return &clock{t: time.Unix(1_700_000_000, 0)} }
func ev() *event.Event                  { return &event.Event{Record: event.Map{{"a", 1}}} }
func keep(t *Throttle, tag string) bool { v, _ := t.Filter(tag, ev()); return v == pipeline.Keep }

func newThrottle(tb testing.TB, c *clock, set func(*Throttle)) *Throttle {
	tb.Helper()
	th := New()
	set(th)
	th.now = c.now
	if err := th.Init(context.Background(), pipeline.Env{Name: "throttle.0"}); err != nil {
		tb.Fatal(err)
	}
	return th
}

// countKept sends n records per interval for len(perInterval) intervals and returns how many
// were kept in each.
func countKept(th *Throttle, c *clock, tag string, perInterval []int) []int {
	out := make([]int, len(perInterval))
	for i, n := range perInterval {
		for j := 0; j < n; j++ {
			if keep(th, tag) {
				out[i]++
			}
		}
		c.add(th.Interval)
	}
	return out
}

func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rate   int64
		window int
		in     []int
		want   []int
	}{
		// The documentation's example: Rate 5, Window 5. 1, 3 and 5 records in the first
		// three seconds all pass (average 3 with slow start, under 5).
		{"doc: slow start under the rate", 5, 5, []int{1, 3, 5}, []int{1, 3, 5}},
		// A flood: the first interval allows rate, later ones keep the average at rate.
		{"flood", 5, 5, []int{100, 100, 100, 100, 100, 100}, []int{5, 5, 5, 5, 5, 5}},
		// A quiet spell leaves room that a burst may use, up to the window's average.
		{"burst after quiet", 10, 4, []int{100, 0, 0, 0, 100}, []int{10, 0, 0, 0, 40}},
		{"window 1 is a fixed rate", 3, 1, []int{10, 1, 10}, []int{3, 1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			th := newThrottle(t, c, func(th *Throttle) { th.Rate, th.Window = tc.rate, tc.window })
			if got := countKept(th, c, "t", tc.in); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("kept per interval %v, want %v", got, tc.want)
			}
		})
	}
}

func TestThrottleLongIdleEmptiesWindow(t *testing.T) {
	c := newClock()
	th := newThrottle(t, c, func(th *Throttle) { th.Rate, th.Window = 2, 3 })
	countKept(th, c, "t", []int{10, 10, 10})
	c.add(time.Hour)
	if got := countKept(th, c, "t", []int{100}); got[0] != 6 {
		t.Fatalf("after an hour idle kept %d, want rate*window = 6", got[0])
	}
}

func TestThrottlePerTag(t *testing.T) {
	c := newClock()
	shared := newThrottle(t, c, func(th *Throttle) { th.Rate = 5 })
	perTag := newThrottle(t, c, func(th *Throttle) { th.Rate, th.PerTag = 5, true })
	var s, p int
	for i := 0; i < 20; i++ {
		tag := fmt.Sprintf("tag%d", i%4)
		if keep(shared, tag) {
			s++
		}
		if keep(perTag, tag) {
			p++
		}
	}
	if s != 5 || p != 20 {
		t.Fatalf("shared window kept %d (want 5), per-tag kept %d (want 4 tags x 5 = 20)", s, p)
	}
}

func TestThrottlePerTagBounded(t *testing.T) {
	c := newClock()
	th := newThrottle(t, c, func(th *Throttle) { th.PerTag = true; th.maxTags = 100 })
	for i := 0; i < 10000; i++ {
		keep(th, fmt.Sprintf("t%d", i))
	}
	if len(th.perTag) > 100 {
		t.Fatalf("%d tags tracked, want at most 100", len(th.perTag))
	}
}

func TestThrottleClockBack(t *testing.T) {
	c := newClock()
	th := newThrottle(t, c, func(th *Throttle) { th.Rate = 2 })
	countKept(th, c, "t", []int{2})
	c.add(-10 * time.Second)
	if keep(th, "t") {
		// Back in time: the window stays where it was, and it is full.
		t.Fatal("a record passed after the clock went back with the window full")
	}
}

func TestThrottleConcurrent(t *testing.T) {
	c := newClock()
	th := newThrottle(t, c, func(th *Throttle) { th.Rate = 1000 })
	var kept atomic.Int64
	pipelinetest.Concurrently(t, 8, 1000, func(int, int) error {
		if keep(th, "t") {
			kept.Add(1)
		}
		return nil
	})
	if kept := kept.Load(); kept != 1000 {
		t.Fatalf("kept %d of 8000 in one interval, want exactly the rate, 1000", kept)
	}
}

func TestThrottlePrintStatus(t *testing.T) {
	c := newClock()
	logs := &pipelinetest.Logs{}
	th := New()
	th.Rate, th.PrintStatus, th.now = 2, true, c.now
	if err := th.Init(context.Background(), logs.Env("throttle.0")); err != nil {
		t.Fatal(err)
	}
	countKept(th, c, "t", []int{5, 5, 5})
	// The window moved twice while records arrived: two status lines.
	if n := logs.Count(slog.LevelInfo); n != 2 {
		t.Fatalf("%d status lines, want 2", n)
	}
}

func TestThrottleValidate(t *testing.T) {
	for _, tc := range []struct {
		props []config.Property
		key   string
	}{
		{[]config.Property{{Key: "Rate", Value: "0"}}, "rate"},
		{[]config.Property{{Key: "Window", Value: "0"}}, "window"},
		{[]config.Property{{Key: "Interval", Value: "0s"}}, "interval"},
	} {
		f, _ := pipeline.NewFilter("throttle")
		var ce *config.Error
		if err := pipeline.Configure(f, tc.props); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: %v, want an error on %s", tc.props, err, tc.key)
		}
	}
	f, _ := pipeline.NewFilter("throttle")
	if err := pipeline.Configure(f, []config.Property{{Key: "Rate", Value: "800"}, {Key: "Window", Value: "300"},
		{Key: "Interval", Value: "1.5m"}, {Key: "Print_Status", Value: "true"}}); err != nil {
		t.Fatal(err)
	}
	if th := f.(*Throttle); th.Interval != 90*time.Second || th.Rate != 800 || th.Window != 300 || !th.PrintStatus {
		t.Fatalf("decoded %+v", th)
	}
}

func BenchmarkThrottle(b *testing.B) {
	for _, perTag := range []bool{false, true} {
		th := New()
		th.Rate = 1 << 40
		th.PerTag = perTag
		th.Init(context.Background(), pipeline.Env{})
		e := ev()
		b.Run(fmt.Sprintf("per_tag=%v", perTag), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				th.Filter("app.log", e)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
