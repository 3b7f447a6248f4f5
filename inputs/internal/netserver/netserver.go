// Package netserver is the listening side the line- and frame-oriented network inputs
// (tcp, udp, syslog) share: a TCP listener (optionally TLS), a UDP socket, a Unix stream
// or datagram socket; per stream connection a bounded buffer split into messages by a
// bufio.SplitFunc (newline or any separator, RFC 6587 octet counting, JSON values); per
// datagram one message. It stops reading while the engine pauses the input (backpressure:
// a stream client is held back by TCP; datagrams wait in the kernel's receive buffer,
// which drops them when full, as any UDP receiver does), and on shutdown closes the
// socket and every connection and waits for their goroutines.
//
// It knows nothing of records: a Handler turns each message into records. A TCP listener
// is handed to the next pipeline on a reload (package internal/handoff); a UDP port this
// process already holds is bound again with SO_REUSEPORT, so that the next pipeline can
// bind it while this one lets go (another process on the port is still an error).
package netserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/handoff"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Network names the kind of socket.
type Network string

// The networks a Server listens on.
const (
	TCP      Network = "tcp"      // stream, host:port
	UDP      Network = "udp"      // datagrams, host:port
	Unix     Network = "unix"     // stream over a Unix socket file
	Unixgram Network = "unixgram" // datagrams over a Unix socket file
)

// Stream reports whether n carries connections (as opposed to datagrams).
func (n Network) Stream() bool { return n == TCP || n == Unix }

// Config says where and how to listen.
type Config struct {
	Network Network
	// Address is host:port for TCP and UDP, the socket file's path for Unix sockets.
	Address string
	// UnixPerm, when not 0, is set on the socket file.
	UnixPerm os.FileMode
	// TLS, when set, serves TCP connections over TLS.
	TLS *tls.Config
	// ChunkSize is a connection buffer's first size and MaxSize its bound: a message that
	// does not fit closes the connection (logged). For datagram sockets MaxSize is the
	// largest datagram read whole (a longer one is cut, logged).
	ChunkSize, MaxSize int
	// ReceiveBuffer, when not 0, sets the socket's SO_RCVBUF (datagram sockets).
	ReceiveBuffer int
	// Split cuts a stream connection's bytes into messages; nil splits at '\n'.
	Split bufio.SplitFunc
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Message is one message received: a frame of a stream connection or a datagram.
type Message struct {
	// Data is valid until the handler returns.
	Data []byte
	// Remote is the peer as "tcp://127.0.0.1:34567", "udp://…", or "unix://path" for a
	// Unix socket peer ("unix://unavailable" without a name, as Fluent Bit writes it).
	Remote string
	// Datagram is true for a message that came as a datagram.
	Datagram bool
}

// Handler receives each message. An error stops the connection (stream) or the whole
// server (datagrams); pipeline.ErrStopped ends quietly.
type Handler func(m Message) error

// Server is one listening socket and its connections.
type Server struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	ln   net.Listener
	pc   net.PacketConn
	addr string
}

// pausePoll is how often a paused reader looks whether the input may go on.
const pausePoll = 20 * time.Millisecond

// handshakeTimeout bounds a TLS negotiation.
const handshakeTimeout = 30 * time.Second

