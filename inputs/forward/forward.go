// Package forward receives records over the Fluentd forward protocol, like Fluent Bit's
// forward input: from Fluent Bit and Fluentd forward outputs, fluent-logger libraries and
// Docker's fluentd logging driver, over TCP, TLS or a Unix socket.
//
//	[INPUT]
//	    Name        forward
//	    Listen      0.0.0.0
//	    Port        24224
//	    Shared_Key  secret
//
// Keys:
//
//   - listen (default 0.0.0.0), port (default 24224; 0 picks a free port).
//   - unix_path: listen on this Unix socket instead of TCP; unix_perm: its permissions,
//     octal (e.g. 0660). A stale socket file left at unix_path is replaced.
//   - buffer_chunk_size (default 1024000): the most the connection buffer grows by at a
//     time (it starts at 64 KiB and doubles); buffer_max_size (default 6144000): the largest message accepted, as it comes
//     on the wire. A larger message, or one that declares a larger length, closes the
//     connection (logged) before it is read.
//   - tag_prefix: prepended to every incoming tag. Otherwise the common key tag, when
//     set, replaces the incoming tags (as in Fluent Bit, tag_prefix wins).
//   - shared_key, empty_shared_key on|off, self_hostname (default localhost),
//     security.users "name password" (repeatable): the handshake (HELO, PING, PONG).
//     When shared_key is set or empty_shared_key is on, every connection must pass it.
//   - tls on|off, tls.crt_file, tls.key_file: serve over TLS. With tls.ca_file or
//     tls.ca_path and tls.verify on (the default), clients must present a certificate
//     signed by one of those CAs (see package internal/tlsconf). tls.debug and tls.vhost
//     are accepted so Fluent Bit configs load.
//
// All four carrier modes are accepted, with Fluent Bit's v2 entries [[time, metadata],
// record] kept as they came. Entries are put into the buffer as they came on the wire
// (EmitRaw): the engine decodes them only when a filter applies to the tag. Messages are
// handed on in batches of at most 512 KiB.
//
// Guarantees: the ack a client asks for (option chunk) is sent only once every record of
// the message is in the buffer. While the input is paused by mem_buf_limit it stops
// reading from its connections, so clients are held back by TCP: nothing is dropped.
// Malformed or hostile input closes its connection with a log line; an entry that is
// whole msgpack but not a valid entry is left out of its message (logged, counted) and
// the rest is kept.
//
// Memory: a connection's read buffer starts at 64 KiB; growing it for a larger message,
// like the window a gzip payload is inflated through, is reserved from the process's
// memory budget (service memory_limit). A gzip payload is inflated piece by piece into
// the buffer, never whole; a message that cannot fit is refused (logged, not acked, the
// connection closed).
//
// Differences from Fluent Bit: metrics and traces (fluent_signal 1 and 2) and zstd
// payloads are refused; a gzip payload is bounded to 8 × buffer_max_size decompressed.
package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	fwd "github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/internal/handoff"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the forward input.
type Input struct {
	Listen          string            `conf:"listen"`
	Port            int               `conf:"port"`
	UnixPath        string            `conf:"unix_path"`
	UnixPerm        string            `conf:"unix_perm"`
	BufferChunkSize config.Size       `conf:"buffer_chunk_size"`
	BufferMaxSize   config.Size       `conf:"buffer_max_size"`
	TagPrefix       string            `conf:"tag_prefix"`
	SharedKey       string            `conf:"shared_key"`
	EmptySharedKey  bool              `conf:"empty_shared_key"`
	SelfHostname    string            `conf:"self_hostname"`
	budget          *membudget.Budget // the process's memory budget (nil: off)
	Users           []string          `conf:"security.users"`

	tlsconf.ServerSettings // tls, tls.verify, tls.debug, tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost

	log       *slog.Logger
	tagOver   string // the instance's tag when one was configured
	users     map[string]string
	perm      os.FileMode
	tlsConfig *tls.Config

	mu   sync.Mutex
	ln   net.Listener // opened by Init, served by Run
	addr string       // where ln listens, kept once Run has it
}

