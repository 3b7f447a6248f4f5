// Package forward sends records to Fluentd or Fluent Bit over the Forward protocol, like
// Fluent Bit's forward output, to one server or to an upstream of several (round-robin,
// failover, or consistent hashing of a record key across aggregators).
//
//	[OUTPUT]
//	    Name                 forward
//	    Match                *
//	    Host                 10.0.0.5
//	    Port                 24224
//	    Require_ack_response on
//	    Shared_Key           secret
//	    tls                  on
//
// Keys (Fluent Bit's, with its defaults):
//
//   - host (127.0.0.1), port (24224): the server. unix_path PATH: a Unix socket instead.
//   - upstream NAME-OR-FILE: balance across the nodes of an upstream: a file holding an
//     [UPSTREAM] and its [NODE]s (Fluent Bit's way), or the name of an upstream section
//     (YAML upstream_servers) in the configuration file this key is written in. Nodes may
//     set tls, tls.*, shared_key, empty_shared_key, self_hostname, username and password of
//     their own; what they leave out comes from the output's keys.
//   - tag TAG: send under this fixed tag instead of the chunk's (a record accessor, $key,
//     is refused rather than sent as it is written).
//   - time_as_integer on|off (off): times as integer seconds (Fluentd v0.12); entries are
//     re-encoded as [seconds, record], metadata dropped, as Fluent Bit does. Only then are
//     entries re-encoded: otherwise a chunk's bytes go out as they are.
//   - send_options on|off (off): send the option map (size) with every message.
//   - require_ack_response on|off (off): send a chunk id and wait for the server's
//     {"ack": id} before a chunk counts as delivered (at-least-once).
//   - compress gzip: send CompressedPackedForward.
//   - shared_key, empty_shared_key on|off, self_hostname (the host name), username,
//     password: the secure-forward handshake (HELO, PING, PONG), done on every new
//     connection when shared_key is set or empty_shared_key is on.
//   - add_option "KEY VALUE": an extra string option sent with every message (repeatable;
//     implies send_options).
//   - tls on|off, tls.verify on|off (on), tls.ca_file, tls.ca_path (a directory: OpenSSL
//     hash links such as 1a2b3c4d.0 and *.pem / *.crt files; see package internal/tlsconf),
//     tls.crt_file, tls.key_file, tls.vhost (the server name to verify; default the host),
//     tls.debug (accepted, no effect).
//   - net.keepalive on|off (on), net.keepalive_idle_timeout (30s),
//     net.keepalive_max_recycle (2000): reuse connections, close idle ones, and open a new
//     one after so many chunks.
//   - net.connect_timeout (10s); net.io_timeout (60s): how long one write, or the wait
//     for an ack, may take before the attempt fails.
//
// Keys of ours:
//
//   - forward_mode packed|forward (packed): PackedForward ([tag, bin(entries), options])
//     or Forward mode ([tag, [entries...], options]), the form Fluent Bit sends uncompressed
//     chunks in. Neither re-encodes entries; packed lets a receiver pass them through
//     without walking them.
//   - upstream_mode round_robin|failover|hash (round_robin): how chunks are spread over an
//     upstream's nodes (see package upstream).
//   - upstream_hash_key KEY: with upstream_mode hash, the record key (a record accessor
//     such as device_id or $device['id']) whose value picks the node. A chunk is split by
//     node; records without the key are hashed as the empty key.
//   - upstream_max_fails N (3), upstream_fail_timeout (10s): a node that fails N chunks
//     in a row is out; after upstream_fail_timeout (doubling after each failed try, up to
//     5 minutes) one chunk tries it again.
//
// Delivery. A chunk that fails on a node (it cannot connect, the handshake fails, a write
// fails, or the ack does not come within net.io_timeout) is tried at once on the next
// node (failover order, the next in turn, or, for hashed records, the next node on the
// ring); when every node fails the engine retries the chunk later (pipeline.Retry), so
// with require_ack_response nothing is lost. Without acks, a chunk is delivered once it
// is written to the socket: a server that dies with it unread loses it, as in Fluent Bit.
// In hash mode, records of a chunk that reached some nodes before others failed are sent
// again on the engine's retry: duplicates, never losses.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/upstream"
)

func init() {
	pipeline.RegisterOutput("forward", func() pipeline.Output { return New() })
}

// Security is the part of the settings a node of an upstream may set for itself.
type Security struct {
	tlsconf.ClientSettings // tls, tls.verify, tls.debug, tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost

	SharedKey      string `conf:"shared_key"`
	EmptySharedKey bool   `conf:"empty_shared_key"`
	SelfHostname   string `conf:"self_hostname"`
	Username       string `conf:"username"`
	Password       string `conf:"password"`
}

