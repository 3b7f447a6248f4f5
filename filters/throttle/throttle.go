// Package throttle limits the average rate of records over a sliding window, like Fluent
// Bit's throttle filter: records over the rate are dropped.
//
//	[FILTER]
//	    Name     throttle
//	    Match    *
//	    Rate     1000
//	    Window   300
//	    Interval 1s
//
// Keys:
//
//   - rate N (default 1): records allowed per interval, on average over the window.
//   - window N (default 5): how many intervals the average covers.
//   - interval DURATION (default 1s): the length of one pane of the window (3s, 1.5m, 0.5h).
//   - print_status on|off (default off): log the current rate and the limit at info level
//     each time the window moves (at most once per interval, only while records arrive).
//   - per_tag on|off (default off): keep one window per tag, so a noisy tag cannot starve
//     the others. Off, as in Fluent Bit, one window counts every record the filter sees.
//
// Algorithm. The window is a ring of `window` panes of `interval` each. A record is
// dropped when the records kept in the window, divided by the number of panes the window
// has used so far (at most `window`), is already at or above `rate`; otherwise it is
// counted in the current pane and kept. Dividing by the panes used so far is Fluent Bit's
// "slow start": the first interval allows `rate` records, not rate×window. Panes advance
// with the wall clock as records arrive; an idle period empties the panes it spans. Once the
// window is full, the limit is an average: after a quiet spell up to rate×window records
// may pass within one interval, as in Fluent Bit. No goroutine runs: the clock is read per
// record.
//
// With per_tag on, windows of tags that have been idle for a whole window are forgotten
// once more than 4096 tags are tracked, so memory stays bounded.
package throttle

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Throttle is the throttle filter.
type Throttle struct {
	Rate        int64         `conf:"rate"`
	Window      int           `conf:"window"`
	Interval    time.Duration `conf:"interval"`
	PrintStatus bool          `conf:"print_status"`
	PerTag      bool          `conf:"per_tag"`

	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	global  window
	perTag  map[string]*window
	maxTags int
}

// window is a ring of pane counters.
type window struct {
	panes   []int64
	total   int64
	cur     int64 // index of the current interval since the epoch
	used    int   // panes used since the first record (slow start), at most len(panes)
	started bool
	dropped int64 // in the current pane, for print_status
}

func init() {
	pipeline.RegisterFilter("throttle", func() pipeline.Filter { return New() })
}

// New returns a throttle with Fluent Bit's defaults.
func New() *Throttle {
	return &Throttle{Rate: 1, Window: 5, Interval: time.Second}
}

// Validate checks the keys.
func (t *Throttle) Validate() error {
	if t.Rate < 1 {
		return config.KeyErrorf("rate", "%d: want a positive number", t.Rate)
	}
	if t.Window < 1 {
		return config.KeyErrorf("window", "%d: want a positive number", t.Window)
	}
	if t.Interval <= 0 {
		return config.KeyErrorf("interval", "%v: want a positive duration", t.Interval)
	}
	return nil
}

// Init prepares the windows.
func (t *Throttle) Init(_ context.Context, env pipeline.Env) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.now == nil {
		t.now = time.Now
	}
	t.log = env.Logger
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.global = window{panes: make([]int64, t.Window)}
	t.perTag = map[string]*window{}
	if t.maxTags == 0 {
		t.maxTags = 4096
	}
	return nil
}

// Filter keeps the record if the window has room for it.
func (t *Throttle) Filter(tag string, _ *event.Event) (pipeline.Verdict, error) {
	now := t.now()
	iv := now.UnixNano() / int64(t.Interval)
	t.mu.Lock()
	w := &t.global
	if t.PerTag {
		w = t.perTag[tag]
		if w == nil {
			if len(t.perTag) >= t.maxTags {
				t.forgetIdle(iv)
			}
			w = &window{panes: make([]int64, t.Window)}
			t.perTag[tag] = w
		}
	}
	moved := w.advance(iv)
	if moved && t.PrintStatus {
		t.log.Info("throttle status", "tag", tag, "rate", float64(w.total)/float64(w.used),
			"limit", t.Rate, "interval", t.Interval, "window", t.Window, "dropped_last_interval", w.dropped)
		w.dropped = 0
	}
	if w.total >= t.Rate*int64(w.used) {
		w.dropped++
		t.mu.Unlock()
		return pipeline.Drop, nil
	}
	w.panes[w.cur%int64(len(w.panes))]++
	w.total++
	t.mu.Unlock()
	return pipeline.Keep, nil
}

// advance moves the window to interval iv, emptying the panes between. It reports whether
// the window moved (a new pane started).
func (w *window) advance(iv int64) bool {
	n := int64(len(w.panes))
	if !w.started {
		w.started, w.cur, w.used = true, iv, 1
		return false
	}
	if iv <= w.cur {
		return false // the same pane, or the clock went back: stay
	}
	steps := iv - w.cur
	if steps >= n {
		clear(w.panes)
		w.total = 0
	} else {
		for i := int64(1); i <= steps; i++ {
			p := (w.cur + i) % n
			w.total -= w.panes[p]
			w.panes[p] = 0
		}
	}
	w.used = int(min(n, int64(w.used)+steps))
	w.cur = iv
	return true
}

func (t *Throttle) forgetIdle(iv int64) {
	for tag, w := range t.perTag {
		if iv-w.cur >= int64(len(w.panes)) {
			delete(t.perTag, tag)
		}
	}
	if len(t.perTag) >= t.maxTags {
		// Every tag is active: forget one at random rather than grow without bound.
		for tag := range t.perTag {
			delete(t.perTag, tag)
			break
		}
	}
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*Throttle)(nil)
	_ pipeline.Validator   = (*Throttle)(nil)
	_ pipeline.Initializer = (*Throttle)(nil)
)
