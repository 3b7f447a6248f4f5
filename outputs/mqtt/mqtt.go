// Package mqtt publishes records to an MQTT broker as JSON messages, one per record (or one
// per chunk and topic with format json_lines). Fluent Bit has no MQTT output; this one
// shares its connection keys with our mqtt input.
//
//	[OUTPUT]
//	    Name    mqtt
//	    Match   sensors.*
//	    Host    broker.local
//	    Topic   devices/$device/$TAG[1]
//	    QoS     1
//
// Keys:
//
//   - host (default 127.0.0.1), port (default 1883, 8883 with tls), client_id (default
//     "fbgo" + 16 hex digits derived from the host name and the instance name, stable
//     across restarts and distinct from the input's), username, password, tls, tls.verify,
//     tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost, tls.debug, keepalive (60s), connect_timeout
//     (10s), reconnect_max_interval (30s): as in the mqtt input.
//   - topic: a template (default "$TAG"; package internal/template, the rules of Fluent
//     Bit's templates): $TAG is the chunk's tag, $TAG[N] its part N (split at '.', from 0;
//     empty when there are fewer parts), and $KEY a record accessor ($device,
//     $meta['site']) that takes the record's value (a string as is, other values as JSON).
//     A key is letters, digits and '_': any other character ends it, so $device-$TAG is
//     the key device, '-', then the tag; $TAG is matched first, so $TAGS is the tag then S.
//     Not ${tag}: the configuration expands ${...} as a variable before the plugin sees it.
//     '+', '#' and NUL in a value or the tag become '_' (they are not allowed in a topic
//     one publishes to); '/' in a value makes more levels. A record without the key
//     named is not published: it is counted in a warning per chunk.
//   - qos 0|1|2 (default 1). With 1 and 2 a flush returns only after the broker
//     acknowledged every message (PUBACK, PUBCOMP).
//   - retain on|off (default off): publish as retained messages.
//   - format json|json_lines (default json): json publishes one message per record, a JSON
//     object; json_lines publishes one message per chunk and topic, records one per line
//     (fewer, larger messages: for consumers that read batches).
//   - json_date_key (default "date"; off to leave out), json_date_format (double, epoch,
//     epoch_ms, iso8601, java_sql_timestamp; default double): the record's time in the
//     JSON, as in Fluent Bit's JSON outputs.
//   - timeout (default 30s): how long a flush waits for the broker's acknowledgements
//     before asking the engine to retry.
//
// Delivery. The client connects in the background and reconnects with backoff. A flush
// while the connection is down, a publish error, the connection dropping before every
// acknowledgement came, or the timeout all return a retry to the engine, which keeps the
// chunk and flushes it again later (retry_limit, backoff): nothing is buffered inside the
// MQTT client on purpose, the engine's buffer is the one that counts. A retried chunk is
// published whole again, so subscribers may see duplicates (at least once). With qos 0
// "delivered" means written to the socket.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mqttconn"
	"github.com/fluentbit-go/fluentbit-go/internal/template"
	"github.com/fluentbit-go/fluentbit-go/outputs/internal/render"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Output is the MQTT output. Set the fields (or let the engine decode them), then call Init
// before the first Flush and Close at the end.
type Output struct {
	mqttconn.Options
	Topic          string        `conf:"topic"`
	QoS            int           `conf:"qos"`
	Retain         bool          `conf:"retain"`
	Format         string        `conf:"format"`
	JSONDateKey    string        `conf:"json_date_key"`
	JSONDateFormat string        `conf:"json_date_format"`
	Timeout        time.Duration `conf:"timeout"`

	tmpl       *template.Template
	perRecord  bool // the topic depends on the record
	lines      bool
	dateKey    string
	dateFormat render.DateFormat

	log      *slog.Logger
	client   paho.Client
	clientID string
	stop     context.CancelFunc
	wg       sync.WaitGroup

	lostMu sync.Mutex
	lost   chan struct{} // closed when the connection drops, then replaced
	up     chan struct{} // closed when connected, replaced when the connection drops
}

// New returns an Output with the defaults.
func New() *Output {
	return &Output{
		Options:        mqttconn.Defaults(),
		Topic:          "$TAG",
		QoS:            1,
		Format:         "json",
		JSONDateKey:    "date",
		JSONDateFormat: "double",
		Timeout:        30 * time.Second,
	}
}

