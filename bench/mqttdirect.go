package main

import (
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"os"
	"strconv"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqtt-direct is the ceiling of mqtt-forward: the same publishers and broker, with a bare
// paho subscriber (QoS 1, in the bench process) in the agent's place, decoding each
// payload and taking its latency. Read mqtt-forward's records/s against it: what the
// agent costs on a path the broker and the two cores already bound. The subscriber shares
// the bench process with the publishers, so its latency includes that process's own
// queueing: compare throughput, not the latency columns.
func init() {
	register(&Scenario{
		Name:    "mqtt-direct",
		Desc:    "the mqtt-forward publishers and broker with a bare paho subscriber in the agent's place: the ceiling of mqtt-forward",
		Records: 250_000,
		Run:     runMQTTDirect,
	})
}

func runMQTTDirect(env *Env) (Result, error) {
	broker, brokerPort, err := startMosquitto(env)
	if err != nil {
		return Result{}, err
	}
	sk, err := startLatencySink(env.Records) // its counting, not its socket
	if err != nil {
		return Result{}, err
	}
	defer sk.close()
	sub, err := mqttConnect("tcp://127.0.0.1:"+strconv.Itoa(brokerPort), "bench-direct-sub")
	if err != nil {
		return Result{}, err
	}
	defer sub.Disconnect(100)
	var decodeErr error
	tok := sub.Subscribe(mqttTopic, 1, func(_ paho.Client, m paho.Message) {
		now := time.Now()
		rec, err := decodePayload(m.Payload())
		sk.mu.Lock()
		defer sk.mu.Unlock()
		if err != nil {
			if decodeErr == nil {
				decodeErr = err
			}
			return
		}
		sk.record(rec, now)
	})
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return Result{}, fmt.Errorf("subscribe: %v", tok.Error())
	}

	var brokerCPU0, selfCPU0 time.Duration
	start, published, err := mqttLoad(brokerPort, sk, env.Records, func() {
		brokerCPU0, selfCPU0 = broker.CPU(), procCPU(os.Getpid())
	})
	if err != nil {
		return Result{}, err
	}
	brokerCPU, selfCPU := broker.CPU()-brokerCPU0, procCPU(os.Getpid())-selfCPU0
	if _, _, err := broker.Stop(); err != nil {
		return Result{}, fmt.Errorf("mosquitto: %w", err)
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if decodeErr != nil || sk.bad > 0 {
		return Result{}, fmt.Errorf("the subscriber got undecodable or unmarked records: %v (%d bad; first %v)", decodeErr, sk.bad, sk.badRec)
	}
	res := Result{Records: sk.unique, Elapsed: sk.last.Sub(start)}
	res.P50, res.P99 = percentiles(sk.lat)
	secPerM := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/float64(env.Records)*1e6) }
	res.Note = fmt.Sprintf("no agent (a paho subscriber in the bench process: compare records/s, not latency); %d publishers, QoS 1, all published in %.1fs of %.1fs; CPU s/M records: mosquitto %s, publishers+subscriber %s; %d duplicates",
		mqttPublishers, published.Seconds(), res.Elapsed.Seconds(), secPerM(brokerCPU), secPerM(selfCPU), sk.dups)
	return res, nil
}

// decodePayload decodes a JSON object keeping integers exact (sent_ns is beyond a
// float64's 53 bits).
func decodePayload(p []byte) (event.Map, error) {
	return event.RecordFromJSON(p)
}
