package mosquittotest

import (
	"net"
	"testing"
	"time"
)

func TestBrokerRestartsOnTheSamePort(t *testing.T) {
	b := Start(t, WithPersistence())
	col := b.Subscribe(t, "sub", "t/#", 1)
	pub := b.Client(t, "pub", true, nil)
	Publish(t, pub, "t/1", 1, false, []byte("before"))

	b.Stop()
	if c, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the broker still accepts connections after Stop")
	}
	b.Start()
	Publish(t, pub, "t/2", 1, false, []byte("after"))
	if !col.Wait(30*time.Second, func(m []Message) bool { return len(m) >= 2 }) {
		t.Fatalf("subscriber got %d messages, want 2 (one before, one after the restart); broker log:\n%s", len(col.Messages()), b.Logs())
	}
}