// BatchBytes bounds one EmitRaw call (see pipeline.Emitter).
const BatchBytes = 512 << 10

// handshakeTimeout bounds the handshake and a TLS negotiation of a new connection.
const handshakeTimeout = 30 * time.Second

// pausePoll is how often a paused connection looks whether the input may go on.
const pausePoll = 20 * time.Millisecond

// New returns a forward input with Fluent Bit's defaults.
func New() *Input {
	return &Input{
		Listen:          "0.0.0.0",
		Port:            24224,
		BufferChunkSize: fwd.DefaultChunkSize,
		BufferMaxSize:   fwd.DefaultMaxSize,
		SelfHostname:    "localhost",
		ServerSettings:  tlsconf.DefaultServer(),
	}
}

func init() { pipeline.RegisterInput("forward", func() pipeline.Input { return New() }) }

// Validate checks the keys without side effects.
func (in *Input) Validate() error {
	if in.Port < 0 || in.Port > 65535 {
		return config.KeyErrorf("port", "bad port %d: want 0 to 65535", in.Port)
	}
	if in.BufferMaxSize <= 0 {
		return config.KeyErrorf("buffer_max_size", "must be more than 0")
	}
	if in.BufferChunkSize <= 0 {
		return config.KeyErrorf("buffer_chunk_size", "must be more than 0")
	}
	if in.BufferChunkSize > in.BufferMaxSize {
		return config.KeyErrorf("buffer_chunk_size", "%d is more than buffer_max_size %d", in.BufferChunkSize, in.BufferMaxSize)
	}
	if in.BufferMaxSize > 1<<30 {
		return config.KeyErrorf("buffer_max_size", "%d: at most 1G", in.BufferMaxSize)
	}
	in.perm = 0
	if in.UnixPerm != "" {
		p, err := strconv.ParseUint(strings.TrimSpace(in.UnixPerm), 8, 32)
		if err != nil || p > 0o777 {
			return config.KeyErrorf("unix_perm", "bad permissions %q: want octal like 0660", in.UnixPerm)
		}
		in.perm = os.FileMode(p)
	}
	in.users = map[string]string{}
	for _, u := range in.Users {
		name, pass, ok := strings.Cut(strings.TrimSpace(u), " ")
		pass = strings.TrimSpace(pass)
		if !ok || name == "" || pass == "" {
			return config.KeyErrorf("security.users", "bad entry %q: want \"name password\"", u)
		}
		in.users[name] = pass
	}
	if len(in.users) > 0 && in.SharedKey == "" && !in.EmptySharedKey {
		return config.KeyErrorf("security.users", "needs shared_key or empty_shared_key on")
	}
	if in.SharedKey != "" && in.EmptySharedKey {
		return config.KeyErrorf("empty_shared_key", "is on while shared_key is set: use one")
	}
	if err := in.ServerSettings.Validate(); err != nil {
		return err
	}
	return nil
}

func (in *Input) secure() bool { return in.SharedKey != "" || in.EmptySharedKey }

// Init loads the certificate and opens the listening socket, so a port in use stops the
// agent at start rather than later.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	if err := in.Validate(); err != nil {
		return err
	}
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.budget = env.Budget
	// The engine's tag defaults to the instance name; one set in the config replaces the
	// tags that come in, as in Fluent Bit.
	if env.Tag != "" && env.Tag != env.Name {
		in.tagOver = env.Tag
	}
	tc, err := in.ServerSettings.Config()
	if err != nil {
		return err
	}
	in.tlsConfig = tc
	return in.listen(ctx)
}

