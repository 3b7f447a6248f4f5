package mosquittotest

import (
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// clientTimeout bounds every wait of the test clients.
const clientTimeout = 30 * time.Second

// Client connects a paho client to the broker for a test: MQTT 3.1.1, automatic
// reconnection with a backoff capped at 1s, a persistent session unless clean. onConnect,
// when not nil, runs after every (re)connection. The client is disconnected when the test
// ends.
func (b *Broker) Client(t testing.TB, clientID string, clean bool, onConnect func(paho.Client)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().
		AddBroker(b.URL()).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(clean).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).
		SetOrderMatters(false)
	if onConnect != nil {
		o.SetOnConnectHandler(onConnect)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(clientTimeout) || tok.Error() != nil {
		t.Fatalf("mosquittotest: client %s: connect to %s: %v", clientID, b.Addr(), tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Publish publishes one message and waits for the broker's acknowledgement, publishing it
// again (a duplicate, which QoS 1 allows) while the broker is away; it fails the test if
// the message is not acknowledged within 30s.
func Publish(t testing.TB, c paho.Client, topic string, qos byte, retain bool, payload []byte) {
	t.Helper()
	deadline := time.Now().Add(clientTimeout)
	for {
		tok := c.Publish(topic, qos, retain, payload)
		if tok.WaitTimeout(time.Until(deadline)) && tok.Error() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquittotest: publish to %s not acknowledged within %v: %v", topic, clientTimeout, tok.Error())
		}
		// The token failed at once (not connected): wait for the reconnection.
		for !c.IsConnectionOpen() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // paho offers no signal for "connected again" outside OnConnect
		}
	}
}

// Message is one message a Collector received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
}

// Collector keeps the messages a test subscriber receives.
type Collector struct {
	mu      sync.Mutex
	msgs    []Message
	changed chan struct{}
}

func (c *Collector) add(m paho.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, Message{Topic: m.Topic(), Payload: slices.Clone(m.Payload()), Retained: m.Retained(), QoS: m.Qos()})
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Messages returns a copy of what was received, in order.
func (c *Collector) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// Wait blocks until done(messages so far) is true or timeout passes, and reports whether
// it became true.
func (c *Collector) Wait(timeout time.Duration, done func([]Message) bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if done(c.msgs) {
			c.mu.Unlock()
			return true
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			return done(c.msgs)
		}
	}
}

// Subscribe connects a subscriber with a persistent session (so it misses nothing while
// the broker restarts, given persistence), subscribes to filter at qos after every
// connection, and returns once the first subscription is acknowledged.
func (b *Broker) Subscribe(t testing.TB, clientID, filter string, qos byte) *Collector {
	t.Helper()
	col := &Collector{}
	subscribed := make(chan error, 1)
	b.Client(t, clientID, false, func(c paho.Client) {
		tok := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) { col.add(m) })
		tok.WaitTimeout(clientTimeout)
		select {
		case subscribed <- tok.Error():
		default:
		}
	})
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("mosquittotest: subscribe %s: %v", filter, err)
		}
	case <-time.After(clientTimeout):
		t.Fatalf("mosquittotest: subscribe %s: no SUBACK within %v", filter, clientTimeout)
	}
	return col
}
