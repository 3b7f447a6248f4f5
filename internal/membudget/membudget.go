// Package membudget is one byte budget shared by the whole process: the agent's large
// buffers (input chunks, decompressed messages and bodies) are reserved from it before
// they are allocated, and given back when they are freed. When it is spent, Reserve waits
// (with a context) and TryReserve fails: the caller applies backpressure instead of
// allocating.
//
// A nil *Budget is the budget "off": unlimited, every method a no-op that costs a nil
// check. The budget counts what its callers say they hold; it allocates nothing, and it
// does not see memory nobody reserved (goroutine stacks, small per-record values, the
// Go runtime's own overhead): see docs/memory.md.
package membudget

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTooLarge means a reservation asks for more than the whole budget: waiting could
// never satisfy it.
var ErrTooLarge = errors.New("membudget: larger than the whole memory budget")

// Budget is a byte budget. Reservations are granted in the order they are asked for: a
// large one waiting is not overtaken by small ones, so it cannot starve.
type Budget struct {
	used   atomic.Int64
	limit  atomic.Int64
	waited atomic.Int64 // nanoseconds spent in Reserve waiting
	waits  atomic.Int64 // Reserve calls that had to wait

	mu      sync.Mutex
	waiters []*waiter // FIFO
}

type waiter struct {
	n       int64
	ready   chan struct{}
	granted bool // under mu
}

// New returns a budget of limit bytes, or nil (off, unlimited) when limit <= 0.
func New(limit int64) *Budget {
	if limit <= 0 {
		return nil
	}
	b := &Budget{}
	b.limit.Store(limit)
	return b
}

// Limit returns the budget in bytes (0: off).
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit.Load()
}

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Waited returns the total time Reserve calls spent waiting for room.
func (b *Budget) Waited() time.Duration {
	if b == nil {
		return 0
	}
	return time.Duration(b.waited.Load())
}

// Waits returns how many Reserve calls had to wait.
func (b *Budget) Waits() int64 {
	if b == nil {
		return 0
	}
	return b.waits.Load()
}

// Full reports whether a reservation would have to wait now: the budget is spent or
// someone is waiting already. Inputs that can refuse work (a listener answering 503)
// ask it before taking any.
func (b *Budget) Full() bool {
	if b == nil {
		return false
	}
	if b.used.Load() >= b.limit.Load() {
		return true
	}
	b.mu.Lock()
	w := len(b.waiters) > 0
	b.mu.Unlock()
	return w
}

// SetLimit changes the budget (a reload with another memory_limit). Reservations held
// stay; waiters that now fit are granted. limit must be above 0.
func (b *Budget) SetLimit(limit int64) {
	if b == nil || limit <= 0 {
		return
	}
	b.mu.Lock()
	b.limit.Store(limit)
	b.grantLocked()
	b.mu.Unlock()
}

// TryReserve reserves n bytes if they fit now, without waiting.
func (b *Budget) TryReserve(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) == 0 && b.used.Load()+n <= b.limit.Load() {
		b.used.Add(n)
		return true
	}
	return false
}

// Reserve reserves n bytes, waiting until they fit or ctx is done (ctx's error is
// returned, nothing is reserved). A request larger than the whole budget fails at once
// with ErrTooLarge.
func (b *Budget) Reserve(ctx context.Context, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	limit := b.limit.Load()
	if n > limit {
		b.mu.Unlock()
		return fmt.Errorf("%w: %d bytes asked, the budget is %d", ErrTooLarge, n, limit)
	}
	if len(b.waiters) == 0 && b.used.Load()+n <= limit {
		b.used.Add(n)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	b.waits.Add(1)
	start := time.Now()
	defer func() { b.waited.Add(int64(time.Since(start))) }()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	if w.granted { // granted while ctx ended: give it back
		b.used.Add(-n)
	} else {
		for i, o := range b.waiters {
			if o == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	b.grantLocked() // the head may have been this waiter, holding others back
	b.mu.Unlock()
	return ctx.Err()
}

// Overdraw counts n bytes allocated already (by a growth nobody could ask about first),
// without waiting, even past the limit: later reservations wait until they are given
// back.
func (b *Budget) Overdraw(n int64) {
	if b == nil || n == 0 {
		return
	}
	if n < 0 {
		b.Release(-n)
		return
	}
	b.used.Add(n)
}

// Release gives back n bytes reserved before.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used.Add(-n)
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked grants the waiters at the head of the queue that fit.
func (b *Budget) grantLocked() {
	limit := b.limit.Load()
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		// A request that does not fit waits, unless nothing at all is held (the limit
		// went down under it): then it could wait forever, so it is granted.
		if b.used.Load()+w.n > limit && b.used.Load() > 0 {
			return
		}
		b.used.Add(w.n)
		w.granted = true
		close(w.ready)
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
	}
}
