// Package handoff passes listening sockets from a pipeline being replaced to its successor
// in the same process, so that a configuration reload never closes a port: connections
// that arrive meanwhile wait in the socket's accept queue (and are served by the new
// pipeline) instead of being refused.
//
// A reload Holds the handoff while it swaps pipelines. An input stopping meanwhile
// Releases its listeners (parked instead of closed), the same input of the new pipeline
// Takes them by address; when the reload lets go, listeners nobody took (an input the new
// configuration dropped) are closed. Outside a reload Release closes at once, so stopping
// an agent frees its ports as before. It does not pass connections already accepted: an
// input finishes or closes those itself.
package handoff

import (
	"net"
	"sync"
	"time"
)

var (
	mu     sync.Mutex
	holds  int
	parked = map[string][]net.Listener{}
)

// Hold keeps the listeners Released from now on parked until release is called (at the
// end of a reload); then those no one has taken are closed. Holds nest.
func Hold() (release func()) {
	mu.Lock()
	holds++
	mu.Unlock()
	return sync.OnceFunc(func() {
		mu.Lock()
		holds--
		var left [][]net.Listener
		if holds == 0 {
			for addr, lns := range parked {
				left = append(left, lns)
				delete(parked, addr)
			}
		}
		mu.Unlock()
		for _, lns := range left {
			closeAll(lns)
		}
	})
}

// Release gives up lns, listening on addr (as configured: "0.0.0.0:9880"): parked for the
// next Take of addr during a reload, closed otherwise. An address with port 0 is never
// parked: no successor could ask for the same port. The caller must have stopped
// accepting on lns.
func Release(addr string, lns []net.Listener) {
	if len(lns) == 0 {
		return
	}
	mu.Lock()
	if holds > 0 && !anyPort(addr) {
		prev := parked[addr]
		parked[addr] = lns
		mu.Unlock()
		closeAll(prev)
		return
	}
	mu.Unlock()
	closeAll(lns)
}

// Take returns the listeners parked under addr, now the caller's, or nil. Their accept
// deadline is cleared (Release's caller may have set one to stop its accept loop).
func Take(addr string) []net.Listener {
	mu.Lock()
	lns := parked[addr]
	delete(parked, addr)
	mu.Unlock()
	for _, ln := range lns {
		if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
			d.SetDeadline(time.Time{})
		}
	}
	return lns
}

// StopAccepting wakes a goroutine blocked in ln.Accept (it returns a timeout error)
// without closing the socket, so that it can be Released. It reports false for a
// listener that cannot do that; the caller closes it instead.
func StopAccepting(ln net.Listener) bool {
	d, ok := ln.(interface{ SetDeadline(time.Time) error })
	return ok && d.SetDeadline(time.Unix(1, 0)) == nil
}

func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err != nil || port == "0" || port == ""
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