// Listen opens the socket, so a port in use is an error at start.
func Listen(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 10
	}
	if cfg.ChunkSize <= 0 || cfg.ChunkSize > cfg.MaxSize {
		cfg.ChunkSize = min(cfg.MaxSize, 32<<10)
	}
	if cfg.Split == nil {
		cfg.Split = SplitSeparator([]byte("\n"))
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	switch cfg.Network {
	case TCP:
		if lns := handoff.Take(cfg.Address); len(lns) == 1 {
			s.ln = lns[0]
		} else {
			handoff.Release("", lns)
			ln, err := lc.Listen(ctx, "tcp", cfg.Address)
			if err != nil {
				return nil, fmt.Errorf("listen tcp %s: %w", cfg.Address, err)
			}
			s.ln = ln
		}
		s.addr = s.ln.Addr().String()
	case UDP:
		pc, err := listenUDP(ctx, cfg.Address)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", cfg.Address, err)
		}
		s.pc, s.addr = pc, pc.LocalAddr().String()
	case Unix, Unixgram:
		removeStaleSocket(cfg.Address)
		var err error
		if cfg.Network == Unix {
			s.ln, err = lc.Listen(ctx, "unix", cfg.Address)
		} else {
			s.pc, err = lc.ListenPacket(ctx, "unixgram", cfg.Address)
		}
		if err != nil {
			return nil, fmt.Errorf("listen %s %s: %w", cfg.Network, cfg.Address, err)
		}
		s.addr = cfg.Address
		if cfg.UnixPerm != 0 {
			if err := os.Chmod(cfg.Address, cfg.UnixPerm); err != nil {
				s.closeSocket()
				return nil, fmt.Errorf("unix_perm: %w", err)
			}
		}
	default:
		return nil, fmt.Errorf("unknown network %q", cfg.Network)
	}
	if s.pc != nil && cfg.ReceiveBuffer > 0 {
		if rb, ok := s.pc.(interface{ SetReadBuffer(int) error }); ok {
			if err := rb.SetReadBuffer(cfg.ReceiveBuffer); err != nil {
				s.closeSocket()
				return nil, fmt.Errorf("receive_buffer_size: %w", err)
			}
		}
	}
	return s, nil
}

// udpOpen counts this process's UDP sockets by configured address. A reload starts the
// new pipeline's input before the old one lets go of its socket: both are bound with
// SO_REUSEPORT, but only when this process already holds the address, so that another
// process on the port is still an error rather than a silent sharing of datagrams.
var (
	udpMu   sync.Mutex
	udpOpen = map[string]int{}
)

func listenUDP(ctx context.Context, addr string) (net.PacketConn, error) {
	udpMu.Lock()
	defer udpMu.Unlock()
	var lc net.ListenConfig
	_, port, _ := net.SplitHostPort(addr)
	if udpOpen[addr] == 0 && port != "0" {
		// Nobody here holds it: a plain bind says whether anyone else does.
		probe, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, err
		}
		probe.Close()
	}
	lc.Control = reusePort
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	if port == "0" { // the kernel's choice: known by the port it got
		addr = pc.LocalAddr().String()
	}
	udpOpen[addr]++
	return &trackedPacketConn{PacketConn: pc, addr: addr}, nil
}

// trackedPacketConn takes its address out of udpOpen when closed.
type trackedPacketConn struct {
	net.PacketConn
	addr string
	once sync.Once
}

func (c *trackedPacketConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() {
		udpMu.Lock()
		if udpOpen[c.addr]--; udpOpen[c.addr] <= 0 {
			delete(udpOpen, c.addr)
		}
		udpMu.Unlock()
	})
	return err
}

// SetReadBuffer sets SO_RCVBUF (receive_buffer_size).
func (c *trackedPacketConn) SetReadBuffer(n int) error {
	if rb, ok := c.PacketConn.(interface{ SetReadBuffer(int) error }); ok {
		return rb.SetReadBuffer(n)
	}
	return nil
}

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// removeStaleSocket removes a socket file left by a previous run (not any other file).
func removeStaleSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
}

// Addr is where the server listens: host:port with the real port, or the socket path.
func (s *Server) Addr() string { return s.addr }

// Close closes the socket if Serve never ran (Serve closes it itself).
func (s *Server) Close() error {
	s.closeSocket()
	return nil
}

func (s *Server) closeSocket() {
	s.mu.Lock()
	ln, pc := s.ln, s.pc
	s.ln, s.pc = nil, nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if pc != nil {
		pc.Close()
	}
	if s.cfg.Network == Unix || s.cfg.Network == Unixgram {
		removeStaleSocket(s.cfg.Address)
	}
}

