package handoff

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Serve accepts connections on ln until ctx is done, running serve for each in a
// goroutine of its own. Then it closes every connection and waits for their goroutines.
// With handOff (a TCP listener a reload may pass on) shutdown wakes Accept with
// StopAccepting and leaves the socket open: keep reports that the caller is to Release
// it once its own bookkeeping is done; otherwise ln is closed. err is an Accept failure
// other than the shutdown.
func Serve(ctx context.Context, ln net.Listener, handOff bool, serve func(ctx context.Context, c net.Conn)) (keep bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() { // owns shutdown: wakes Accept and every Read
		defer wg.Done()
		<-ctx.Done()
		if !handOff || !StopAccepting(ln) {
			handOff = false
			ln.Close()
		}
		connsMu.Lock()
		for c := range conns {
			c.Close()
		}
		connsMu.Unlock()
	}()
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					continue
				}
				err = aerr
			}
			break
		}
		connsMu.Lock()
		if ctx.Err() != nil {
			connsMu.Unlock()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		connsMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				connsMu.Lock()
				delete(conns, c)
				connsMu.Unlock()
				c.Close()
			}()
			serve(ctx, c)
		}()
	}
	cancel()
	wg.Wait() // the shutdown goroutine has set handOff by now
	return handOff, err
}
