package embedhttp

import (
	"context"
	"sync/atomic"
	"time"
)

// clock keeps the formatted Date header value, refreshed once a second by one
// goroutine, so no request formats a time.
type clock struct {
	date atomic.Pointer[[]byte]
	sec  atomic.Int64 // unix seconds of the last tick
}

const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func (c *clock) set(now time.Time) {
	b := now.UTC().AppendFormat(make([]byte, 0, len(httpTimeFormat)), httpTimeFormat)
	c.date.Store(&b)
	c.sec.Store(now.Unix())
}

func (c *clock) get() []byte { return *c.date.Load() }

// run refreshes the date until ctx is done.
func (c *clock) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		now := time.Now()
		c.set(now)
		// Wake just after the next second boundary.
		t := time.NewTimer(now.Truncate(time.Second).Add(time.Second).Sub(now) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
