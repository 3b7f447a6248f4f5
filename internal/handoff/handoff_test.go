package handoff

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestReloadKeepsThePortOpen: during a Hold, a Released listener stays open (a client
// connecting meanwhile is queued, not refused) and the next Take of its address gets it,
// accepting the queued connection. Outside a Hold, Release closes.
func TestReloadKeepsThePortOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	release := Hold()
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	if !StopAccepting(ln) {
		t.Fatal("a TCP listener cannot stop accepting")
	}
	var ne net.Error
	if err := <-accepted; !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Accept after StopAccepting: %v, want a timeout", err)
	}
	Release(addr, []net.Listener{ln})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("a client connecting between two pipelines was refused: %v", err)
	}
	defer c.Close()
	lns := Take(addr)
	if len(lns) != 1 {
		t.Fatalf("Take: %d listeners", len(lns))
	}
	lns[0].(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	sc, err := lns[0].Accept()
	if err != nil {
		t.Fatalf("the successor did not get the queued connection: %v", err)
	}
	sc.Close()
	release()

	// Not taken during a hold: closed when the hold ends. Outside a hold: closed at once.
	release = Hold()
	Release(addr, lns)
	release()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("a listener nobody took is still open after the reload")
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is not free after the reload: %v", err)
	}
	Release(addr, []net.Listener{ln2})
	if l3, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("Release outside a reload kept the port: %v", err)
	} else {
		l3.Close()
	}
}
