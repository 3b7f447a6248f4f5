package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/forward"
)

// The mqtt-forward scenario: a real mosquitto broker on 127.0.0.1, a few paho publishers
// sending small JSON telemetry records with QoS 1, the agent subscribed to them (mqtt input,
// QoS 1) forwarding to a sink of ours (forward output). Every record carries the time it
// was published, and the sink decodes every record it receives, so the latency is end to
// end: publish -> broker -> agent (buffer, flush) -> sink. The sink checks that every record
// arrived (QoS 1 is at least once: duplicates are counted, a loss fails the run).
func init() {
	register(&Scenario{
		Name: "mqtt-forward",
		Desc: "paho publishers (QoS 1) -> mosquitto -> agent (mqtt in, QoS 1 -> forward out) -> sink; end-to-end latency",
		// About 7 s a run: the whole path does 35-40k records/s on 2 cores.
		Records: 250_000,
		Run:     runMQTTForward,
	})
}

const (
	// mqttPublishers is how many paho clients publish, each its share of the records.
	mqttPublishers = 4
	// mqttWindow is how many unacknowledged (no PUBACK yet) messages a publisher may have:
	// it keeps the publishers from queueing without bound inside paho, so the time stamped
	// in a message is close to when it goes on the wire.
	mqttWindow = 64
	// mqttFlush is the agent's service flush, which dominates the latency: a record waits
	// in the buffer up to this long.
	mqttFlush = "0.1"
	// mqttTopic is what the agent subscribes to; publisher p publishes to sensors/dP/telemetry.
	mqttTopic = "sensors/+/telemetry"
)

func runMQTTForward(env *Env) (Result, error) {
	broker, brokerPort, err := startMosquitto(env)
	if err != nil {
		return Result{}, err
	}
	sk, err := startLatencySink(env.Records)
	if err != nil {
		return Result{}, err
	}
	defer sk.close()
	_, sinkPort, _ := net.SplitHostPort(sk.addr())
	a, err := env.StartAgent(fmt.Sprintf(`
service:
  flush: %s
  log_level: info
pipeline:
  inputs:
    - name: mqtt
      host: 127.0.0.1
      port: %d
      client_id: bench-agent
      topics: '%s 1'
      format: json
  outputs:
    - name: forward
      match: '*'
      host: 127.0.0.1
      port: %s
`, mqttFlush, brokerPort, mqttTopic, sinkPort))
	if err != nil {
		return Result{}, err
	}
	if err := a.WaitLog("mqtt: connected", 30*time.Second); err != nil {
		return Result{}, err
	}

	var agentCPU0, brokerCPU0, selfCPU0 time.Duration
	start, published, err := mqttLoad(brokerPort, sk, env.Records, func() {
		agentCPU0, brokerCPU0, selfCPU0 = a.CPU(), broker.CPU(), procCPU(os.Getpid())
	})
	if err != nil {
		return Result{}, fmt.Errorf("%w\nagent log:\n%s", err, a.Log())
	}
	agentCPU, brokerCPU, selfCPU := a.CPU()-agentCPU0, broker.CPU()-brokerCPU0, procCPU(os.Getpid())-selfCPU0
	res := Result{AgentCPU: agentCPU, PeakRSS: a.PeakRSS()}
	brokerRSS := broker.PeakRSS()

	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if _, _, err := broker.Stop(); err != nil {
		return Result{}, fmt.Errorf("mosquitto: %w", err)
	}
	// The agent has exited, so its connections to the sink are closed: read them to the end
	// before counting, in case its last flush is still in the sink's socket.
	sk.drain(10 * time.Second)
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.bad > 0 {
		return Result{}, fmt.Errorf("the sink got %d records without an id or sent_ns (first: %v)", sk.bad, sk.badRec)
	}
	// The agent counts every record it took in, duplicates and probes included; all of them
	// must be out, and the sink must have had them all.
	if in != out || out != sk.total {
		return Result{}, fmt.Errorf("agent records in %d, out %d; the sink got %d (%d unique of %d, %d duplicates, %d probes)",
			in, out, sk.total, sk.unique, env.Records, sk.dups, sk.probes)
	}
	res.Records = sk.unique
	res.Elapsed = sk.last.Sub(start)
	res.P50, res.P99 = percentiles(sk.lat)
	secPerM := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/float64(env.Records)*1e6) }
	// Publishing done well before the last arrival means a queue built up at the broker for
	// the agent: the latency is then mostly that queue.
	res.Note = fmt.Sprintf("flush %ss, %d publishers, QoS 1 both ways, all published in %.1fs of %.1fs; CPU s/M records: mosquitto %s, publishers+sink %s; mosquitto peak RSS %.1f MB; %d duplicates",
		mqttFlush, mqttPublishers, published.Seconds(), res.Elapsed.Seconds(), secPerM(brokerCPU), secPerM(selfCPU), float64(brokerRSS)/(1<<20), sk.dups)
	return res, nil
}

