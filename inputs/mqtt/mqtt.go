// Package mqtt is an MQTT subscriber input: it connects to a broker (mosquitto, EMQX,
// HiveMQ, AWS IoT...) as a client, subscribes to topic filters and turns every message into
// records. It is not a broker: Fluent Bit's own in_mqtt is a small MQTT server that devices
// publish to (it listens on a port and takes QoS 0 PUBLISH packets from anyone); this input
// instead subscribes to the broker the devices already use, with QoS 1/2, persistent
// sessions, TLS and reconnection, which is what most IoT setups want.
//
//	[INPUT]
//	    Name           mqtt
//	    Host           broker.local
//	    Port           1883
//	    Topics         sensors/# 1
//	    Topics         alarms/+/state 2
//	    Clean_Session  off
//	    Client_ID      gateway-7
//
// Keys:
//
//   - host (default 127.0.0.1), port (default 1883, 8883 with tls).
//   - client_id: default "fbgo" + 16 hex digits derived from the host name and the
//     instance name, so it stays the same across restarts (a persistent session needs
//     that). Set it yourself when the broker's ACLs name clients.
//   - topics FILTER [QOS]: repeatable; MQTT wildcards '+' (one level) and '#' (the rest);
//     QOS is 0, 1 or 2 (default: the qos key). "topic" is an alias. At least one is needed.
//   - qos: the QoS of topics that do not name one (default 1).
//   - username, password: MQTT credentials.
//   - tls on|off (default off), tls.verify (default on), tls.ca_file, tls.ca_path (a
//     directory: OpenSSL hash links such as 1a2b3c4d.0 and *.pem / *.crt files; see package
//     internal/tlsconf), tls.crt_file, tls.key_file (client certificate, PEM), tls.vhost
//     (server name to verify; default host), tls.debug (accepted, no effect).
//   - clean_session on|off (default on). Off asks the broker for a persistent session:
//     it keeps the subscriptions and queues QoS 1/2 messages while this input is away
//     (restart, network loss), and sends them when it comes back.
//   - keepalive (default 60s), connect_timeout (default 10s), reconnect_max_interval
//     (default 30s): connection attempts and reconnections after a loss back off from 1s,
//     doubling, up to this. The subscriptions are made again after every (re)connection.
//   - format json|raw (default json): json turns a payload holding a JSON object into one
//     record and a JSON array of objects into one record per object; any other payload
//     (not JSON, a JSON number or string, an array with a non-object) goes whole into
//     payload_key. raw puts every payload into payload_key.
//   - payload_key (default "payload"): where a raw payload goes, as a string (as bytes
//     when it is not valid UTF-8).
//   - topic_key (default "topic"): the record gets the message's topic under this key,
//     unless the payload has that key already. "off" (or "none") leaves it out.
//   - tag_from_topic on|off (default on), and the common tag key, decide each record's
//     tag. With tag_from_topic on, the tag is PREFIX.TOPIC with the topic's '/' turned into '.',
//     where PREFIX is the instance's tag, or "mqtt" when no tag is set: sensors/room1/temp
//     becomes mqtt.sensors.room1.temp. (A tag equal to the instance's name or alias counts
//     as not set.) A tag holding $TOPIC or $TOPIC[N] is a template instead: $TOPIC is
//     the dotted topic and $TOPIC[N] its level N counted from 0 (empty when the topic
//     has fewer levels), so "iot.$TOPIC[1]" tags sensors/room1/temp as iot.room1. (Not
//     ${topic}: the configuration expands ${...} as a variable first.) With
//     tag_from_topic off and no template every record gets the instance's tag.
//   - listen, buffer_size: Fluent Bit's in_mqtt keys; set, they are an error explaining
//     the difference, so a configuration written for it does not load silently wrong.
//
// Delivery. Messages are acknowledged (QoS 1 PUBACK, QoS 2 PUBREC) only after all their
// records are in the engine's buffer: a crash or a stop before that leaves them
// unacknowledged, and the broker sends them again (to a persistent session, also across a
// reconnection), so delivery is at least once and duplicates are possible. With
// clean_session on, messages the broker had sent but that were not acknowledged when the
// connection dropped, and messages published while disconnected, are lost by MQTT's
// definition of a clean session; use clean_session off (and a broker with persistence)
// when that matters. Retained messages are delivered again each time the subscriptions
// are made, i.e. after every reconnection.
//
// Backpressure. Messages go, in arrival order, through a queue of 256 messages to one
// goroutine that emits them and acknowledges them. When the engine pauses the input
// (mem_buf_limit) that goroutine blocks, nothing is acknowledged, and the broker stops
// sending QoS 1/2 messages once its in-flight window for this client is full (mosquitto's
// max_inflight_messages, 20 by default): the connection stays up and keepalives go on,
// while the broker queues further messages for the session (up to its
// max_queued_messages, 1000 by default in mosquitto, beyond which the broker drops them —
// raise it for bursty devices). QoS 0 messages have no window: when the queue is full, the
// client stops reading from the socket, which eventually costs a keepalive timeout and a
// reconnection. Nothing is dropped by this input.
package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mqttconn"
	"github.com/fluentbit-go/fluentbit-go/internal/template"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the MQTT subscriber input. Set the fields (or let the engine decode them), then