// Output is the forward output. Set the fields (or let the engine decode them), then call
// Init before the first Flush.
type Output struct {
	Host     string `conf:"host"`
	Port     int    `conf:"port"`
	UnixPath string `conf:"unix_path"`
	Upstream string `conf:"upstream"`
	Tag      string `conf:"tag"`

	TimeAsInteger bool     `conf:"time_as_integer"`
	SendOptions   bool     `conf:"send_options"`
	RequireAck    bool     `conf:"require_ack_response"`
	Compress      string   `conf:"compress"`
	AddOption     []string `conf:"add_option"`
	ForwardMode   string   `conf:"forward_mode"`
	// RetainMetadata is Fluent Bit's retain_metadata_in_forward_mode: entries go out as
	// they are in the chunk, metadata included, always; the key set off is refused.
	RetainMetadata bool `conf:"retain_metadata_in_forward_mode"`

	Security

	Keepalive           bool          `conf:"net.keepalive"`
	KeepaliveIdle       time.Duration `conf:"net.keepalive_idle_timeout"`
	KeepaliveMaxRecycle int           `conf:"net.keepalive_max_recycle"`
	ConnectTimeout      time.Duration `conf:"net.connect_timeout"`
	IOTimeout           time.Duration `conf:"net.io_timeout"`

	UpstreamMode        string        `conf:"upstream_mode"`
	UpstreamHashKey     string        `conf:"upstream_hash_key"`
	UpstreamMaxFails    int           `conf:"upstream_max_fails"`
	UpstreamFailTimeout time.Duration `conf:"upstream_fail_timeout"`

	// UpstreamFrom is the configuration file the upstream key was written in, where an
	// upstream named by the key is looked up. SetProperties fills it in.
	UpstreamFrom string `conf:"-"`
	// Nodes, when set, are the upstream's nodes, and the upstream key is not read: for
	// programs that build the output themselves.
	Nodes []upstream.Node `conf:"-"`

	cfg      *config.Config // the configuration the output came from (SetConfig)
	packed   bool
	gzip     bool
	mode     upstream.Mode
	hashKey  *accessor.Accessor
	options  bool // send the option map
	extraOpt [][2]string
	nodes    []upstream.Node
	security []Security
	log      *slog.Logger
	bal      *upstream.Balancer
	pools    []*pool
	busy     atomic.Int64 // connections checked out of the pools (monitoring API)
}

// Connections reports the connections open now (idle in the pools and in use) and those
// in use, for the monitoring API's fluentbit_output_upstream_*_connections.
func (o *Output) Connections() (total, busy int) {
	busy = int(o.busy.Load())
	total = busy
	for _, p := range o.pools {
		p.mu.Lock()
		total += len(p.idle)
		p.mu.Unlock()
	}
	return total, busy
}

// SetConfig gives the output the configuration it came from, where it looks up the
// upstream section its upstream key names.
func (o *Output) SetConfig(cfg *config.Config) { o.cfg = cfg }

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{
		Host: "127.0.0.1", Port: 24224, ForwardMode: "packed", RetainMetadata: true,
		Security:            Security{ClientSettings: tlsconf.DefaultClient()},
		Keepalive:           true,
		KeepaliveIdle:       30 * time.Second,
		KeepaliveMaxRecycle: 2000,
		ConnectTimeout:      10 * time.Second,
		IOTimeout:           60 * time.Second,
		UpstreamMaxFails:    upstream.DefaultMaxFails,
		UpstreamFailTimeout: upstream.DefaultFailTimeout,
	}
}

// SetProperties decodes the keys and remembers which file the upstream key came from.
func (o *Output) SetProperties(props []config.Property) error {
	for _, p := range props {
		if strings.EqualFold(p.Key, "upstream") {
			o.UpstreamFrom = p.File
		}
		if strings.EqualFold(p.Key, "retain_metadata_in_forward_mode") {
			if on, err := config.ParseBool(p.Value); err == nil && !on {
				return config.Errorf(p, "off is not supported: entries are sent as they are in the chunk, metadata included")
			}
		}
	}
	return config.Decode(props, o)
}

