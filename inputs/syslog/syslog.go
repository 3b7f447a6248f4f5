// Package syslog receives syslog messages, like Fluent Bit's syslog input: over UDP or
// TCP (optionally TLS), or on a Unix socket (datagram or stream), framed by newlines or by
// RFC 6587 octet counting on streams, each message parsed by a parser (Fluent Bit's
// syslog-rfc5424 for tcp and udp, syslog-rfc3164-local for Unix sockets, built in).
//
//	[INPUT]
//	    Name    syslog
//	    Mode    tcp
//	    Listen  0.0.0.0
//	    Port    5140
//	    Parser  syslog-rfc3164
//
// See docs/syslog.md for the keys, the records and the differences from Fluent Bit.
package syslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/netserver"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the syslog input.
type Input struct {
	Mode              string      `conf:"mode"`
	Listen            string      `conf:"listen"`
	Host              string      `conf:"host"` // accepted so Fluent Bit configs load; no effect
	Port              int         `conf:"port"`
	Path              string      `conf:"path"`
	UnixPerm          string      `conf:"unix_perm"`
	ParserName        string      `conf:"parser"`
	BufferChunkSize   config.Size `conf:"buffer_chunk_size"`
	BufferMaxSize     config.Size `conf:"buffer_max_size"`
	ReceiveBufferSize config.Size `conf:"receive_buffer_size"`
	RawMessageKey     string      `conf:"raw_message_key"`
	SourceAddressKey  string      `conf:"source_address_key"`
	Format            string      `conf:"format"` // stream framing: newline or octet_counting

	tlsconf.ServerSettings // tls, tls.crt_file, tls.key_file, tls.ca_file, tls.verify, ...

	cfg     *config.Config
	network netserver.Network
	perm    os.FileMode
	octet   bool
	parser  *parser.Parser
	log     *slog.Logger
	tag     string
	now     func() time.Time

	slot netserver.Slot // the socket from Init to Run
}

// New returns a syslog input with Fluent Bit's defaults.
func New() *Input {
	return &Input{
		Mode:            "unix_udp",
		Listen:          "0.0.0.0",
		Port:            5140,
		UnixPerm:        "0644",
		BufferChunkSize: 32768,
		ServerSettings:  tlsconf.DefaultServer(),
	}
}

func init() { pipeline.RegisterInput("syslog", func() pipeline.Input { return New() }) }

// SetConfig gives the input the configuration where its parser is looked up.
func (in *Input) SetConfig(cfg *config.Config) { in.cfg = cfg }

// Validate checks the keys and resolves the parser.
func (in *Input) Validate() error {
	switch strings.ToLower(strings.TrimSpace(in.Mode)) {
	case "udp":
		in.network = netserver.UDP
	case "tcp":
		in.network = netserver.TCP
	case "unix_udp", "":
		in.network = netserver.Unixgram
	case "unix_tcp":
		in.network = netserver.Unix
	default:
		return config.KeyErrorf("mode", "unknown mode %q: want udp, tcp, unix_udp or unix_tcp", in.Mode)
	}
	unix := in.network == netserver.Unix || in.network == netserver.Unixgram
	if unix && in.Path == "" {
		return config.KeyErrorf("path", "mode %s needs the socket's path", in.Mode)
	}
	if in.Port < 0 || in.Port > 65535 {
		return config.KeyErrorf("port", "bad port %d: want 0 to 65535", in.Port)
	}
	in.perm = 0
	if unix && in.UnixPerm != "" {
		p, err := strconv.ParseUint(strings.TrimSpace(in.UnixPerm), 8, 32)
		if err != nil || p > 0o777 {
			return config.KeyErrorf("unix_perm", "bad permissions %q: want octal like 0644", in.UnixPerm)
		}
		in.perm = os.FileMode(p)
	}
	if in.BufferChunkSize <= 0 || in.BufferChunkSize > 1<<30 {
		return config.KeyErrorf("buffer_chunk_size", "must be more than 0 and at most 1G")
	}
	if in.BufferMaxSize == 0 {
		in.BufferMaxSize = in.BufferChunkSize
	}
	if in.BufferMaxSize < in.BufferChunkSize || in.BufferMaxSize > 1<<30 {
		return config.KeyErrorf("buffer_max_size", "%d: want at least buffer_chunk_size (%d) and at most 1G", in.BufferMaxSize, in.BufferChunkSize)
	}
	if in.ReceiveBufferSize < 0 || in.ReceiveBufferSize > 1<<30 {
		return config.KeyErrorf("receive_buffer_size", "must be 0 to 1G")
	}
	switch strings.ToLower(strings.TrimSpace(in.Format)) {
	case "", "newline":
		in.octet = false
	case "octet_counting", "octet-counting":
		in.octet = true
	default:
		return config.KeyErrorf("format", "unknown framing %q: want newline or octet_counting", in.Format)
	}
	if in.TLS && in.network != netserver.TCP {
		return config.KeyErrorf("tls", "TLS needs mode tcp")
	}
	name := in.ParserName
	if name == "" {
		name = "syslog-rfc3164-local"
		if in.network == netserver.TCP || in.network == netserver.UDP {
			name = "syslog-rfc5424"
		}
	}
	set := parser.NewSet()
	if in.cfg != nil {
		s, err := parser.Load(in.cfg)
		if err != nil {
			return err
		}
		set = s
	}
	p, ok := set.Lookup(name)
	if !ok {
		return config.KeyErrorf("parser", "no parser named %q is defined (built in: %s; or define it in a [PARSER] section or a parsers_file)", name, strings.Join(parser.BuiltinNames(), ", "))
	}
	in.parser = p
	return in.ServerSettings.Validate()
}