// call Init before Run.
type Input struct {
	mqttconn.Options
	Topics       []string `conf:"topics,topic"`
	QoS          int      `conf:"qos"`
	CleanSession bool     `conf:"clean_session"`
	Format       string   `conf:"format"`
	PayloadKey   string   `conf:"payload_key"`
	TopicKey     string   `conf:"topic_key"`
	TagFromTopic bool     `conf:"tag_from_topic"`
	// Fluent Bit's in_mqtt keys: accepted only to explain, at load time, that this input
	// subscribes to a broker rather than being one.
	Listen     string `conf:"listen"`
	BufferSize string `conf:"buffer_size"`

	filters  map[string]byte
	raw      bool
	topicKey string
	clientID string
	tagger   tagger
	log      *slog.Logger

	onSubscribed func() // tests: called after each acknowledged SUBSCRIBE
}

// New returns an Input with the defaults.
func New() *Input {
	return &Input{
		Options:      mqttconn.Defaults(),
		QoS:          1,
		CleanSession: true,
		Format:       "json",
		PayloadKey:   "payload",
		TopicKey:     "topic",
		TagFromTopic: true,
	}
}

func init() { pipeline.RegisterInput("mqtt", func() pipeline.Input { return New() }) }

// queueLen is how many received messages wait for the emitting goroutine. It is above
// common brokers' in-flight windows (mosquitto 20, EMQX 32), so that under backpressure a
// QoS 1/2 subscription stalls at the broker, not in the client's socket reader.
const queueLen = 256

// subscribeTimeout bounds the wait for a SUBACK.
const subscribeTimeout = 30 * time.Second

// Validate checks the keys without side effects.
func (in *Input) Validate() error {
	if in.Listen != "" {
		return config.KeyErrorf("listen", "this mqtt input subscribes to a broker; it does not listen like Fluent Bit's in_mqtt: set host and port to your broker's and topics to what to subscribe to")
	}
	if in.BufferSize != "" {
		return config.KeyErrorf("buffer_size", "not used: messages of any size the broker accepts are taken (Fluent Bit's in_mqtt drops larger ones)")
	}
	if err := in.Options.Validate(); err != nil {
		return err
	}
	if in.QoS < 0 || in.QoS > 2 {
		return config.KeyErrorf("qos", "%d: want 0, 1 or 2", in.QoS)
	}
	if len(in.Topics) == 0 {
		return config.KeyErrorf("topics", "no topic to subscribe to: add e.g. `topics sensors/#`")
	}
	filters := make(map[string]byte, len(in.Topics))
	for _, t := range in.Topics {
		f, q, err := parseTopic(t, byte(in.QoS))
		if err != nil {
			return config.KeyErrorf("topics", "%v", err)
		}
		filters[f] = q
	}
	switch strings.ToLower(in.Format) {
	case "", "json":
		in.raw = false
	case "raw":
		in.raw = true
	default:
		return config.KeyErrorf("format", "%q: want json or raw", in.Format)
	}
	if in.PayloadKey == "" {
		return config.KeyErrorf("payload_key", "empty: raw payloads need a key to go under")
	}
	switch strings.ToLower(in.TopicKey) {
	case "", "off", "none":
		in.topicKey = ""
	default:
		in.topicKey = in.TopicKey
	}
	in.filters = filters
	return nil
}