// Validate checks the keys and reads the upstream, without side effects, so mistakes show
// up when the configuration is loaded (and at --dry-run).
func (o *Output) Validate() error {
	if o.Port < 1 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	}
	if strings.Contains(o.Tag, "$") {
		// Fluent Bit may expand a record accessor here, per record; sending "$key"
		// literally would be a silent surprise.
		return config.KeyErrorf("tag", "%q: record accessors in the tag are not supported; give a fixed tag", o.Tag)
	}
	switch strings.ToLower(strings.TrimSpace(o.ForwardMode)) {
	case "", "packed", "packedforward", "packed_forward":
		o.packed = true
	case "forward":
		o.packed = false
	default:
		return config.KeyErrorf("forward_mode", "%q: want packed or forward", o.ForwardMode)
	}
	switch strings.ToLower(strings.TrimSpace(o.Compress)) {
	case "", "none", "off":
		o.gzip = false
	case "gzip":
		o.gzip = true
	default:
		return config.KeyErrorf("compress", "%q: want gzip (or none)", o.Compress)
	}
	o.extraOpt = o.extraOpt[:0]
	for _, a := range o.AddOption {
		k, v, ok := strings.Cut(strings.TrimSpace(a), " ")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return config.KeyErrorf("add_option", "%q: want KEY VALUE", a)
		}
		switch k {
		case "size", "chunk", "compressed", "fluent_signal":
			return config.KeyErrorf("add_option", "%q: the output sets option %s itself", a, k)
		}
		o.extraOpt = append(o.extraOpt, [2]string{k, v})
	}
	o.options = o.SendOptions || o.RequireAck || o.gzip || len(o.extraOpt) > 0
	var err error
	if o.mode, err = upstream.ParseMode(o.UpstreamMode); err != nil {
		return config.KeyErrorf("upstream_mode", "%v", err)
	}
	o.hashKey = nil
	if o.mode == upstream.Hash {
		if strings.TrimSpace(o.UpstreamHashKey) == "" {
			return config.KeyErrorf("upstream_hash_key", "upstream_mode hash needs the record key to hash")
		}
		if o.hashKey, err = accessor.Parse(strings.TrimSpace(o.UpstreamHashKey)); err != nil {
			return config.KeyErrorf("upstream_hash_key", "%v", err)
		}
	} else if o.UpstreamHashKey != "" {
		return config.KeyErrorf("upstream_hash_key", "only used with upstream_mode hash")
	}
	if o.UpstreamMaxFails < 1 {
		return config.KeyErrorf("upstream_max_fails", "%d: want 1 or more", o.UpstreamMaxFails)
	}
	if o.UpstreamFailTimeout <= 0 {
		return config.KeyErrorf("upstream_fail_timeout", "want a duration above 0")
	}
	if o.KeepaliveMaxRecycle < 0 {
		return config.KeyErrorf("net.keepalive_max_recycle", "%d: want 0 (no limit) or more", o.KeepaliveMaxRecycle)
	}
	if o.ConnectTimeout <= 0 {
		return config.KeyErrorf("net.connect_timeout", "want a duration above 0")
	}
	if o.IOTimeout < 0 {
		return config.KeyErrorf("net.io_timeout", "want a duration of 0 (none) or more")
	}
	if err := checkSecurity(&o.Security, ""); err != nil {
		return err
	}

	// The nodes, each with its own security settings on top of the output's.
	o.nodes, o.security = nil, nil
	switch {
	case len(o.Nodes) > 0:
		o.nodes = o.Nodes
	case o.UnixPath != "":
		o.nodes = []upstream.Node{{Name: o.UnixPath, Host: o.UnixPath}}
	case o.Upstream != "":
		// An upstream section of the configuration the output came from (which may have
		// been built in memory by a program), else a file or a section of the file the
		// key was written in.
		var u *upstream.Upstream
		var err error
		if o.cfg != nil {
			u, err = upstream.Find(o.cfg.Other, strings.TrimSpace(o.Upstream))
		}
		if u == nil {
			if u, err = upstream.Resolve(o.Upstream, o.UpstreamFrom); err != nil {
				return config.KeyErrorf("upstream", "%v", err)
			}
		}
		o.nodes = u.Nodes
	default:
		o.nodes = []upstream.Node{{Name: o.Host + ":" + strconv.Itoa(o.Port), Host: o.Host, Port: o.Port}}
	}
	for _, n := range o.nodes {
		sec := o.Security
		if err := config.Decode(n.Props, &sec); err != nil {
			return err // placed at the node's key
		}
		if err := checkSecurity(&sec, n.Name); err != nil {
			return nodeError(n, err)
		}
		o.security = append(o.security, sec)
	}
	if o.mode != upstream.RoundRobin && len(o.nodes) == 1 && o.Upstream == "" && len(o.Nodes) == 0 {
		return config.KeyErrorf("upstream_mode", "%s needs an upstream with several nodes", o.mode)
	}
	return nil
}

// nodeError places a key's error (its text already naming the node) at the node's own key
// when the node sets it; a key the node leaves out came from the output's section, where
// the engine places it.
func nodeError(n upstream.Node, err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != "" || ce.Key == "" {
		return err
	}
	for i := len(n.Props) - 1; i >= 0; i-- {
		if strings.EqualFold(n.Props[i].Key, ce.Key) {
			return config.Errorf(n.Props[i], "%v", ce.Err)
		}
	}
	return err
}