// Addr is the configured address: host:port, or the socket path.
func (in *Input) Addr() string {
	if in.network == netserver.Unix || in.network == netserver.Unixgram {
		return in.Path
	}
	return net.JoinHostPort(in.Listen, strconv.Itoa(in.Port))
}

// Init opens the socket, so a port in use stops the agent at start.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	if err := in.Validate(); err != nil {
		return err
	}
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.tag = env.Tag
	if in.tag == "" {
		in.tag = env.Name
	}
	if in.tag == "" {
		in.tag = "syslog.0"
	}
	return in.open(ctx)
}

func (in *Input) open(ctx context.Context) error {
	if in.slot.Held() {
		return nil
	}
	cfg := netserver.Config{
		Network:       in.network,
		Address:       in.Addr(),
		UnixPerm:      in.perm,
		ChunkSize:     int(in.BufferChunkSize),
		MaxSize:       int(in.BufferMaxSize),
		ReceiveBuffer: int(in.ReceiveBufferSize),
		Split:         netserver.SplitSeparator([]byte("\n")),
		Logger:        in.log,
	}
	if in.octet {
		cfg.Split = netserver.SplitOctetCounting(int(in.BufferMaxSize))
	}
	tc, err := in.ServerSettings.Config()
	if err != nil {
		return err
	}
	cfg.TLS = tc
	return in.slot.Open(ctx, "syslog", cfg)
}

// ListenAddr is where the input listens once Init has run (the real port when port is
// 0, or the socket path), or "".
func (in *Input) ListenAddr() string { return in.slot.ListenAddr() }

// Close closes the socket if Run never took it.
func (in *Input) Close(ctx context.Context) error { return in.slot.Close(ctx) }

// Run receives messages until ctx is done.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	if in.log == nil {
		if err := in.Init(ctx, pipeline.Env{}); err != nil {
			return err
		}
	}
	if err := in.open(ctx); err != nil {
		return err
	}
	srv := in.slot.Take()
	in.log.Info("listening", "mode", in.Mode, "addr", srv.Addr(), "parser", in.parser.Name(), "tls", in.TLS)
	err := srv.Serve(ctx, emit.Paused, func(m netserver.Message) error {
		return in.message(m, emit)
	})
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

// message parses one syslog message and emits its record.
func (in *Input) message(m netserver.Message, emit pipeline.Emitter) error {
	data := m.Data
	if m.Datagram {
		// A datagram is one message; senders may end it with a line end or a NUL.
		data = bytes.TrimRight(data, "\r\n\x00")
	}
	if len(data) == 0 {
		return nil
	}
	ev, err := Parse(in.parser, data)
	if err != nil {
		in.log.Warn("error parsing log message: kept whole under message", "parser", in.parser.Name(), "err", err, "data", string(data[:min(len(data), 120)]))
	}
	if ev.Time.IsZero() {
		if in.now != nil {
			ev.Time = in.now()
		} else {
			ev.Time = time.Now()
		}
	}
	if in.RawMessageKey != "" {
		ev.Record.Set(in.RawMessageKey, string(data))
	}
	if in.SourceAddressKey != "" {
		ev.Record.Set(in.SourceAddressKey, m.Remote)
	}
	return emit.Emit(in.tag, ev)
}

// Parse parses one message with p. A message p cannot read is returned as the record
// {"message": text} with the error, so that nothing is lost; a time p cannot read leaves
// the event's time zero (the caller uses now).
func Parse(p *parser.Parser, data []byte) (event.Event, error) {
	ev, err := p.Parse(data)
	if err != nil && !errors.Is(err, parser.ErrTime) {
		return event.Event{Record: event.Map{{Key: "message", Value: string(data)}}}, err
	}
	return ev, nil
}

// Interface guards.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
	_ pipeline.ConfigAware = (*Input)(nil)
)