// parseTopic reads "FILTER [QOS]".
func parseTopic(s string, defQoS byte) (string, byte, error) {
	fields := strings.Fields(s)
	switch len(fields) {
	case 1:
	case 2:
		q, err := strconv.Atoi(fields[1])
		if err != nil || q < 0 || q > 2 {
			return "", 0, fmt.Errorf("%q: QoS %q: want 0, 1 or 2", s, fields[1])
		}
		defQoS = byte(q)
	default:
		return "", 0, fmt.Errorf("%q: want a topic filter and an optional QoS (topics with spaces are not supported)", s)
	}
	if err := mqttconn.ValidTopicFilter(fields[0]); err != nil {
		return "", 0, err
	}
	return fields[0], defQoS, nil
}

// Init validates the keys, settles the client id and the tag rule, and checks that the
// TLS files load. It does not connect: Run does, and keeps trying while the broker is away.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if _, err := in.TLSConfig(); err != nil {
		return err
	}
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.Default()
	}
	in.clientID = in.ClientID
	if in.clientID == "" {
		in.clientID = mqttconn.DefaultClientID("in", env.Name)
	}
	tag := env.Tag
	if tag == env.Name {
		tag = ""
	}
	var err error
	if in.tagger, err = newTagger(tag, env.Tag, in.TagFromTopic); err != nil {
		return config.KeyErrorf("tag", "%v", err)
	}
	if !in.CleanSession && in.ClientID == "" {
		in.log.Info("mqtt: persistent session under a generated client id; set client_id to keep it if the host or the instance's position in the configuration changes", "client_id", in.clientID)
	}
	return nil
}

// ClientIDInUse returns the client id Init settled on.
func (in *Input) ClientIDInUse() string { return in.clientID }

// Run connects, subscribes and emits records until ctx is done.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	po, err := in.ClientOptions(in.clientID)
	if err != nil {
		return err
	}
	queue := make(chan paho.Message, queueLen)
	stop := make(chan struct{})
	po.SetCleanSession(in.CleanSession).
		SetOrderMatters(true). // one message at a time into the queue, in arrival order
		SetAutoAckDisabled(true).
		SetResumeSubs(false).
		// Every message goes to this one handler, routed or not: a persistent session's
		// queued messages arrive right after CONNACK, before our SUBSCRIBE is answered.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			select {
			case queue <- m:
			case <-stop:
			}
		}).
		SetOnConnectHandler(func(c paho.Client) { in.subscribe(ctx, c) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			in.log.Warn("mqtt: connection lost; reconnecting", "broker", in.Addr(), "err", err)
		}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			in.log.Debug("mqtt: reconnecting", "broker", in.Addr())
		})
	c := paho.NewClient(po)

	var wg sync.WaitGroup
	wg.Add(1)
	workerErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		workerErr <- in.work(ctx, emit, queue, stop)
	}()
	defer func() {
		close(stop)
		c.Disconnect(250)
		wg.Wait()
	}()
	if err := mqttconn.Connect(ctx, c, in.log, in.Addr(), in.ReconnectMaxInterval); err != nil {
		return nil // ctx is done
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-workerErr:
		if errors.Is(err, pipeline.ErrStopped) || ctx.Err() != nil {
			return nil
		}
		return err
	}
}

