package embedhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/handoff"
)

// Handler answers one request. It must not keep r, w or any slice they return after
// it returns.
type Handler interface {
	Serve(w *Response, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w *Response, r *Request)

// Serve calls f(w, r).
func (f HandlerFunc) Serve(w *Response, r *Request) { f(w, r) }

// Hooks are the server's stage hooks, after Monkey's plugin stages. Every hook is
// optional. ConnAccepted runs on the accept loop, the others on the connection's
// goroutine, concurrently for different connections: keep them fast and safe for
// concurrent use.
type Hooks struct {
	// ConnAccepted runs after the allow/deny lists passed; false closes the connection
	// at once, without a response.
	ConnAccepted func(remote netip.AddrPort) bool
	// RequestReceived runs once the head is parsed and checked (basic auth included),
	// before the body is read (r.Body() is nil). Returning false answers with w as the
	// hook filled it (set a status!) instead of reading the body and calling the
	// handler; if a body was announced the connection then closes. Use it to refuse
	// early, e.g. 503 with Retry-After under backpressure, 404 for unknown paths.
	RequestReceived func(w *Response, r *Request) bool
	// ResponseDone runs after a response from the handler or RequestReceived was
	// queued (access logging): status, body size and the time since the head was
	// complete. The server's own refusals (400, 408, 413, 431, ...) do not run it; they
	// are counted in Stats().BadRequests.
	ResponseDone func(r *Request, w *Response, elapsed time.Duration)
	// ConnClosed runs when a connection ends, with how many requests it carried.
	ConnClosed func(remote netip.AddrPort, requests int)
}

// BasicAuth turns on HTTP basic authentication for every request.
type BasicAuth struct {
	Realm string            // shown by browsers; "fluentbit-go" when empty
	Users map[string]string // user -> password, compared in constant time
}

// Defaults for Server limits and timeouts when the field is zero.
const (
	DefaultMaxHeaderBytes       = 16 << 10
	DefaultMaxHeaderCount       = 100
	DefaultMaxBodyBytes         = 4 << 20
	DefaultMaxDecompressedBytes = 16 << 20
	DefaultMaxConns             = 4096
	DefaultReadTimeout          = 10 * time.Second
	DefaultIdleTimeout          = 60 * time.Second
	DefaultFirstByteTimeout     = 5 * time.Second
	DefaultWriteTimeout         = 10 * time.Second
)

// Server is an HTTP/1.1 server. Fill the fields, then Start; fields must not change
// after Start. The zero value of a limit means its default.
type Server struct {
	Addr    string  // "host:port"; ":0" or "127.0.0.1:0" picks a port (see Addr())
	Handler Handler // required
	// Workers is how many accept loops (each with its own SO_REUSEPORT listener where
	// the kernel supports it). 0 means GOMAXPROCS.
	Workers int

	MaxHeaderBytes       int   // request line + headers; over it: 431
	MaxHeaderCount       int   // header fields; over it: 431
	MaxBodyBytes         int64 // body as received (after de-chunking); over it: 413
	MaxDecompressedBytes int64 // gzip body once inflated; over it: 413
	MaxRequestsPerConn   int   // the Nth request's response closes the connection; 0: no limit
	MaxConns             int   // open connections; over it new ones get 503 and close
	// MaxBufferBytes bounds the request bytes all connections together hold beyond
	// their first 4 KiB each (bodies, big heads, inflated gzip); a request that would
	// pass it gets 503 with Retry-After and its connection closes. Default:
	// 4 × (MaxBodyBytes + MaxDecompressedBytes).
	MaxBufferBytes int64
	// Memory, when set, is a budget shared with the rest of the process (the agent's
	// memory_limit): every byte booked against MaxBufferBytes is reserved from it too,
	// and a request it has no room for gets 503 with Retry-After, as over MaxBufferBytes.
	Memory MemoryBudget

	ReadTimeout time.Duration // from a request's first byte to its last; slowloris defence
	IdleTimeout time.Duration // keep-alive wait for the next request
	// FirstByteTimeout is how long a new connection may stay silent before its first
	// request begins. Connections that never send a byte hold a MaxConns slot only this
	// long, not IdleTimeout (a client that opens thousands would lock others out).
	FirstByteTimeout time.Duration
	WriteTimeout     time.Duration // per response write

	TLSConfig *tls.Config // nil: plain TCP
	// AllowCIDRs, when not empty, admits only clients inside one of them; DenyCIDRs
	// refuses clients inside any of them (deny wins). "10.0.0.0/8", "::1/128", or a
	// bare address.
	AllowCIDRs []string
	DenyCIDRs  []string
	BasicAuth  *BasicAuth
	Hooks      Hooks
	Logger     *slog.Logger // nil: slog.Default()

	// DisableReusePort forces one listener and one accept loop.
	DisableReusePort bool
	// HandOff passes the listening sockets to the next Server on the same Addr in this
	// process when a reload is under way (internal/handoff): Shutdown parks them instead
	// of closing them and Start takes them, so no connection is refused in between.
	HandOff bool

	allow, deny []netip.Prefix
	lns         []net.Listener
	clock       *clock // the shared clock, held from run until Shutdown
	released    atomic.Bool
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	acceptWG    sync.WaitGroup // the accept loops alone
	freshUntil  atomic.Int64   // unix ns: how long Shutdown waits for a new connection's first request
	shutting    atomic.Bool
	mu          sync.Mutex
	conns       map[*conn]struct{}
	authHeader  []byte // prebuilt 401 response head
	bufBytes    atomic.Int64
	tlsConfig   *tls.Config // TLSConfig with ALPN set to http/1.1
	stats       statCounters
	started     bool
}

type statCounters struct {
	accepted, denied, overLimit, active, requests, badRequests, timeouts, panics atomic.Int64
}

// MemoryBudget is a byte budget shared with the rest of the process.
type MemoryBudget interface {
	TryReserve(n int64) bool
	Release(n int64)
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	ConnsAccepted int64 // connections admitted
	ConnsDenied   int64 // refused by the allow/deny lists or the ConnAccepted hook
	ConnsOverMax  int64 // refused because MaxConns were open
	ConnsActive   int64 // open now
	Requests      int64 // requests handed to the handler
	BadRequests   int64 // requests answered 4xx/5xx by the server itself
	Timeouts      int64 // connections cut by a read timeout
	Panics        int64 // handler panics recovered (the connection was closed)
	BufferBytes   int64 // request bytes held now against MaxBufferBytes
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	return Stats{
		ConnsAccepted: s.stats.accepted.Load(),
		ConnsDenied:   s.stats.denied.Load(),
		ConnsOverMax:  s.stats.overLimit.Load(),
		ConnsActive:   s.stats.active.Load(),
		Requests:      s.stats.requests.Load(),
		BadRequests:   s.stats.badRequests.Load(),
		Timeouts:      s.stats.timeouts.Load(),
		Panics:        s.stats.panics.Load(),
		BufferBytes:   s.bufBytes.Load(),
	}
}

func (s *Server) setDefaults() {
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if s.MaxHeaderCount <= 0 {
		s.MaxHeaderCount = DefaultMaxHeaderCount
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxBodyBytes > math.MaxInt/4 { // 32-bit targets: buffer offsets are ints
		s.MaxBodyBytes = math.MaxInt / 4
	}
	if s.MaxDecompressedBytes > math.MaxInt/4 {
		s.MaxDecompressedBytes = math.MaxInt / 4
	}
	if s.MaxDecompressedBytes <= 0 {
		s.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if s.MaxBufferBytes <= 0 {
		if sum := s.MaxBodyBytes + s.MaxDecompressedBytes; sum < math.MaxInt64/4 {
			s.MaxBufferBytes = 4 * sum
		} else {
			s.MaxBufferBytes = math.MaxInt64
		}
	}
	if s.MaxConns <= 0 {
		s.MaxConns = DefaultMaxConns
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = DefaultReadTimeout
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = DefaultWriteTimeout
	}
	if s.FirstByteTimeout <= 0 {
		s.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if s.Workers <= 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
}

// ParsePrefixes parses CIDRs or bare addresses ("10.0.0.0/8", "::1") as the allow and
// deny lists do.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("embedhttp: %q is neither a CIDR nor an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Start listens on Addr and serves in the background until ctx is done or Shutdown.
// It returns once the listeners are open.
func (s *Server) Start(ctx context.Context) error {
	if s.started {
		return errors.New("embedhttp: server already started")
	}
	if err := s.prepare(); err != nil {
		return err
	}
	addr := s.Addr
	if addr == "" {
		addr = ":0"
	}
	var lns []net.Listener
	if s.HandOff {
		lns = handoff.Take(addr)
	}
	if lns == nil {
		var err error
		if lns, err = listen(ctx, addr, s.Workers, !s.DisableReusePort); err != nil {
			return fmt.Errorf("embedhttp: listen %s: %w", addr, err)
		}
	}
	s.lns = lns
	s.run(ctx)
	for _, ln := range lns {
		s.wg.Add(1)
		s.acceptWG.Add(1)
		go s.acceptLoop(ln)
	}
	// AfterFunc rather than a goroutine parked on Done: nothing waits while the server runs.
	context.AfterFunc(s.ctx, func() {
		if !s.shutting.Load() {
			s.Shutdown(context.Background()) // the caller's ctx ended: stop like Shutdown
		}
	})
	return nil
}

// prepare checks the configuration and fills in defaults.
func (s *Server) prepare() error {
	if s.Handler == nil {
		return errors.New("embedhttp: Server.Handler is nil")
	}
	s.setDefaults()
	if s.TLSConfig != nil {
		// We speak HTTP/1.1 only: never let ALPN pick h2 (a config shared with a
		// net/http server may list it).
		s.tlsConfig = s.TLSConfig.Clone()
		s.tlsConfig.NextProtos = []string{"http/1.1"}
	}
	var err error
	if s.allow, err = ParsePrefixes(s.AllowCIDRs); err != nil {
		return err
	}
	if s.deny, err = ParsePrefixes(s.DenyCIDRs); err != nil {
		return err
	}
	if s.BasicAuth != nil {
		realm := s.BasicAuth.Realm
		if realm == "" {
			realm = "fluentbit-go"
		}
		if !validHeaderValue(realm) || strings.ContainsAny(realm, "\"\\") {
			return errors.New("embedhttp: bad basic auth realm")
		}
		s.authHeader = []byte("HTTP/1.1 401 Unauthorized\r\n" +
			"WWW-Authenticate: Basic realm=\"" + realm + "\", charset=\"UTF-8\"\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n")
	}
	return nil
}

// run starts the clock and sets up what connections need (no listener yet).
func (s *Server) run(ctx context.Context) {
	s.started = true
	s.conns = make(map[*conn]struct{})
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.clock = acquireClock()
}

// ListenAddr returns the address the server listens on, nil before Start. Use it to
// find the port after listening on port 0.
func (s *Server) ListenAddr() net.Addr {
	if len(s.lns) == 0 {
		return nil
	}
	return s.lns[0].Addr()
}

// Listeners reports how many listeners (accept loops) run: Workers with
// SO_REUSEPORT, 1 without.
func (s *Server) Listeners() int { return len(s.lns) }

func (s *Server) closeListeners() {
	if s.HandOff {
		// Stop the accept loops without closing the sockets, then give them up: parked
		// for the next Server on Addr during a reload, closed otherwise.
		stopped := true
		for _, ln := range s.lns {
			stopped = handoff.StopAccepting(ln) && stopped
		}
		if stopped {
			s.acceptWG.Wait()
			addr := s.Addr
			if addr == "" {
				addr = ":0"
			}
			handoff.Release(addr, s.lns)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.lns {
		ln.Close()
	}
}

// shutdownFirstRequest is how long Shutdown waits for the first request of a connection
// accepted just before it (its client is sending it), to answer it rather than reset it.
const shutdownFirstRequest = 250 * time.Millisecond

// Shutdown stops accepting, closes idle connections, lets requests in progress finish
// (their responses close the connection) and returns when every connection is gone.
// When ctx ends first it closes them all and returns ctx's error at once, without
// waiting for handlers that have not returned.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started {
		return nil
	}
	s.freshUntil.Store(time.Now().Add(shutdownFirstRequest).UnixNano())
	s.shutting.Store(true)
	s.closeListeners()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
loop:
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.idle.Load() {
				if c.fresh.Load() {
					c.raw.SetReadDeadline(time.Unix(0, s.freshUntil.Load()))
				} else {
					c.raw.SetReadDeadline(time.Unix(1, 0))
				}
			}
		}
		s.mu.Unlock()
		select {
		case <-done:
			break loop
		case <-ctx.Done():
			// Out of time: close every connection and return. A handler that does
			// not return keeps its goroutine until it does (as with net/http).
			err = ctx.Err()
			s.mu.Lock()
			for c := range s.conns {
				c.raw.Close()
			}
			s.mu.Unlock()
			break loop
		case <-tick.C:
		}
	}
	s.cancel()
	if s.released.CompareAndSwap(false, true) { // Shutdown may run more than once
		releaseClock()
	}
	return err
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	defer s.acceptWG.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() || s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off instead of spinning.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			s.Logger.Warn("embedhttp: accept", "err", err)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		remote := remoteAddrPort(nc)
		if !s.admit(remote) {
			s.stats.denied.Add(1)
			nc.Close()
			continue
		}
		if s.stats.active.Load() >= int64(s.MaxConns) {
			s.stats.overLimit.Add(1)
			s.rejectOverload(nc)
			continue
		}
		s.stats.accepted.Add(1)
		s.stats.active.Add(1)
		s.wg.Add(1)
		go s.serveConn(nc, remote)
	}
}

func (s *Server) admit(remote netip.AddrPort) bool {
	a := remote.Addr()
	for _, p := range s.deny {
		if p.Contains(a) {
			return false
		}
	}
	if len(s.allow) > 0 {
		ok := false
		for _, p := range s.allow {
			if p.Contains(a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if s.Hooks.ConnAccepted != nil {
		ok := false
		s.safeHook(func() { ok = s.Hooks.ConnAccepted(remote) })
		return ok
	}
	return true
}

// safeHook runs a hook outside a connection's own recovery (the accept loop, the
// connection's last rites): a panic is logged and counted, never fatal.
func (s *Server) safeHook(f func()) {
	defer func() {
		if p := recover(); p != nil {
			s.stats.panics.Add(1)
			s.Logger.Error("embedhttp: panic in a hook", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	f()
}

func (s *Server) rejectOverload(nc net.Conn) {
	// Best effort and bounded: never let a full server block its accept loop.
	nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if s.tlsConfig == nil {
		r := errorResponses[503]
		b := make([]byte, 0, 256)
		b = append(b, r.head...)
		b = append(b, "Date: "...)
		b = append(b, s.clock.get()...)
		b = append(b, "\r\n"...)
		b = append(b, r.tail...)
		nc.Write(b)
	}
	nc.Close()
}

func remoteAddrPort(nc net.Conn) netip.AddrPort {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

func (s *Server) track(c *conn, add bool) {
	s.mu.Lock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	s.mu.Unlock()
}