func init() { pipeline.RegisterOutput("mqtt", func() pipeline.Output { return New() }) }

// window is how many publishes a flush has outstanding before it waits for their
// acknowledgements: it keeps within MQTT's 65535 packet ids with several workers, and
// bounds the memory a flush pins.
const window = 1000

// Validate checks the keys without side effects.
func (o *Output) Validate() error {
	if err := o.Options.Validate(); err != nil {
		return err
	}
	if o.QoS < 0 || o.QoS > 2 {
		return config.KeyErrorf("qos", "%d: want 0, 1 or 2", o.QoS)
	}
	switch render.Lower(o.Format) {
	case "", "json":
		o.lines = false
	case "json_lines":
		o.lines = true
	default:
		return config.KeyErrorf("format", "%q: want json or json_lines", o.Format)
	}
	df, ok := render.ParseDateFormat(o.JSONDateFormat)
	if !ok {
		return config.KeyErrorf("json_date_format", "%q: want double, epoch, epoch_ms, iso8601 or java_sql_timestamp", o.JSONDateFormat)
	}
	o.dateFormat = df
	o.dateKey = o.JSONDateKey
	if render.DateKeyOff(o.JSONDateKey) {
		o.dateKey = ""
	}
	if o.Timeout <= 0 {
		return config.KeyErrorf("timeout", "%v: want more than 0", o.Timeout)
	}
	tmpl, err := parseTopic(o.Topic)
	if err != nil {
		return config.KeyErrorf("topic", "%v", err)
	}
	o.tmpl = tmpl
	o.perRecord = tmpl.HasKeys()
	return nil
}

// parseTopic parses a topic template: $TAG, $TAG[N] and record keys (package
// internal/template), with no '+', '#' or NUL in its literal text.
func parseTopic(s string) (*template.Template, error) {
	if s == "" {
		return nil, errors.New("empty topic")
	}
	t, err := template.Parse(s, template.Syntax{Keys: true})
	if err != nil {
		return nil, err
	}
	for _, p := range t.Parts() {
		if p.Kind == template.Literal && strings.ContainsAny(p.Lit, "+#\x00") {
			return nil, fmt.Errorf("%q: '+', '#' and NUL are not allowed in a topic to publish to", s)
		}
	}
	return t, nil
}

// topic renders the topic for one record; ok is false when a record key is missing.
// '+', '#' and NUL from the tag or a value become '_'.
func (o *Output) topic(dst []byte, tag string, rec event.Map) ([]byte, bool) {
	start := len(dst)
	dst, missing := o.tmpl.Append(dst, &template.Vars{Tag: tag, Record: rec})
	if missing {
		return dst[:start], false
	}
	for i := start; i < len(dst); i++ {
		if c := dst[i]; c == '+' || c == '#' || c == 0 {
			dst[i] = '_'
		}
	}
	return dst, true
}

// Init validates the keys, loads TLS files and starts connecting in the background; a
// broker that is down does not stop the agent from starting (flushes are retried).
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.Default()
	}
	o.clientID = o.ClientID
	if o.clientID == "" {
		o.clientID = mqttconn.DefaultClientID("out", env.Name)
	}
	po, err := o.ClientOptions(o.clientID)
	if err != nil {
		return err
	}
	o.lost = make(chan struct{})
	o.up = make(chan struct{})
	po.SetCleanSession(true).
		SetOnConnectHandler(func(paho.Client) {
			o.log.Info("mqtt: connected", "broker", o.Addr(), "client_id", o.clientID)
			o.lostMu.Lock()
			select {
			case <-o.up:
			default:
				close(o.up)
			}
			o.lostMu.Unlock()
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			o.log.Warn("mqtt: connection lost; reconnecting", "broker", o.Addr(), "err", err)
			o.lostMu.Lock()
			close(o.lost)
			o.lost = make(chan struct{})
			o.up = make(chan struct{})
			o.lostMu.Unlock()
		})
	o.client = paho.NewClient(po)
	ctx, cancel := context.WithCancel(context.Background())
	o.stop = cancel
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		_ = mqttconn.Connect(ctx, o.client, o.log, o.Addr(), o.ReconnectMaxInterval)
	}()
	return nil
}

