package netserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// LineInput is the body of Fluent Bit's tcp and udp inputs, which have the same keys;
// the tcp and udp packages embed it and set Network. TLS keys apply to tcp only.
type LineInput struct {
	Listen           string `conf:"listen"`
	Port             int    `conf:"port"`
	FormatName       string `conf:"format"`
	Separator        string `conf:"separator"`
	ChunkSize        string `conf:"chunk_size"`
	BufferSize       string `conf:"buffer_size"`
	SourceAddressKey string `conf:"source_address_key"`
	ParserName       string `conf:"parser"`
	Workers          int    `conf:"workers"` // accepted so Fluent Bit configs load; one reader

	network Network
	name    string
	cfg     *config.Config
	tls     *tlsconf.ServerSettings
	format  Format
	chunk   int
	max     int
	parser  *parser.Parser
	log     *slog.Logger
	tag     string

	Slot // the socket from Init to Run; ListenAddr, Close
}

// NewLineInput returns Fluent Bit's defaults: listen 0.0.0.0, port 5170, format json,
// separator "\n", chunk_size 32 (KB), buffer_size 64 (KB). tls, when not nil, holds
// the TLS keys (tcp).
func NewLineInput(name string, network Network, tls *tlsconf.ServerSettings) LineInput {
	return LineInput{
		Listen: "0.0.0.0", Port: 5170, FormatName: "json", Separator: `\n`,
		ChunkSize: "32", BufferSize: "64", Workers: 1,
		network: network, name: name, tls: tls,
	}
}

// SetConfig gives the input the configuration where its parser is looked up.
func (in *LineInput) SetConfig(cfg *config.Config) { in.cfg = cfg }

// Validate checks the keys and resolves the parser.
func (in *LineInput) Validate() error {
	if in.Port < 0 || in.Port > 65535 {
		return config.KeyErrorf("port", "bad port %d: want 0 to 65535", in.Port)
	}
	f, err := ParseFormat(in.FormatName)
	if err != nil {
		return err
	}
	in.format = f
	if in.chunk, err = ParseKB("chunk_size", in.ChunkSize); err != nil {
		return err
	}
	if in.max, err = ParseKB("buffer_size", in.BufferSize); err != nil {
		return err
	}
	if in.chunk > in.max {
		return config.KeyErrorf("chunk_size", "%d bytes is more than buffer_size (%d bytes)", in.chunk, in.max)
	}
	if Unescape(in.Separator) == "" {
		return config.KeyErrorf("separator", "must not be empty")
	}
	if in.Workers < 0 {
		return config.KeyErrorf("workers", "must be 1 or more")
	}
	if in.ParserName != "" {
		set := parser.NewSet()
		if in.cfg != nil {
			s, err := parser.Load(in.cfg)
			if err != nil {
				return err
			}
			set = s
		}
		p, ok := set.Lookup(in.ParserName)
		if !ok {
			return config.KeyErrorf("parser", "no parser named %q is defined (define it in a [PARSER] section, a parsers_file or the YAML parsers list)", in.ParserName)
		}
		in.parser = p
	}
	if in.tls != nil {
		return in.tls.Validate()
	}
	return nil
}

// Addr is the configured address, host:port.
func (in *LineInput) Addr() string { return net.JoinHostPort(in.Listen, strconv.Itoa(in.Port)) }

// Init opens the socket, so a port in use stops the agent at start.
func (in *LineInput) Init(ctx context.Context, env pipeline.Env) error {
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
		in.tag = in.name + ".0"
	}
	return in.open(ctx)
}

func (in *LineInput) open(ctx context.Context) error {
	if in.Held() {
		return nil
	}
	cfg := Config{Network: in.network, Address: in.Addr(), ChunkSize: in.chunk, MaxSize: in.max, Logger: in.log}
	if in.tls != nil {
		tc, err := in.tls.Config()
		if err != nil {
			return err
		}
		cfg.TLS = tc
	}
	if in.format == FormatJSON {
		cfg.Split = SplitJSON
	} else {
		cfg.Split = SplitSeparator([]byte(Unescape(in.Separator)))
	}
	return in.Slot.Open(ctx, in.name, cfg)
}

// Run receives until ctx is done.
func (in *LineInput) Run(ctx context.Context, emit pipeline.Emitter) error {
	if in.log == nil {
		if err := in.Init(ctx, pipeline.Env{}); err != nil {
			return err
		}
	}
	if err := in.open(ctx); err != nil { // restarted after a failure
		return err
	}
	srv := in.Take()
	in.log.Info("listening", "addr", srv.Addr(), "network", string(in.network), "tls", in.tls != nil && in.tls.TLS)
	r := &Records{
		Format: in.format, Separator: []byte(Unescape(in.Separator)),
		SourceAddressKey: in.SourceAddressKey, Parser: in.parser,
		Tag: in.tag, Emit: emit, Log: in.log,
	}
	if err := srv.Serve(ctx, emit.Paused, r.Handle); err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	return nil
}
