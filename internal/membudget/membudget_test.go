package membudget

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

func TestOffIsUnlimited(t *testing.T) {
	var b *Budget = New(0)
	if b != nil {
		t.Fatal("New(0) is not off")
	}
	if err := b.Reserve(context.Background(), 1<<40); err != nil || !b.TryReserve(1<<40) || b.Full() {
		t.Fatal("off budget refused a reservation")
	}
	b.Release(1 << 40)
	if b.Used() != 0 || b.Limit() != 0 || b.Waited() != 0 {
		t.Fatal("off budget counts")
	}
}

func TestReserveWaitsForRelease(t *testing.T) {
	b := New(100)
	if !b.TryReserve(80) {
		t.Fatal("80 of 100 refused")
	}
	if b.TryReserve(30) {
		t.Fatal("80+30 of 100 granted")
	}
	got := make(chan error, 1)
	go func() { got <- b.Reserve(context.Background(), 30) }()
	// The waiter is queued once Full says so (the budget is not spent: 80 < 100).
	if !poll.Until(10*time.Second, b.Full) {
		t.Fatal("Reserve never queued")
	}
	if b.TryReserve(10) {
		t.Fatal("TryReserve overtook a waiter")
	}
	b.Release(80)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if b.Used() != 30 {
		t.Fatalf("used %d, want 30", b.Used())
	}
	if b.Waits() != 1 || b.Waited() <= 0 {
		t.Fatalf("waits %d waited %v", b.Waits(), b.Waited())
	}
}

func TestReserveContextAndTooLarge(t *testing.T) {
	b := New(100)
	if err := b.Reserve(context.Background(), 101); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("101 of 100: %v, want ErrTooLarge", err)
	}
	b.TryReserve(100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Reserve(ctx, 50) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Reserve: %v", err)
	}
	b.Release(100)
	if b.Used() != 0 || b.Full() {
		t.Fatalf("after cancel and release: used %d full %v", b.Used(), b.Full())
	}
}

func TestConcurrentNeverPassesLimit(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				n := int64(1 + (g*37+i*13)%300)
				if err := b.Reserve(context.Background(), n); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				peak = max(peak, b.Used())
				mu.Unlock()
				b.Release(n)
			}
		}()
	}
	wg.Wait()
	if peak > 1000 || b.Used() != 0 {
		t.Fatalf("peak %d (limit 1000), used at the end %d", peak, b.Used())
	}
}

func BenchmarkOff(b *testing.B) {
	var bud *Budget
	for i := 0; i < b.N; i++ {
		_ = bud.Reserve(context.Background(), 4096)
		bud.Release(4096)
	}
}
