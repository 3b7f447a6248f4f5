// Package nats publishes records to a NATS server, like Fluent Bit's nats output: each
// chunk goes out as a JSON array of [time, record] pairs on a subject that is the tag.
// With jetstream on it publishes to a JetStream stream instead and a flush returns only
// when the stream acknowledged every message, so what the engine counts as delivered is
// stored (replicated, for a replicated stream).
//
//	[OUTPUT]
//	    Name       nats
//	    Match      sensors.*
//	    Host       nats.local
//	    Port       4222
//	    Jetstream  on
//	    Stream     TELEMETRY
//
// Fluent Bit's keys: host (default 127.0.0.1), port (default 4222). Keys of ours (see
// docs/nats.md): servers (more seed servers), user, password, token, credentials (a .creds
// file), nkey (a seed file), the tls.* keys of package internal/tlsconf, subject (a
// template, default $TAG), jetstream on|off, stream, max_pending, timeout,
// connect_timeout, reconnect_wait.
//
// The record shape is Fluent Bit's: [[1700000000.5,{"tag":"sensors.a","t":21.5}],...],
// the time a float of seconds, the tag as the record's first key unless the record has a
// "tag" key of its own. A chunk larger than the server's max_payload is split into several
// such arrays, each within the limit.
//
// The client is github.com/nats-io/nats.go, not hand-written protocol: it reconnects,
// learns the other servers of a cluster from the one it is connected to (and fails over
// to them), speaks TLS, JWT/nkey authentication and JetStream's publish acknowledgements,
// all of which a cluster deployment needs and each of which is easy to get subtly wrong.
//
// Delivery. Nothing is buffered inside the client (its reconnect buffer is off): a flush
// while disconnected, a publish error, an acknowledgement missing or negative, or the
// timeout return a retry to the engine, which keeps the chunk. Core NATS has no
// acknowledgements: a flush is delivered once the server answered a PING sent after the
// messages, i.e. the server has them; subscribers that are not connected then never see
// them (the loss window of core NATS, see docs/nats.md). With JetStream every message
// carries a Nats-Msg-Id made of the chunk's digest and the message's index, so a chunk
// retried within the stream's duplicate window is not stored twice.
package nats

import (
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/template"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Output is the nats output. Set the fields (or let the engine decode them), then call
// Init before the first Flush and Close at the end.
type Output struct {
	Host        string `conf:"host"`
	Port        int    `conf:"port"`
	Servers     string `conf:"servers"`     // more seed servers: host:port or nats:// URLs, comma or space separated
	User        string `conf:"user"`        // user and password authentication
	Password    string `conf:"password"`    //
	Token       string `conf:"token"`       // token authentication
	Credentials string `conf:"credentials"` // a .creds file: user JWT and nkey seed (NATS decentralised auth)
	NKey        string `conf:"nkey"`        // a file holding an nkey seed (SU...)
	tlsconf.ClientSettings
	Subject        string        `conf:"subject"`         // template; default $TAG
	JetStream      bool          `conf:"jetstream"`       // publish to JetStream and await acknowledgements
	Stream         string        `conf:"stream"`          // the stream that must store the messages (jetstream on)
	MaxPending     int           `conf:"max_pending"`     // JetStream publishes awaiting acknowledgement per flush
	Timeout        time.Duration `conf:"timeout"`         // how long a flush waits for the server
	ConnectTimeout time.Duration `conf:"connect_timeout"` // one connection attempt
	ReconnectWait  time.Duration `conf:"reconnect_wait"`  // between reconnection attempts to one server

	tmpl      *template.Template
	perRecord bool
	urls      []string

	log      *slog.Logger
	nc       *natsgo.Conn
	js       jetstream.JetStream
	dups     atomic.Uint64 // messages JetStream acknowledged as already stored (retries)
	bufs     sync.Pool     // message buffers (*[]byte), lent to one flush at a time
	failMu   sync.Mutex
	failText string    // the last connection failure logged
	failAt   time.Time // when

	streamMu  sync.Mutex
	streamMax int // the stream's max_msg_size; 0 unknown, -1 none
}

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{
		Host:           "127.0.0.1",
		Port:           4222,
		ClientSettings: tlsconf.DefaultClient(),
		Subject:        "$TAG",
		MaxPending:     256,
		Timeout:        30 * time.Second,
		ConnectTimeout: 5 * time.Second,
		ReconnectWait:  time.Second,
	}
}