// startMosquitto starts a private broker on a free 127.0.0.1 port with a configuration of
// its own (Debian's mosquitto 2.x listens on nothing and refuses anonymous clients unless
// told otherwise). It runs as one of env's processes, so the run's cleanup kills it.
func startMosquitto(env *Env) (*Agent, int, error) {
	bin, err := serverBinary("/usr/sbin/mosquitto", "mosquitto")
	if err != nil {
		return nil, 0, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	conf := []string{
		"listener " + strconv.Itoa(port) + " 127.0.0.1",
		"allow_anonymous true",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"log_type notice",
		"log_type information",
		// The default (1000 per client) makes the broker drop QoS 1 messages for a subscriber
		// that falls behind: a benchmark at full speed would measure loss, not throughput.
		"max_queued_messages 0",
	}
	if os.Geteuid() == 0 {
		conf = append(conf, "user root") // as root, mosquitto would switch to the user mosquitto
	}
	path := filepath.Join(env.Dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Dir = env.Dir
	b, err := env.start(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("mosquitto: %w", err)
	}
	b.peer = true // it logs no totals for Stop to read
	if err := b.WaitLog(" running", 15*time.Second); err != nil {
		return nil, 0, fmt.Errorf("mosquitto: %w", err)
	}
	return b, port, nil
}

// mqttConnect connects a publisher: MQTT 3.1.1, clean session, no reconnection (a
// connection lost in a run fails it).
func mqttConnect(url, id string) (paho.Client, error) {
	o := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetOrderMatters(false)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("publisher %s: connect to %s: %v", id, url, tok.Error())
	}
	return c, nil
}

// mqttLoad connects the publishers, publishes probes until one reaches sk (the broker
// drops what is published before the subscriber's SUBSCRIBE is acknowledged, so the load
// starts on a working path), then has them publish n records and waits until sk has every
// one. before runs just before the load starts, to read CPU counters. It returns when the
// load started and how long publishing took.
func mqttLoad(brokerPort int, sk *latencySink, n int, before func()) (start time.Time, published time.Duration, err error) {
	brokerURL := "tcp://127.0.0.1:" + strconv.Itoa(brokerPort)
	pubs := make([]paho.Client, mqttPublishers)
	for i := range pubs {
		if pubs[i], err = mqttConnect(brokerURL, fmt.Sprintf("bench-pub-%d", i)); err != nil {
			return start, 0, err
		}
		defer pubs[i].Disconnect(100)
	}
	if err := mqttProbe(pubs[0], sk); err != nil {
		return start, 0, err
	}
	timeout := 30*time.Second + time.Duration(n)*time.Millisecond // at least 1k records/s
	deadline := time.Now().Add(timeout)
	before()
	start = time.Now()
	pubErr := make(chan error, mqttPublishers)
	for p, c := range pubs {
		go func() { pubErr <- mqttPublish(c, p, n, deadline) }()
	}
	for range pubs {
		if err := <-pubErr; err != nil {
			return start, 0, fmt.Errorf("publisher: %w (%d of %d records arrived)", err, sk.uniqueCount(), n)
		}
	}
	published = time.Since(start)
	select {
	case <-sk.done:
		return start, published, nil
	case <-time.After(time.Until(deadline)):
		return start, published, fmt.Errorf("%d of %d records arrived within %v (all published in %v)",
			sk.uniqueCount(), n, timeout, published.Round(time.Millisecond))
	}
}

// mqttProbe publishes a probe record every 100 ms until the sink has one (30 s at most).
func mqttProbe(c paho.Client, sk *latencySink) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(30 * time.Second)
	for {
		tok := c.Publish("sensors/probe/telemetry", 1, false, `{"probe":1}`)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return fmt.Errorf("probe publish: %v", tok.Error())
		}
		select {
		case <-sk.probed:
			return nil
		case <-timeout:
			return errors.New("no probe record arrived within 30s: the subscriber did not subscribe (or the agent did not forward)")
		case <-tick.C:
		}
	}
}

