package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilSeesAChange(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 5 {
			n.Add(1)
		}
	}()
	if !Until(10*time.Second, func() bool { return n.Load() == 5 }) {
		t.Error("Until: false for a condition that comes true")
	}
}

func TestUntilGivesUpAtTheDeadline(t *testing.T) {
	start := time.Now()
	checks := 0
	if Until(30*time.Millisecond, func() bool { checks++; return false }) {
		t.Error("Until: true for a condition that never holds")
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
		t.Errorf("Until gave up after %v, want about 30ms", d)
	}
	if checks < 2 || checks > 30 {
		t.Errorf("%d checks in 30ms, want a few (backing off from 1ms to 20ms)", checks)
	}
}