func init() { pipeline.RegisterOutput("nats", func() pipeline.Output { return New() }) }

// headerRoom is what a JetStream message's headers (NATS/1.0, Nats-Msg-Id,
// Nats-Expected-Stream) may take of the server's max_payload, which counts them.
const headerRoom = 512

// Validate checks the keys without side effects.
func (o *Output) Validate() error {
	if o.Host == "" {
		return config.KeyErrorf("host", "empty")
	}
	if o.Port <= 0 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	}
	urls := []string{o.url(net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))}
	for _, s := range strings.FieldsFunc(o.Servers, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		u, err := o.serverURL(s)
		if err != nil {
			return config.KeyErrorf("servers", "%v", err)
		}
		urls = append(urls, u)
	}
	o.urls = urls
	if o.Password != "" && o.User == "" {
		return config.KeyErrorf("password", "set without user")
	}
	auth := 0
	for _, s := range []string{o.User, o.Token, o.Credentials, o.NKey} {
		if s != "" {
			auth++
		}
	}
	if auth > 1 {
		switch {
		case o.Token != "":
			return config.KeyErrorf("token", "give one way to authenticate: user/password, token, credentials or nkey")
		case o.Credentials != "":
			return config.KeyErrorf("credentials", "give one way to authenticate: user/password, token, credentials or nkey")
		default:
			return config.KeyErrorf("nkey", "give one way to authenticate: user/password, token, credentials or nkey")
		}
	}
	if err := o.ClientSettings.Validate(); err != nil {
		return err
	}
	if o.Stream != "" {
		if !o.JetStream {
			return config.KeyErrorf("stream", "%q: only with jetstream on", o.Stream)
		}
		if strings.ContainsAny(o.Stream, ". *>\t\r\n/\\") {
			return config.KeyErrorf("stream", "%q: a stream name has no '.', '*', '>', '/', '\\' or white space", o.Stream)
		}
	}
	if o.MaxPending <= 0 {
		return config.KeyErrorf("max_pending", "%d: want more than 0", o.MaxPending)
	}
	if o.Timeout <= 0 {
		return config.KeyErrorf("timeout", "%v: want more than 0", o.Timeout)
	}
	if o.ConnectTimeout <= 0 {
		return config.KeyErrorf("connect_timeout", "%v: want more than 0", o.ConnectTimeout)
	}
	if o.ReconnectWait <= 0 {
		return config.KeyErrorf("reconnect_wait", "%v: want more than 0", o.ReconnectWait)
	}
	t, err := parseSubject(o.Subject)
	if err != nil {
		return config.KeyErrorf("subject", "%v", err)
	}
	o.tmpl = t
	o.perRecord = t.HasKeys()
	return nil
}

// url makes a server URL of host:port, tls:// when tls is on.
func (o *Output) url(hostport string) string {
	if o.TLS {
		return "tls://" + hostport
	}
	return "nats://" + hostport
}

// serverURL reads one entry of servers: host:port, or a nats://, tls://, ws:// or wss://
// URL.
func (o *Output) serverURL(s string) (string, error) {
	if i := strings.Index(s, "://"); i >= 0 {
		switch s[:i] {
		case "nats", "tls", "ws", "wss":
		default:
			return "", fmt.Errorf("%q: want host:port or a nats://, tls://, ws:// or wss:// URL", s)
		}
		if _, _, err := net.SplitHostPort(strings.TrimSuffix(s[i+3:], "/")); err != nil {
			return "", fmt.Errorf("%q: %v", s, err)
		}
		return s, nil
	}
	if _, p, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("%q: want host:port: %v", s, err)
	} else if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("%q: bad port", s)
	}
	return o.url(s), nil
}

// parseSubject parses a subject template: $TAG, $TAG[N] and record keys (package
// internal/template), its literal text a valid subject to publish to.
func parseSubject(s string) (*template.Template, error) {
	if s == "" {
		return nil, errors.New("empty subject")
	}
	t, err := template.Parse(s, template.Syntax{Keys: true})
	if err != nil {
		return nil, err
	}
	for _, p := range t.Parts() {
		if p.Kind == template.Literal && strings.ContainsAny(p.Lit, " \t\r\n*>\x00") {
			return nil, fmt.Errorf("%q: white space, '*' and '>' are not allowed in a subject to publish to", s)
		}
	}
	return t, nil
}

