// Package http receives records over HTTP, like Fluent Bit's http input: clients POST JSON
// (an object, an array of objects, or NDJSON) or a form to /<tag>, and every record is in
// the buffer before the client gets its 2xx.
//
//	[INPUT]
//	    Name  http
//	    Port  9880
//
//	curl -H 'Content-Type: application/json' -d '{"msg":"hi"}' http://127.0.0.1:9880/app.log
//
// Keys:
//
//   - listen: the address to listen on (default 0.0.0.0; "::" for IPv6).
//   - port: the TCP port (default 9880).
//   - tag_key: a record key whose string value, when present, is the record's tag.
//   - buffer_max_size: the largest request body, after gzip decoding (default 4M). A larger
//     body is refused with 413.
//   - buffer_chunk_size: the body buffer a request starts with on net/http (default 512K,
//     at most 64K is taken up front); it grows up to buffer_max_size. embedhttp sizes its
//     per-connection buffers itself.
//   - successful_response_code: 200, 201 (default) or 204.
//   - success_header: "Name value", a header added to every successful response; repeat
//     the key for more.
//   - tls on|off, tls.crt_file, tls.key_file: serve HTTPS with this certificate and key.
//     tls.ca_file or tls.ca_path with tls.verify on (the default): clients must present a
//     certificate signed by one of those CAs (see package internal/tlsconf).
//   - add_remote_addr on|off: add a REMOTE_ADDR key to every record, the first address of
//     the X-Forwarded-For header, or the client's address when there is none (default off).
//   - enable_health_endpoint on|off (default off): GET /health answers 200 with
//     {"status":"ok","timestamp":...}, as Fluent Bit's does.
//   - workers (http_server.workers): accept loops of the embedhttp server (default 0: one
//     per CPU; Fluent Bit's default is 1). max_connections (http_server.max_connections):
//     open connections at most, more get 503 (0, Fluent Bit's default, means embedhttp's
//     default of 4096). http_server.idle_timeout: keep-alive wait (default embedhttp's 60s;
//     Fluent Bit's is 10s).
//     buffer_max_size, buffer_chunk_size and http2 may be written with the http_server.
//     prefix too. Under net/http (server key) workers and max_connections have no effect.
//   - tls.debug, tls.vhost, http2: accepted so Fluent Bit configs load; no effect yet.
//   - server: which HTTP server serves the input: "embedhttp" (default, this project's
//     own) or "net/http" (Go's). A benchmarking knob; Fluent Bit has no such key.
//
// A request: POST /<tag> (the path is the tag: characters other than letters, digits, '_'
// and '.' become '_'; "/" means the input's tag; tag_key overrides both per record).
// Content-Type application/json (or application/x-ndjson, or any +json type) is read as
// JSON, application/x-www-form-urlencoded as one record of string fields; a missing
// Content-Type is read as JSON. Content-Encoding: gzip bodies are decoded. JSON nested
// deeper than 32 levels is refused. Records are timestamped when they arrive. JSON goes
// straight into msgpack entries without building maps: a small-record request allocates
// nothing on embedhttp.
//
// Answers: the configured success code once every record of the request is in the buffer;
// 400 with a message naming the fault for a body that does not parse (and then no record
// of that request is kept); 413 for a body over buffer_max_size; 405 for a method other
// than POST; 503 with Retry-After while the input is paused by backpressure (mem_buf_limit,
// or the process's memory budget, service memory_limit, which bodies and inflated gzip
// bodies are reserved from as they grow) or the agent is stopping: the client keeps the records and retries, nothing accepted is
// ever dropped.
//
// Differences from Fluent Bit: a missing Content-Type is read as JSON rather than refused;
// other methods get 405 (Fluent Bit: 400); under backpressure Fluent Bit accepts and may
// drop, here the client is told to retry; the nesting limit.
package http

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/embedhttp"
	"github.com/fluentbit-go/fluentbit-go/internal/membudget"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the http input.
type Input struct {
	Listen          string      `conf:"listen"`
	Port            int         `conf:"port"`
	TagKey          string      `conf:"tag_key"`
	BufferMaxSize   config.Size `conf:"buffer_max_size,http_server.buffer_max_size"`
	BufferChunkSize config.Size `conf:"buffer_chunk_size,http_server.buffer_chunk_size"`
	SuccessCode     int         `conf:"successful_response_code"`
	SuccessHeaders  []string    `conf:"success_header"`

	tlsconf.ServerSettings // tls, tls.verify, tls.debug, tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost

	HTTP2         bool   `conf:"http2,http_server.http2"`
	AddRemoteAddr bool   `conf:"add_remote_addr"`
	Server        string `conf:"server"`

	// Fluent Bit's HTTP listener keys (also with the http_server. prefix).
	EnableHealth   bool          `conf:"enable_health_endpoint"`
	Workers        int           `conf:"workers,http_server.workers"`
	MaxConnections int           `conf:"max_connections,http_server.max_connections"`
	IdleTimeout    time.Duration `conf:"http_server.idle_timeout"`

	log       *slog.Logger
	budget    *membudget.Budget // the process's memory budget (nil: off)
	tlsConfig *tls.Config
	headers   [][2]string // parsed success_header

	mu   sync.Mutex
	ln   net.Listener      // net/http: opened by Init, served by Run
	srv  *embedhttp.Server // embedhttp: started by Init, stopped when Run ends
	addr string            // where it listens

	paths     sync.Map // embedhttp: path bytes seen -> string
	pathCount atomic.Int64

	emit    atomic.Pointer[emitterBox] // set while Run runs
	started chan struct{}              // tests: closed once Run serves
	ready   chan struct{}              // embedhttp: closed once Run publishes emit; nil after Run
}

