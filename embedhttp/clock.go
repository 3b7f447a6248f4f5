package embedhttp

import (
	"context"
	"sync"
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

// sharedClock is the one clock every server in the process reads: one goroutine and one
// wakeup a second however many servers run (the agent runs one per http input and one
// for the monitoring API), which an idle agent should not multiply.
var sharedClock struct {
	mu    sync.Mutex
	users int
	c     clock
	stop  context.CancelFunc
	done  chan struct{}
}

// acquireClock returns the shared clock, starting it for its first user.
func acquireClock() *clock {
	sharedClock.mu.Lock()
	defer sharedClock.mu.Unlock()
	if sharedClock.users == 0 {
		sharedClock.c.set(time.Now())
		ctx, cancel := context.WithCancel(context.Background())
		sharedClock.stop, sharedClock.done = cancel, make(chan struct{})
		go sharedClock.c.run(ctx, sharedClock.done)
	}
	sharedClock.users++
	return &sharedClock.c
}

// releaseClock stops the shared clock once its last user is gone, and waits for it, so a
// stopped server leaves no goroutine behind.
func releaseClock() {
	sharedClock.mu.Lock()
	defer sharedClock.mu.Unlock()
	sharedClock.users--
	if sharedClock.users == 0 {
		sharedClock.stop()
		<-sharedClock.done
	}
}

// run refreshes the date until ctx is done.
func (c *clock) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	// One timer, reset each tick: a new timer a second was ~15 KB a minute of garbage
	// that an idle agent keeps until its next GC.
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		c.set(now)
		// Wake just after the next second boundary.
		t.Reset(now.Truncate(time.Second).Add(time.Second).Sub(now) + time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