// Serve receives messages and hands them to h until ctx is done, then closes the socket
// and every connection and returns once their goroutines have ended. paused, when not
// nil, is asked before each read: while it is true nothing is read.
func (s *Server) Serve(ctx context.Context, paused func() bool, h Handler) error {
	s.mu.Lock()
	ln, pc := s.ln, s.pc
	s.mu.Unlock()
	if ln == nil && pc == nil {
		return errors.New("netserver: serve after close")
	}
	if paused == nil {
		paused = func() bool { return false }
	}
	if pc != nil {
		return s.servePackets(ctx, pc, paused, h)
	}
	return s.serveStream(ctx, ln, paused, h)
}

func (s *Server) serveStream(ctx context.Context, ln net.Listener, paused func() bool, h Handler) error {
	handOff, err := handoff.Serve(ctx, ln, s.cfg.Network == TCP, func(ctx context.Context, c net.Conn) {
		s.serveConn(ctx, c, paused, h)
	})
	if err != nil {
		err = fmt.Errorf("accept: %w", err)
	}
	s.mu.Lock()
	s.ln = nil
	s.mu.Unlock()
	if handOff {
		handoff.Release(s.cfg.Address, []net.Listener{ln})
	} else {
		ln.Close()
	}
	if s.cfg.Network == Unix {
		removeStaleSocket(s.cfg.Address)
	}
	return err
}

// remote names the peer of c as a URL-like string.
func remote(network Network, a net.Addr) string {
	switch network {
	case Unix, Unixgram:
		name := ""
		if a != nil {
			name = a.String()
		}
		if name == "@" || name == "" {
			name = "unavailable" // what Fluent Bit 5.1.1 writes for an unnamed peer (logger's)
		}
		return "unix://" + name
	}
	if a == nil {
		return string(network) + "://"
	}
	return string(network) + "://" + a.String()
}

// serveConn reads one stream connection until it ends, fails or ctx is done.
func (s *Server) serveConn(ctx context.Context, c net.Conn, paused func() bool, h Handler) {
	peer := remote(s.cfg.Network, c.RemoteAddr())
	log := s.log.With("remote", peer)
	if s.cfg.TLS != nil {
		tc := tls.Server(c, s.cfg.TLS)
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("closing connection: TLS handshake failed", "err", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		c = tc
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, s.cfg.ChunkSize), s.cfg.MaxSize)
	sc.Split(s.cfg.Split)
	for {
		if !waitResumed(ctx, paused) {
			return
		}
		if !sc.Scan() {
			err := sc.Err()
			switch {
			case err == nil, ctx.Err() != nil, errors.Is(err, net.ErrClosed):
				log.Debug("connection closed")
			case errors.Is(err, bufio.ErrTooLong):
				log.Warn("closing connection: message larger than the buffer's maximum", "max", s.cfg.MaxSize)
			default:
				log.Warn("closing connection", "err", err)
			}
			return
		}
		if err := h(Message{Data: sc.Bytes(), Remote: peer}); err != nil {
			if !errors.Is(err, pipeline.ErrStopped) {
				log.Error("closing connection: records not buffered", "err", err)
			}
			return
		}
	}
}

func (s *Server) servePackets(ctx context.Context, pc net.PacketConn, paused func() bool, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		s.closeSocket()
	}()
	defer func() { cancel(); <-done }()
	// One byte more than MaxSize tells a datagram that was cut from one that fit.
	buf := make([]byte, s.cfg.MaxSize+1)
	for {
		if !waitResumed(ctx, paused) {
			return nil
		}
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read: %w", err)
		}
		peer := remote(s.cfg.Network, addr)
		if n > s.cfg.MaxSize {
			s.log.Warn("datagram larger than the buffer: cut", "remote", peer, "max", s.cfg.MaxSize)
			n = s.cfg.MaxSize
		}
		if err := h(Message{Data: buf[:n], Remote: peer, Datagram: true}); err != nil {
			if errors.Is(err, pipeline.ErrStopped) {
				return nil
			}
			return err
		}
	}
}

// waitResumed returns once paused is false (true) or ctx is done (false).
func waitResumed(ctx context.Context, paused func() bool) bool {
	if !paused() {
		return ctx.Err() == nil
	}
	t := time.NewTicker(pausePoll)
	defer t.Stop()
	for paused() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