type emitterBox struct{ pipeline.Emitter }

// Server names for the server key.
const (
	ServerEmbed   = "embedhttp"
	ServerNetHTTP = "net/http"
)

// New returns an http input with Fluent Bit's defaults.
func New() *Input {
	return &Input{
		Listen:          "0.0.0.0",
		Port:            9880,
		BufferMaxSize:   4 << 20,
		BufferChunkSize: 512 << 10,
		SuccessCode:     201,
		ServerSettings:  tlsconf.DefaultServer(),
		HTTP2:           true,
		Server:          defaultServer,
	}
}

func init() { pipeline.RegisterInput("http", func() pipeline.Input { return New() }) }

// Validate checks the keys without side effects.
func (in *Input) Validate() error {
	if in.Port < 0 || in.Port > 65535 {
		return config.KeyErrorf("port", "bad port %d: want 0 to 65535", in.Port)
	}
	switch in.SuccessCode {
	case 200, 201, 204:
	default:
		return config.KeyErrorf("successful_response_code", "%d is not supported: want 200, 201 or 204", in.SuccessCode)
	}
	if in.BufferMaxSize <= 0 {
		return config.KeyErrorf("buffer_max_size", "must be more than 0")
	}
	if in.BufferChunkSize <= 0 {
		return config.KeyErrorf("buffer_chunk_size", "must be more than 0")
	}
	if in.BufferChunkSize > in.BufferMaxSize {
		in.BufferChunkSize = in.BufferMaxSize
	}
	in.headers = in.headers[:0]
	for _, h := range in.SuccessHeaders {
		name, value, _ := strings.Cut(strings.TrimSpace(h), " ")
		if name == "" || strings.ContainsAny(name, ":\r\n\t") || strings.ContainsAny(value, "\r\n") {
			return config.KeyErrorf("success_header", "bad header %q: want \"Name value\"", h)
		}
		in.headers = append(in.headers, [2]string{name, strings.TrimSpace(value)})
	}
	if err := in.ServerSettings.Validate(); err != nil {
		return err
	}
	if in.Workers < 0 || in.Workers > 64 {
		return config.KeyErrorf("workers", "%d: want 0 (one per CPU) to 64", in.Workers)
	}
	if in.MaxConnections < 0 {
		return config.KeyErrorf("max_connections", "%d: want 0 (the default) or more", in.MaxConnections)
	}
	if in.IdleTimeout < 0 {
		return config.KeyErrorf("http_server.idle_timeout", "%v: want 0 or more", in.IdleTimeout)
	}
	switch strings.ToLower(in.Server) {
	case "", ServerEmbed:
		in.Server = ServerEmbed
	case ServerNetHTTP, "nethttp":
		in.Server = ServerNetHTTP
	default:
		return config.KeyErrorf("server", "unknown server %q: want %s or %s", in.Server, ServerEmbed, ServerNetHTTP)
	}
	return nil
}

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
	tc, err := in.ServerSettings.Config()
	if err != nil {
		return err
	}
	in.tlsConfig = tc
	return in.open(ctx)
}

// open starts listening with the configured server.
func (in *Input) open(ctx context.Context) error {
	if in.Server == ServerNetHTTP {
		return in.listen(ctx)
	}
	in.mu.Lock()
	if in.ready == nil {
		in.ready = make(chan struct{})
	}
	in.mu.Unlock()
	if err := in.startEmbed(ctx); err != nil {
		return fmt.Errorf("http: listen %s: %w", in.Addr(), err)
	}
	return nil
}

func (in *Input) listen(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ln != nil {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", in.Addr())
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", in.Addr(), err)
	}
	in.ln = ln
	in.addr = ln.Addr().String()
	return nil
}

// Addr is the configured listen address, host:port.
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

// Run serves requests until ctx is done.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if err := in.open(ctx); err != nil { // restarted after a failure: listen again
		return err
	}
	in.emit.Store(&emitterBox{emit})
	in.mu.Lock()
	if in.ready != nil {
		close(in.ready)
		in.ready = nil // from now on no emitter means stopping: 503 at once
	}
	in.mu.Unlock()
	defer in.emit.Store(nil)
	in.log.Info("listening", "addr", in.ListenAddr(), "server", in.Server)
	var ln net.Listener
	if in.Server == ServerNetHTTP {
		ln = in.takeListener()
		if in.tlsConfig != nil {
			ln = tls.NewListener(ln, in.tlsConfig)
		}
	}
	if in.started != nil {
		close(in.started)
		in.started = nil
	}
	if in.Server == ServerNetHTTP {
		return in.serveNetHTTP(ctx, ln)
	}
	return in.serveEmbed(ctx)
}

// maxStartWait is how long a request that arrives between Init and Run (the agent is
// starting) waits for the input to run before it is answered 503.
const maxStartWait = 5 * time.Second

// emitter returns the engine's emitter, waiting for Run to start when the server
// already takes requests (embedhttp starts in Init); nil when the input is not running.
func (in *Input) emitter(ctx context.Context) pipeline.Emitter {
	if box := in.emit.Load(); box != nil {
		return box.Emitter
	}
	in.mu.Lock()
	ready := in.ready
	in.mu.Unlock()
	if ready == nil {
		return nil
	}
	t := time.NewTimer(maxStartWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-ctx.Done():
	}
	if box := in.emit.Load(); box != nil {
		return box.Emitter
	}
	return nil
}

// Close stops listening if Run did not (it never ran, or failed).
func (in *Input) Close(context.Context) error {
	err := in.stopEmbed()
	if ln := in.takeListener(); ln != nil {
		return ln.Close()
	}
	return err
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
)