func (in *Input) listen(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ln != nil {
		return nil
	}
	var lc net.ListenConfig
	if in.UnixPath != "" {
		if fi, err := os.Lstat(in.UnixPath); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(in.UnixPath) // a stale socket from a previous run
		}
		ln, err := lc.Listen(ctx, "unix", in.UnixPath)
		if err != nil {
			return fmt.Errorf("forward: listen %s: %w", in.UnixPath, err)
		}
		if in.perm != 0 {
			if err := os.Chmod(in.UnixPath, in.perm); err != nil {
				ln.Close()
				return fmt.Errorf("forward: unix_perm: %w", err)
			}
		}
		in.ln, in.addr = ln, ln.Addr().String()
		return nil
	}
	if lns := handoff.Take(in.Addr()); len(lns) == 1 { // a reload: the old pipeline's socket
		in.ln, in.addr = lns[0], lns[0].Addr().String()
		return nil
	} else if len(lns) > 1 {
		handoff.Release("", lns) // not ours to split: close them
	}
	ln, err := lc.Listen(ctx, "tcp", in.Addr())
	if err != nil {
		return fmt.Errorf("forward: listen %s: %w", in.Addr(), err)
	}
	in.ln, in.addr = ln, ln.Addr().String()
	return nil
}

// Addr is the configured TCP listen address, host:port.
func (in *Input) Addr() string {
	return net.JoinHostPort(in.Listen, strconv.Itoa(in.Port))
}

// ListenAddr is the address the input listens on once Init has run (with the real port
// when port is 0), or "" before.
func (in *Input) ListenAddr() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.addr
}

func (in *Input) takeListener() net.Listener {
	in.mu.Lock()
	defer in.mu.Unlock()
	ln := in.ln
	in.ln = nil
	return ln
}

// Close closes the listener if Run never took it.
func (in *Input) Close(context.Context) error {
	if ln := in.takeListener(); ln != nil {
		return ln.Close()
	}
	return nil
}

// Run accepts connections until ctx is done, then closes them and waits for their
// goroutines.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	if in.log == nil {
		if err := in.Validate(); err != nil {
			return err
		}
		in.log = slog.New(slog.DiscardHandler)
	}
	if err := in.listen(ctx); err != nil { // restarted after a failure: listen again
		return err
	}
	ln := in.takeListener()
	in.log.Info("listening", "addr", ln.Addr().String(), "tls", in.tlsConfig != nil, "secure", in.secure())

	// A TCP listener is handed to the next pipeline when this one stops for a reload
	// (internal/handoff): Accept is woken by a deadline, and the socket stays open.
	handOff, err := handoff.Serve(ctx, ln, in.UnixPath == "", func(ctx context.Context, c net.Conn) {
		in.serve(ctx, c, emit)
	})
	if err != nil {
		err = fmt.Errorf("forward: accept: %w", err)
	}
	if handOff {
		handoff.Release(in.Addr(), []net.Listener{ln})
	}
	if in.UnixPath != "" {
		_ = os.Remove(in.UnixPath)
	}
	return err
}