// mqttPublish publishes records p, p+mqttPublishers, ... below n with QoS 1, keeping at most
// mqttWindow without a PUBACK.
func mqttPublish(c paho.Client, p, n int, deadline time.Time) error {
	topic := fmt.Sprintf("sensors/d%d/telemetry", p)
	prefix := fmt.Sprintf(`{"device":"d%d","temp":21.5,"id":`, p)
	var ring [mqttWindow]paho.Token
	wait := func(t paho.Token) error {
		if !t.WaitTimeout(time.Until(deadline)) {
			return errors.New("no PUBACK before the deadline")
		}
		return t.Error()
	}
	k := 0
	for id := p; id < n; id += mqttPublishers {
		if t := ring[k%mqttWindow]; t != nil {
			if err := wait(t); err != nil {
				return err
			}
		}
		msg := make([]byte, 0, 96) // paho keeps the payload until it is sent: one per message
		msg = append(msg, prefix...)
		msg = strconv.AppendInt(msg, int64(id), 10)
		msg = append(msg, `,"sent_ns":`...)
		msg = strconv.AppendInt(msg, time.Now().UnixNano(), 10)
		msg = append(msg, '}')
		ring[k%mqttWindow] = c.Publish(topic, 1, false, msg)
		k++
	}
	for _, t := range ring {
		if t != nil {
			if err := wait(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// latencySink receives forward messages, decodes every record and keeps, for each record
// id seen the first time, the latency from its sent_ns to the arrival of its message.
type latencySink struct {
	*tcpServer
	done   chan struct{} // closed once every id in [0, n) has arrived
	probed chan struct{} // closed at the first probe record

	mu     sync.Mutex // guards what follows
	seen   []bool
	unique int             // ids seen
	dups   int             // records whose id was seen before
	probes int             // probe records
	total  int             // all records
	bad    int             // records without an id or a sent_ns
	badRec event.Map       // the first of those
	lat    []time.Duration // one per unique id
	last   time.Time       // when the last unique id arrived
}

func startLatencySink(n int) (*latencySink, error) {
	s := &latencySink{done: make(chan struct{}), probed: make(chan struct{}),
		seen: make([]bool, n), lat: make([]time.Duration, 0, n)}
	srv, err := listenTCP(func(_ *tcpServer, c net.Conn) {
		serveForward(c, "mqtt sink", func(m *forward.Message) {
			// One arrival time for the message: its records came in together.
			now := time.Now()
			s.mu.Lock()
			err := event.Entries(m.Entries, func(ev event.Event) error {
				s.record(ev.Record, now)
				return nil
			})
			s.mu.Unlock()
			if err != nil {
				fmt.Printf("bench: mqtt sink: %v\n", err)
			}
		})
	})
	if err != nil {
		return nil, err
	}
	s.tcpServer = srv
	return s, nil
}

// record accounts for one record; s.mu is held.
func (s *latencySink) record(r event.Map, now time.Time) {
	s.total++
	if r.Has("probe") {
		if s.probes == 0 {
			close(s.probed)
		}
		s.probes++
		return
	}
	id, okID := asInt64(r.Value("id"))
	sent, okSent := asInt64(r.Value("sent_ns"))
	if !okID || !okSent || id < 0 || id >= int64(len(s.seen)) {
		if s.bad == 0 {
			s.badRec = r
		}
		s.bad++
		return
	}
	if s.seen[id] {
		s.dups++
		return
	}
	s.seen[id] = true
	s.unique++
	s.lat = append(s.lat, now.Sub(time.Unix(0, sent)))
	s.last = now
	if s.unique == len(s.seen) {
		close(s.done)
	}
}

func (s *latencySink) uniqueCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unique
}

// asInt64 reads an integer that went JSON -> record -> msgpack -> record.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		return int64(x), true
	case int:
		return int64(x), true
	case float64:
		return int64(x), true
	}
	return 0, false
}

// procCPU returns a process's user+system CPU time from /proc/PID/stat (10 ms ticks), or 0.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')') // the command name may hold spaces
	if i < 0 || i+2 > len(data) {
		return 0
	}
	f := bytes.Fields(data[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}