// maxSubject bounds a subject: the server refuses a protocol line over its
// max_control_line (4 KB by default) and closes the connection, which would fail the
// chunk again at every retry.
const maxSubject = 2048

// subject renders the subject of one record; ok is false when a record key is missing
// or the subject is empty or longer than maxSubject. White space, '*', '>' and NUL from the tag or a value become
// '_' (a subject to publish to cannot hold them).
func (o *Output) subject(dst []byte, tag string, rec event.Map) ([]byte, bool) {
	start := len(dst)
	dst, missing := o.tmpl.Append(dst, &template.Vars{Tag: tag, Record: rec})
	if missing || len(dst) == start || len(dst)-start > maxSubject {
		return dst[:start], false
	}
	for i := start; i < len(dst); i++ {
		switch dst[i] {
		case ' ', '\t', '\r', '\n', '*', '>', 0:
			dst[i] = '_'
		}
	}
	return dst, true
}

// Init validates the keys, reads the credential and TLS files and starts connecting; a
// server that is down does not stop the agent from starting (flushes are retried until it
// is up).
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.Default()
	}
	name := env.Name
	if name == "" {
		name = "nats"
	}
	opts := []natsgo.Option{
		natsgo.Name("fluentbit-go " + name),
		natsgo.RetryOnFailedConnect(true),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(o.ReconnectWait),
		// No buffering inside the client while reconnecting: the engine's buffer is the one
		// that counts, and a publish that is not on the wire must fail so it is retried.
		natsgo.ReconnectBufSize(-1),
		natsgo.Timeout(o.ConnectTimeout),
		natsgo.ConnectHandler(func(nc *natsgo.Conn) {
			o.log.Info("nats: connected", "server", nc.ConnectedUrlRedacted())
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			o.log.Info("nats: reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				o.log.Warn("nats: disconnected; reconnecting", "err", err)
			}
		}),
		natsgo.ReconnectErrHandler(func(_ *natsgo.Conn, err error) { o.connectFailed(err) }),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			o.log.Warn("nats: server error", "err", err)
		}),
	}
	tc, err := o.ClientSettings.Config(o.Host)
	if err != nil {
		return err
	}
	if tc != nil {
		opts = append(opts, natsgo.Secure(tc))
	}
	switch {
	case o.User != "":
		opts = append(opts, natsgo.UserInfo(o.User, o.Password))
	case o.Token != "":
		opts = append(opts, natsgo.Token(o.Token))
	case o.Credentials != "":
		if err := readable(o.Credentials); err != nil {
			return config.KeyErrorf("credentials", "%v", err)
		}
		opts = append(opts, natsgo.UserCredentials(o.Credentials))
	case o.NKey != "":
		opt, err := natsgo.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return config.KeyErrorf("nkey", "%v", err)
		}
		opts = append(opts, opt)
	}
	nc, err := natsgo.Connect(strings.Join(o.urls, ","), opts...)
	if err != nil {
		return fmt.Errorf("nats: connect %s: %w", o.Addr(), err)
	}
	o.nc = nc
	if o.JetStream {
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(o.Timeout))
		if err != nil {
			nc.Close()
			return fmt.Errorf("nats: jetstream: %w", err)
		}
		o.js = js
	}
	return nil
}

// connectFailed logs a failed connection attempt: a new error at once, the same one again
// once a minute, so a server down for hours does not fill the log.
func (o *Output) connectFailed(err error) {
	if err == nil {
		return
	}
	o.failMu.Lock()
	defer o.failMu.Unlock()
	now := time.Now()
	if text := err.Error(); text != o.failText || now.Sub(o.failAt) >= time.Minute {
		o.failText, o.failAt = text, now
		o.log.Warn("nats: cannot connect; retrying", "servers", o.Addr(), "err", err)
	}
}

// Addr names the configured servers for messages.
func (o *Output) Addr() string {
	if o.Servers == "" {
		return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) + "," + o.Servers
}

// Close closes the connection. Flushes have returned by then; nothing is pending.
func (o *Output) Close(context.Context) error {
	if o.nc != nil {
		o.nc.Close()
	}
	return nil
}

