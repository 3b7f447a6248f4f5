package embedhttp

import (
	"context"
	"net"
)

// listen opens n listeners on addr sharing the port through SO_REUSEPORT, so the
// kernel spreads connections over the accept loops; where that is unavailable (or
// n == 1) it opens one. With port 0 the first listener picks the port and the
// others join it.
func listen(ctx context.Context, addr string, n int, reuse bool) ([]net.Listener, error) {
	if n <= 1 || !reuse || !reusePortSupported {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return []net.Listener{ln}, nil
	}
	// SO_REUSEPORT would let us join a port another process (another agent, an old
	// instance) already listens on with it, silently splitting its traffic. Probe
	// with a plain listener first, so a port in use is an error as without workers.
	probe, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	bound := probe.Addr().String() // the real port when addr had port 0
	probe.Close()
	lc := &net.ListenConfig{Control: reusePortControl}
	first, err := lc.Listen(ctx, "tcp", bound)
	if err != nil {
		// The kernel refused SO_REUSEPORT: fall back to one accept loop.
		ln, err2 := (&net.ListenConfig{}).Listen(ctx, "tcp", bound)
		if err2 != nil {
			return nil, err2
		}
		return []net.Listener{ln}, nil
	}
	lns := []net.Listener{first}
	for i := 1; i < n; i++ {
		ln, err := lc.Listen(ctx, "tcp", bound)
		if err != nil {
			break // keep what we have; one listener is enough to serve
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