// subscribe (re)makes the subscriptions; it runs after every connection.
func (in *Input) subscribe(ctx context.Context, c paho.Client) {
	in.log.Info("mqtt: connected", "broker", in.Addr(), "client_id", in.clientID)
	tok := c.SubscribeMultiple(in.filters, nil)
	if err := mqttconn.Wait(ctx, tok, subscribeTimeout); err != nil {
		if ctx.Err() == nil {
			in.log.Error("mqtt: subscribe failed", "err", err)
		}
		return
	}
	if in.onSubscribed != nil {
		defer in.onSubscribed()
	}
	st, ok := tok.(*paho.SubscribeToken)
	if !ok {
		return
	}
	for f, granted := range st.Result() {
		if granted == 0x80 {
			in.log.Error("mqtt: the broker refused the subscription (ACL?)", "topic", f)
		} else if want := in.filters[f]; granted < want {
			in.log.Warn("mqtt: the broker granted a lower QoS than asked", "topic", f, "qos", want, "granted", granted)
		}
	}
}

// work emits queued messages and acknowledges each once its records are in the buffer.
func (in *Input) work(ctx context.Context, emit pipeline.Emitter, queue <-chan paho.Message, stop <-chan struct{}) error {
	for {
		var m paho.Message
		select {
		case <-ctx.Done():
			return nil
		case <-stop:
			return nil
		case m = <-queue:
		}
		now := time.Now()
		topic := m.Topic()
		tag := in.tagger.tag(topic)
		for _, rec := range in.records(topic, m.Payload()) {
			if err := emit.Emit(tag, event.Event{Time: now, Record: rec}); err != nil {
				if errors.Is(err, pipeline.ErrStopped) {
					return err // not acknowledged: the broker sends it again
				}
				in.log.Error("mqtt: emit failed; message dropped", "topic", topic, "err", err)
			}
		}
		m.Ack()
	}
}

// records turns one payload into records.
func (in *Input) records(topic string, payload []byte) []event.Map {
	var recs []event.Map
	if !in.raw {
		trimmed := bytes.TrimSpace(payload)
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
			if r, err := event.RecordsFromJSON(trimmed); err == nil {
				recs = r
			}
		}
	}
	if recs == nil {
		var v any
		if utf8.Valid(payload) {
			v = string(payload)
		} else {
			v = bytes.Clone(payload)
		}
		recs = []event.Map{{{in.PayloadKey, v}}}
	}
	if in.topicKey != "" {
		for i := range recs {
			if !recs[i].Has(in.topicKey) {
				recs[i] = append(recs[i], event.KV{Key: in.topicKey, Value: topic})
			}
		}
	}
	return recs
}

// tagger maps a topic to a tag.
type tagger struct {
	fixed  string // tag_from_topic off, no template
	prefix string // prefix + "." + dotted topic
	tmpl   *template.Template
	mode   int
}

const (
	tagFixed = iota
	tagPrefix
	tagTemplate
)

// newTagger builds the tag rule. set is the configured tag ("" when not set), instance the
// tag the engine gives the instance.
func newTagger(set, instance string, fromTopic bool) (tagger, error) {
	if strings.Contains(set, tagPlaceholder) {
		tmpl, err := template.Parse(set, template.Syntax{TagName: tagPlaceholder[1:], Sep: '/'})
		return tagger{mode: tagTemplate, tmpl: tmpl}, err
	}
	if !fromTopic {
		return tagger{mode: tagFixed, fixed: instance}, nil
	}
	if set == "" {
		set = "mqtt"
	}
	return tagger{mode: tagPrefix, prefix: set}, nil
}

// tagPlaceholder starts a topic placeholder in a tag template. It is $TOPIC, as Fluent
// Bit writes $TAG in its templates, and not ${topic}: the configuration expands ${...}
// as a variable before a plugin sees it.
const tagPlaceholder = "$TOPIC"

func (t *tagger) tag(topic string) string {
	switch t.mode {
	case tagFixed:
		return t.fixed
	case tagPrefix:
		return t.prefix + "." + strings.ReplaceAll(topic, "/", ".")
	}
	var b strings.Builder
	for _, p := range t.tmpl.Parts() {
		switch p.Kind {
		case template.Literal:
			b.WriteString(p.Lit)
		case template.Tag:
			b.WriteString(strings.ReplaceAll(topic, "/", "."))
		case template.TagPart:
			b.WriteString(template.Split(topic, p.N, '/'))
		}
	}
	return b.String()
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