// chunkID identifies a chunk by its content: CRC-64 of the tag and the entries, and their
// length. A retried chunk has the same bytes, also after a restart from filesystem storage,
// so its messages get the same Nats-Msg-Id.
func chunkID(c *pipeline.Chunk) string {
	h := crc64.New(crcTable)
	h.Write([]byte(c.Tag))
	h.Write([]byte{0})
	h.Write(c.Data)
	var b [40]byte
	s := strconv.AppendUint(b[:0], h.Sum64(), 16)
	s = append(s, '-')
	s = strconv.AppendUint(s, uint64(len(c.Data)), 16)
	return string(s)
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// EncodedSize estimates the messages Flush builds for c (pipeline.EncodingSizer).
func (o *Output) EncodedSize(c *pipeline.Chunk) int { return 2 * len(c.Data) }

// Flush publishes the chunk and, with JetStream, waits for every acknowledgement.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	if o.nc == nil {
		return errors.New("nats: Flush before Init")
	}
	if !o.nc.IsConnected() {
		return pipeline.Retry(fmt.Errorf("nats: not connected to %s", o.Addr()))
	}
	limit := int(o.nc.MaxPayload())
	if o.JetStream {
		max, err := o.streamLimit(ctx)
		if err != nil {
			return pipeline.Retry(err)
		}
		if max > 0 && max < limit {
			limit = max
		}
		limit -= headerRoom
	}
	if limit < 64 {
		return pipeline.Retry(fmt.Errorf("nats: the server's max_payload of %d bytes leaves no room for a record", o.nc.MaxPayload()))
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	pub := &publisher{o: o, ctx: ctx, id: chunkID(c), lastErr: o.nc.LastError()}
	b := batcher{limit: limit, publish: pub.publish, tag: c.Tag, reuse: !o.JetStream, pool: &o.bufs}
	// About the chunk as JSON: msgpack grows by half or so, and each record gets its time
	// and tag. With record-key subjects a chunk is spread over several buffers.
	b.hint = min(limit, len(c.Data)*3/2+c.Records*(len(c.Tag)+32)+64)
	if o.perRecord {
		b.hint = min(b.hint, 64<<10)
	}
	// The buffers go back to the pool once no publish holds them: core NATS copied each
	// message as it was published; JetStream holds a message until its acknowledgement
	// (or error) came, which after a failed flush may still be pending.
	acked := false
	defer func() {
		if acked || !o.JetStream {
			b.release()
		}
	}()
	var (
		subj    []byte
		fixed   string
		skipped int
		tooBig  int
		pubErr  error
	)
	if !o.perRecord {
		s, ok := o.subject(nil, c.Tag, nil)
		if !ok {
			return fmt.Errorf("nats: tag %q makes an empty subject, or one over %d bytes", c.Tag, maxSubject)
		}
		fixed = string(s)
	}
	walkErr := c.Events(func(ev event.Event) error {
		subject := fixed
		if o.perRecord {
			var ok bool
			subj, ok = o.subject(subj[:0], c.Tag, ev.Record)
			if !ok {
				skipped++
				return nil
			}
			subject = string(subj)
		}
		fits, err := b.add(subject, &ev)
		if !fits {
			tooBig++
		}
		if err != nil {
			pubErr = err
			return err
		}
		return nil
	})
	if pubErr != nil {
		return pipeline.Retry(pubErr)
	}
	if err := b.close(); err != nil {
		return pipeline.Retry(err)
	}
	if err := pub.finish(); err != nil {
		return pipeline.Retry(err)
	}
	acked = true
	if skipped > 0 {
		o.log.Warn("nats: records without the subject's record key (or whose subject would be empty or over 2048 bytes) were not published", "tag", c.Tag, "records", skipped, "subject", o.Subject)
	}
	if tooBig > 0 {
		o.log.Error("nats: records larger than a message may be were not published", "tag", c.Tag, "records", tooBig, "max_bytes", limit)
	}
	if walkErr != nil {
		return fmt.Errorf("nats: damaged chunk: %w", walkErr)
	}
	return nil
}