// connected returns a channel closed once the client is connected (the current
// connection, or the next one while it is down).
func (o *Output) connected() <-chan struct{} {
	o.lostMu.Lock()
	defer o.lostMu.Unlock()
	if o.client.IsConnectionOpen() {
		// The loss handler may have replaced up after the reconnection closed it.
		select {
		case <-o.up:
		default:
			close(o.up)
		}
	}
	return o.up
}

// Close stops connecting and disconnects.
func (o *Output) Close(context.Context) error {
	if o.stop == nil {
		return nil
	}
	o.stop()
	o.wg.Wait()
	o.client.Disconnect(250)
	return nil
}

// EncodedSize estimates what Flush holds for c (pipeline.EncodingSizer): the JSON payloads
// of the records in flight (up to a window of them, in paho's store until the broker
// acknowledges them), about twice the chunk at most.
func (o *Output) EncodedSize(c *pipeline.Chunk) int {
	if c.Records <= window {
		return 2 * len(c.Data)
	}
	return 2 * int(int64(len(c.Data))*window/int64(c.Records))
}

// Flush publishes the chunk's records and waits for the broker's acknowledgements.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	if o.client == nil {
		return errors.New("mqtt: Flush before Init")
	}
	o.lostMu.Lock()
	lost := o.lost
	o.lostMu.Unlock()
	if !o.client.IsConnectionOpen() {
		return pipeline.Retry(fmt.Errorf("mqtt: not connected to %s", o.Addr()))
	}

	var (
		arena   []byte // payloads; slices of it stay valid when it grows
		topics  []byte
		keys    []string
		tokens  []paho.Token
		skipped int
		batches map[string][]byte // json_lines: payload per topic
		order   []string
	)
	var fixedTopic string
	if !o.perRecord {
		t, _ := o.topic(nil, c.Tag, nil)
		fixedTopic = string(t)
	}
	if o.lines {
		batches = map[string][]byte{}
	}
	publish := func(topic string, payload []byte) error {
		tokens = append(tokens, o.client.Publish(topic, byte(o.QoS), o.Retain, payload))
		if len(tokens) >= window {
			err := o.wait(ctx, tokens, lost)
			tokens = tokens[:0]
			arena = nil
			return err
		}
		return nil
	}
	var pubErr error
	walkErr := c.Events(func(ev event.Event) error {
		topic := fixedTopic
		if o.perRecord {
			var ok bool
			topics, ok = o.topic(topics[:0], c.Tag, ev.Record)
			if !ok {
				skipped++
				return nil
			}
			topic = string(topics)
		}
		if o.lines {
			b, seen := batches[topic]
			if !seen {
				order = append(order, topic)
			}
			b = render.AppendRecordJSON(b, &ev, o.dateKey, o.dateFormat, &keys)
			batches[topic] = append(b, '\n')
			return nil
		}
		start := len(arena)
		arena = render.AppendRecordJSON(arena, &ev, o.dateKey, o.dateFormat, &keys)
		if err := publish(topic, arena[start:len(arena):len(arena)]); err != nil {
			pubErr = err
			return err
		}
		return nil
	})
	if pubErr != nil {
		return pipeline.Retry(pubErr)
	}
	for _, t := range order {
		if err := publish(t, batches[t]); err != nil {
			return pipeline.Retry(err)
		}
	}
	if err := o.wait(ctx, tokens, lost); err != nil {
		return pipeline.Retry(err)
	}
	if skipped > 0 {
		o.log.Warn("mqtt: records without the topic's record key were not published", "tag", c.Tag, "records", skipped, "topic", o.Topic)
	}
	if walkErr != nil {
		return fmt.Errorf("mqtt: damaged chunk: %w", walkErr)
	}
	return nil
}

// wait waits for every token; the first error, the connection dropping, ctx or the timeout
// end the wait with an error.
func (o *Output) wait(ctx context.Context, tokens []paho.Token, lost <-chan struct{}) error {
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	for _, t := range tokens {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				return fmt.Errorf("mqtt: publish to %s: %w", o.Addr(), err)
			}
		case <-lost:
			return fmt.Errorf("mqtt: connection to %s lost before the broker acknowledged", o.Addr())
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("mqtt: no acknowledgement from %s within %v", o.Addr(), o.Timeout)
		}
	}
	return nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Validator   = (*Output)(nil)
	_ pipeline.Initializer = (*Output)(nil)
	_ pipeline.Closer      = (*Output)(nil)
)

// The engine counts the payloads in flight against the memory budget.
var _ pipeline.EncodingSizer = (*Output)(nil)