func checkSecurity(s *Security, node string) error {
	where := ""
	if node != "" {
		where = fmt.Sprintf("node %s: ", node)
	}
	if err := s.ClientSettings.Validate(); err != nil {
		var ce *config.Error
		if where != "" && errors.As(err, &ce) {
			return config.KeyErrorf(ce.Key, "%s%v", where, ce.Err)
		}
		return err
	}
	if s.Password != "" && s.Username == "" {
		return config.KeyErrorf("username", "%sa password without a username", where)
	}
	if s.Username != "" && s.SharedKey == "" && !s.EmptySharedKey {
		return config.KeyErrorf("username", "%susername and password are checked in the handshake, which needs shared_key (or empty_shared_key on)", where)
	}
	return nil
}

// Init builds the TLS settings and the balancer. Connections are opened by the first
// flush that needs them.
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if o.nodes == nil {
		if err := o.Validate(); err != nil {
			return err
		}
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	o.pools = make([]*pool, len(o.nodes))
	for i, n := range o.nodes {
		sec := o.security[i]
		p := &pool{o: o, node: n, sec: sec, network: "tcp", addr: n.Addr(), hostname: sec.SelfHostname}
		if o.UnixPath != "" && len(o.Nodes) == 0 {
			p.network, p.addr = "unix", o.UnixPath
		}
		if p.hostname == "" {
			p.hostname = host
		}
		p.handshake = sec.SharedKey != "" || sec.EmptySharedKey
		if sec.TLS {
			cfg, err := sec.ClientSettings.Config(n.Host)
			if err != nil {
				var ce *config.Error
				if o.Upstream != "" && errors.As(err, &ce) && ce.File == "" {
					return nodeError(n, config.KeyErrorf(ce.Key, "node %s: %v", n.Name, ce.Err))
				}
				return err
			}
			p.tls = cfg
		}
		o.pools[i] = p
	}
	o.bal = upstream.New(o.nodes, upstream.Options{
		Mode: o.mode, MaxFails: o.UpstreamMaxFails, FailTimeout: o.UpstreamFailTimeout,
	})
	return nil
}

// Close closes the idle connections.
func (o *Output) Close(context.Context) error {
	for _, p := range o.pools {
		p.closeIdle()
	}
	return nil
}

// EncodedSize estimates the copy Flush makes of c (pipeline.EncodingSizer): none when the
// chunk goes out as it is; its entries rewritten with time_as_integer; its gzip copy.
func (o *Output) EncodedSize(c *pipeline.Chunk) int {
	n := 0
	if o.TimeAsInteger {
		n += len(c.Data)
	}
	if o.gzip {
		n += len(c.Data) / 2
	}
	return n
}

// Flush sends c to a node (or, hashing, each record to its node) and returns once it is
// written (or, with require_ack_response, acknowledged). When no node takes it, the error
// asks the engine to retry.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	if c.Records == 0 || len(c.Data) == 0 {
		return nil
	}
	tag := o.Tag
	if tag == "" {
		tag = c.Tag
	}
	data, n := c.Data, c.Records
	if o.TimeAsInteger {
		var dropped int
		var err error
		buf := getBuf()
		defer putBuf(buf)
		*buf, n, dropped, err = appendIntegerTimes((*buf)[:0], c.Data)
		if dropped > 0 {
			o.log.Warn("damaged entries left out of chunk", "tag", c.Tag, "dropped", dropped, "error", err)
		}
		if n == 0 {
			return fmt.Errorf("forward: no valid entry in chunk: %w", err)
		}
		data = *buf
	}
	plan := o.bal.Plan()
	if o.mode == upstream.Hash {
		return o.flushHashed(ctx, plan, tag, data, n)
	}
	var errs []error
	for _, i := range plan.Order {
		err := o.send(ctx, i, tag, data, n)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return pipeline.Retry(errors.Join(errs...))
}

// send delivers one message of n entries to node i and tells the balancer how it went.
func (o *Output) send(ctx context.Context, i int, tag string, data []byte, n int) error {
	err := o.pools[i].deliver(ctx, tag, data, n)
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not the node's fault
		}
		out := o.bal.Failure(i)
		o.log.Warn("send failed", "node", o.nodes[i].Name, "addr", o.pools[i].addr, "node_out", out, "error", err)
		return err
	}
	if o.bal.Success(i) {
		o.log.Info("node back in", "node", o.nodes[i].Name, "addr", o.pools[i].addr)
	}
	return nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output         = (*Output)(nil)
	_ pipeline.ConfigAware    = (*Output)(nil)
	_ pipeline.PropertySetter = (*Output)(nil)
	_ pipeline.Validator      = (*Output)(nil)
	_ pipeline.Initializer    = (*Output)(nil)
	_ pipeline.Closer         = (*Output)(nil)

	_ pipeline.ConnectionReporter = (*Output)(nil)
)

// The engine counts its encoding against the memory budget.
var _ pipeline.EncodingSizer = (*Output)(nil)