// streamLimit checks once that the configured stream exists and returns its
// max_msg_size (0 when no stream is configured or it has none).
func (o *Output) streamLimit(ctx context.Context) (int, error) {
	if o.Stream == "" {
		return 0, nil
	}
	o.streamMu.Lock()
	defer o.streamMu.Unlock()
	if o.streamMax != 0 {
		return max(o.streamMax, 0), nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s, err := o.js.Stream(ctx, o.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, fmt.Errorf("nats: stream %q does not exist: create it with the subjects this output publishes to (records are kept and retried)", o.Stream)
	}
	if err != nil {
		return 0, fmt.Errorf("nats: stream %q: %w", o.Stream, err)
	}
	cfg := s.CachedInfo().Config
	o.log.Info("nats: publishing to stream", "stream", o.Stream, "subjects", cfg.Subjects, "replicas", cfg.Replicas, "duplicate_window", cfg.Duplicates)
	o.streamMax = -1
	if cfg.MaxMsgSize > 0 {
		o.streamMax = int(cfg.MaxMsgSize)
	}
	return max(o.streamMax, 0), nil
}

// forgetStream makes the next flush look the stream up again (after a publish failed).
func (o *Output) forgetStream() {
	o.streamMu.Lock()
	o.streamMax = 0
	o.streamMu.Unlock()
}

// publisher sends one flush's messages: core NATS publishes then one PING round trip,
// JetStream asynchronous publishes at most MaxPending outstanding, then every
// acknowledgement.
type publisher struct {
	o       *Output
	ctx     context.Context
	id      string // the chunk's digest
	n       int    // messages published so far: the next message's index
	lastErr error  // the connection's last error when the flush began
	pending []jetstream.PubAckFuture
	dups    int
}

func (p *publisher) publish(subject string, data []byte) error {
	idx := p.n
	p.n++
	if p.o.js == nil {
		if err := p.o.nc.Publish(subject, data); err != nil {
			return fmt.Errorf("nats: publish to %q: %w", subject, err)
		}
		return nil
	}
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(p.id + "." + strconv.Itoa(idx))}
	if p.o.Stream != "" {
		opts = append(opts, jetstream.WithExpectStream(p.o.Stream))
	}
	f, err := p.o.js.PublishMsgAsync(&natsgo.Msg{Subject: subject, Data: data}, opts...)
	if err != nil {
		return fmt.Errorf("nats: publish to %q: %w", subject, err)
	}
	p.pending = append(p.pending, f)
	if len(p.pending) >= p.o.MaxPending {
		return p.wait()
	}
	return nil
}

// wait waits for the acknowledgement of every pending JetStream publish.
func (p *publisher) wait() error {
	defer func() { p.pending = p.pending[:0] }()
	for _, f := range p.pending {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				p.dups++
			}
		case err := <-f.Err():
			p.o.forgetStream()
			subject := f.Msg().Subject
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				return fmt.Errorf("nats: no JetStream stream answered for subject %q: is a stream capturing it, and is the cluster up? (%w)", subject, err)
			}
			return fmt.Errorf("nats: publish to %q not acknowledged: %w", subject, err)
		case <-p.ctx.Done():
			return fmt.Errorf("nats: acknowledgements from %s: %w", p.o.Addr(), p.ctx.Err())
		}
	}
	return nil
}

// finish ends the flush: every acknowledgement (JetStream) or a PING round trip (core).
func (p *publisher) finish() error {
	if p.o.js != nil {
		if err := p.wait(); err != nil {
			return err
		}
		if p.dups > 0 {
			p.o.dups.Add(uint64(p.dups))
			p.o.log.Debug("nats: messages already in the stream were not stored again", "messages", p.dups)
		}
		return nil
	}
	d := p.o.Timeout
	if dl, ok := p.ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	if d <= 0 {
		return fmt.Errorf("nats: flush to %s: %w", p.o.Addr(), context.DeadlineExceeded)
	}
	if err := p.o.nc.FlushTimeout(d); err != nil {
		return fmt.Errorf("nats: flush to %s: %w", p.o.Addr(), err)
	}
	// The server answers a denied publish with -ERR and keeps the connection; the client
	// records it as the connection's last error before it reads the PONG that ended
	// FlushTimeout. (Another worker's denial may be taken for this flush's: a needless
	// retry, never a loss.)
	if err := p.o.nc.LastError(); err != nil && err != p.lastErr && errors.Is(err, natsgo.ErrPermissionViolation) {
		return fmt.Errorf("nats: publish denied by %s: %w", p.o.Addr(), err)
	}
	return nil
}

// readable checks a file can be read, for errors at Init rather than at each connection.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Validator   = (*Output)(nil)
	_ pipeline.Initializer = (*Output)(nil)
	_ pipeline.Closer      = (*Output)(nil)
)

// The engine counts its encoding against the memory budget.
var _ pipeline.EncodingSizer = (*Output)(nil)