// serve reads messages from one connection until it ends or fails.
func (in *Input) serve(ctx context.Context, c net.Conn, emit pipeline.Emitter) {
	remote := c.RemoteAddr().String()
	if remote == "" || remote == "@" {
		remote = "unix"
	}
	log := in.log.With("remote", remote)
	if in.tlsConfig != nil {
		tc := tls.Server(c, in.tlsConfig)
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("closing connection: TLS handshake failed", "err", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		c = tc
	}
	// A connection's buffers past the decoder's small base (a large message, the inflate
	// window for a large entry) are reserved from the process's memory budget: while it
	// is spent, the connection waits (and is not read); a message that could never fit
	// is refused.
	dec := fwd.NewDecoder(c, fwd.Limits{
		ChunkSize:  int(in.BufferChunkSize),
		MaxSize:    int(in.BufferMaxSize),
		BatchBytes: BatchBytes,
		Stream:     true,
		Reserve:    func(n, held int) error { return in.reserve(ctx, n, held) },
		Release:    func(n int) { in.budget.Release(int64(n)) },
	})
	defer dec.Close()
	if in.secure() {
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		ping, err := fwd.ServerHandshake(c, dec, fwd.ServerAuth{
			SharedKey: in.SharedKey,
			Hostname:  in.SelfHostname,
			Users:     in.users,
			Keepalive: true,
		})
		if err != nil {
			log.Warn("closing connection: handshake failed", "err", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		log.Debug("handshake passed", "client", ping.Hostname, "user", ping.Username)
	}
	var ack []byte
	for {
		// Backpressure: read nothing more while the input is paused, so the client is
		// held back by TCP rather than its records being dropped.
		if !in.waitResumed(ctx, emit) {
			return
		}
		m, err := dec.Next()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), ctx.Err() != nil:
				log.Debug("connection closed")
			case errors.Is(err, net.ErrClosed):
				log.Debug("connection closed")
			case errors.Is(err, fwd.ErrNoMemory):
				log.Warn("closing connection: message refused: it does not fit the memory budget (memory_limit)", "err", err)
			default:
				log.Warn("closing connection: bad input", "err", err)
			}
			return
		}
		// As Fluent Bit: tag_prefix first, else a configured tag, else the incoming one.
		tag := m.Tag
		if in.TagPrefix != "" {
			tag = in.TagPrefix + m.Tag
		} else if in.tagOver != "" {
			tag = in.tagOver
		}
		var emitErr error
		put := func(entries []byte, n int) error {
			if err := emit.EmitRaw(tag, entries, n); err != nil {
				emitErr = err
				return err
			}
			return nil
		}
		if m.Streaming() {
			// A compressed message is inflated piece by piece straight into the buffer,
			// never whole. Refused part way (a bomb, a damaged payload, an entry past
			// buffer_max_size, no memory), it is not acked: the client sends it again,
			// and the records already buffered are delivered twice (at-least-once).
			if err := m.Inflate(put); err != nil && emitErr == nil {
				log.Warn("closing connection: compressed message refused, not acknowledged", "tag", tag,
					"records_buffered_before", m.Count, "err", err)
				return
			}
		} else {
			for _, b := range m.Batches {
				if put(b.Entries, b.Count) != nil {
					break
				}
			}
		}
		if emitErr != nil {
			// Not in the buffer: no ack, so the client sends them again.
			if !errors.Is(emitErr, pipeline.ErrStopped) {
				log.Error("closing connection: records not buffered", "tag", tag, "err", emitErr)
			}
			return
		}
		if m.Dropped > 0 {
			log.Warn("invalid entries left out of a message", "tag", tag, "dropped", m.Dropped, "kept", m.Count, "err", m.DropErr)
		}
		if m.Options.Chunk != "" {
			ack = fwd.AppendAck(ack[:0], m.Options.Chunk)
			if _, err := c.Write(ack); err != nil {
				log.Warn("closing connection: ack not sent", "err", err)
				return
			}
		}
	}
}

// budgetWait bounds how long a connection waits for memory for its message: two
// connections each holding part of what they need could otherwise wait for each other.
// A message refused is not acked: its client sends it again.
const budgetWait = 10 * time.Second

// reserve reserves n more bytes for a connection's buffers, which hold held already. One
// message may hold at most half the budget, so that it can never wait for room that
// only its own release would make.
func (in *Input) reserve(ctx context.Context, n, held int) error {
	if lim := in.budget.Limit(); lim > 0 && int64(n+held) > lim/2 {
		return fmt.Errorf("%d bytes for one message, more than half the budget (%d): %w", n+held, lim, membudget.ErrTooLarge)
	}
	ctx, cancel := context.WithTimeout(ctx, budgetWait)
	defer cancel()
	return in.budget.Reserve(ctx, int64(n))
}

// waitResumed returns once emit is not paused (true) or ctx is done (false).
func (in *Input) waitResumed(ctx context.Context, emit pipeline.Emitter) bool {
	if !emit.Paused() {
		return ctx.Err() == nil
	}
	t := time.NewTicker(pausePoll)
	defer t.Stop()
	for emit.Paused() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
)
