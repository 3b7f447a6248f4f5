package mqtt

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// newInput configures an input for broker b from key/value pairs, as the engine would, and
// inits it.
func newInput(t *testing.T, b *mosquittotest.Broker, kv ...string) (*Input, *pipelinetest.Logs, <-chan struct{}) {
	t.Helper()
	return newInputTag(t, b, "", append([]string{"reconnect_max_interval", "1s"}, kv...)...)
}

// run starts in.Run (in's Init has run) and returns a function that stops it and waits for it.
func run(t *testing.T, in *Input, emit pipeline.Emitter) (stop func()) {
	t.Helper()
	r := pipelinetest.StartInput(t, struct{ pipeline.Input }{in}, pipeline.Env{}, emit)
	return func() {
		if err := r.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitSubscribed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("the input did not subscribe within 30s")
	}
}

// seqs counts the distinct "seq" values among the records, and the duplicates.
func seqs(recs []pipelinetest.Record) (unique map[int64]bool, dups int) {
	unique = map[int64]bool{}
	for _, r := range recs {
		n, _ := r.Event.Record.Value("seq").(int64)
		if unique[n] {
			dups++
		}
		unique[n] = true
	}
	return unique, dups
}

// waitUnique waits until want distinct seq values were recorded, or timeout.
func waitUnique(rec *pipelinetest.Recorder, want int, timeout time.Duration) (unique, dups int) {
	deadline := time.Now().Add(timeout)
	n := want
	for {
		rec.Wait(n, time.Until(deadline))
		recs := rec.Records()
		u, d := seqs(recs)
		if len(u) >= want || time.Now().After(deadline) {
			return len(u), d
		}
		n = len(recs) + want - len(u) // at least the missing ones, beyond this snapshot
	}
}

func TestQoS1MessagesAllArriveAcrossABrokerRestart(t *testing.T) {
	const total = 10000
	b := mosquittotest.Start(t, mosquittotest.WithPersistence(), mosquittotest.WithLines("max_queued_messages 0"))
	in, logs, subscribed := newInput(t, b, "topics", "load/# 1", "clean_session", "off", "client_id", "load-sub", "keepalive", "5s")
	rec := pipelinetest.NewRecorder()
	run(t, in, rec)
	waitSubscribed(t, subscribed)

	pub := b.Client(t, "load-pub", false, nil)
	// Publish in windows of 1000 without waiting for each PUBACK, and restart the broker
	// right after sending the sixth window: messages are then in flight both ways.
	const win = 1000
	began := time.Now()
	for start := 0; start < total; start += win {
		toks := make([]paho.Token, 0, win)
		for i := start; i < start+win; i++ {
			toks = append(toks, pub.Publish(fmt.Sprintf("load/%d", i%10), 1, false, []byte(fmt.Sprintf(`{"seq":%d}`, i))))
		}
		if start == 5*win {
			t.Logf("restarting the broker with %d records received so far", rec.Len())
			b.Stop() // SIGTERM: the broker saves sessions and queued messages
			b.Start()
			t.Logf("restarted in %v", time.Since(began))
		}
		// Tokens of messages in flight when the broker stopped may never complete: give the
		// window one deadline, then publish what is still unacknowledged again.
		deadline := time.Now().Add(10 * time.Second)
		for j, tok := range toks {
			if !tok.WaitTimeout(time.Until(deadline)) || tok.Error() != nil {
				i := start + j // not acknowledged: publish it again (QoS 1 allows the duplicate)
				mosquittotest.Publish(t, pub, fmt.Sprintf("load/%d", i%10), 1, false, []byte(fmt.Sprintf(`{"seq":%d}`, i)))
			}
		}
	}
	t.Logf("all published in %v", time.Since(began))
	unique, dups := waitUnique(rec, total, 60*time.Second)
	t.Logf("%d messages published at QoS 1 with a broker restart after %d: %d distinct arrived, %d duplicates, %d records; %d reconnections logged",
		total, total/2, unique, dups, rec.Len(), countLogs(logs, "connection lost"))
	if unique != total {
		t.Fatalf("%d of %d messages arrived", unique, total)
	}
	for _, r := range rec.Records()[:10] {
		if !strings.HasPrefix(r.Tag, "mqtt.load.") || !strings.HasPrefix(r.Event.Record.Value("topic").(string), "load/") {
			t.Fatalf("record %v with tag %q: want tag mqtt.load.N and topic load/N", r.Event.Record, r.Tag)
		}
	}
}

func countLogs(l *pipelinetest.Logs, substr string) int {
	n := 0
	for _, r := range l.Records() {
		if strings.Contains(r.Message, substr) {
			n++
		}
	}
	return n
}

func TestPersistentSessionKeepsWhatWasPublishedWhileAway(t *testing.T) {
	b := mosquittotest.Start(t)
	in, _, subscribed := newInput(t, b, "topics", "away/+", "clean_session", "off", "client_id", "away-sub")
	rec := pipelinetest.NewRecorder()
	stop := run(t, in, rec)
	waitSubscribed(t, subscribed)
	stop()

	pub := b.Client(t, "away-pub", true, nil)
	for i := 0; i < 100; i++ {
		mosquittotest.Publish(t, pub, "away/x", 1, false, []byte(fmt.Sprintf(`{"seq":%d}`, i)))
	}
	run(t, in, rec)
	if unique, _ := waitUnique(rec, 100, 30*time.Second); unique != 100 {
		t.Fatalf("%d of 100 messages published while the input was stopped arrived", unique)
	}
}

func TestCleanSessionForgetsWhatWasPublishedWhileAway(t *testing.T) {
	b := mosquittotest.Start(t)
	in, _, subscribed := newInput(t, b, "topics", "gone/+", "client_id", "clean-sub")
	rec := pipelinetest.NewRecorder()
	stop := run(t, in, rec)
	waitSubscribed(t, subscribed)
	stop()
	pub := b.Client(t, "clean-pub", true, nil)
	mosquittotest.Publish(t, pub, "gone/x", 1, false, []byte(`{"seq":1}`))
	run(t, in, rec)
	waitSubscribed(t, subscribed)
	mosquittotest.Publish(t, pub, "gone/x", 1, false, []byte(`{"seq":2}`))
	if !rec.Wait(1, 30*time.Second) {
		t.Fatal("nothing arrived after resubscribing")
	}
	if got := rec.Records()[0].Event.Record.Value("seq"); got != int64(2) {
		t.Fatalf("first record seq %v: a clean session should not get what was published while away", got)
	}
}

// gate is an Emitter that blocks while closed, as the engine does while the input is
// paused by mem_buf_limit.
type gate struct {
	*pipelinetest.Recorder
	open    chan struct{}
	blocked chan struct{} // gets a value when an Emit starts waiting
	fail    error         // returned instead of waiting, when set
}

func (g *gate) Emit(tag string, ev event.Event) error {
	select {
	case <-g.open:
	default:
		if g.fail != nil {
			return g.fail
		}
		select {
		case g.blocked <- struct{}{}:
		default:
		}
		<-g.open
	}
	return g.Recorder.Emit(tag, ev)
}

func TestPausedPipelineLosesNothing(t *testing.T) {
	const total = 500 // below mosquitto's default max_queued_messages (1000)
	b := mosquittotest.Start(t)
	in, logs, subscribed := newInput(t, b, "topics", "slow/#", "clean_session", "off", "client_id", "slow-sub")
	g := &gate{Recorder: pipelinetest.NewRecorder(), open: make(chan struct{}), blocked: make(chan struct{}, 1)}
	run(t, in, g)
	waitSubscribed(t, subscribed)

	pub := b.Client(t, "slow-pub", true, nil)
	for i := 0; i < total; i++ {
		mosquittotest.Publish(t, pub, "slow/a", 1, false, []byte(fmt.Sprintf(`{"seq":%d}`, i)))
	}
	select {
	case <-g.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the input never tried to emit")
	}
	if g.Len() != 0 {
		t.Fatalf("%d records got through a closed gate", g.Len())
	}
	close(g.open) // the engine resumes the input
	unique, dups := waitUnique(g.Recorder, total, 30*time.Second)
	t.Logf("paused while %d messages were published: %d arrived after resuming, %d duplicates, %d connection losses", total, unique, dups, countLogs(logs, "connection lost"))
	if unique != total {
		t.Fatalf("%d of %d messages arrived after the pipeline resumed", unique, total)
	}
}

func TestMessageNotInTheBufferIsNotAcknowledged(t *testing.T) {
	b := mosquittotest.Start(t)
	in, _, subscribed := newInput(t, b, "topics", "ack/#", "clean_session", "off", "client_id", "ack-sub")
	g := &gate{Recorder: pipelinetest.NewRecorder(), open: make(chan struct{}), blocked: make(chan struct{}, 1), fail: pipeline.ErrStopped}
	stop := run(t, in, g) // Emit fails: the engine is stopping
	waitSubscribed(t, subscribed)
	pub := b.Client(t, "ack-pub", true, nil)
	mosquittotest.Publish(t, pub, "ack/1", 1, false, []byte(`{"seq":7}`))
	stop()

	close(g.open) // a new engine takes records
	run(t, in, g)
	if !g.Wait(1, 30*time.Second) {
		t.Fatal("the broker did not send the unacknowledged message again")
	}
	if got := g.Records()[0].Event.Record.Value("seq"); got != int64(7) {
		t.Fatalf("got seq %v, want 7", got)
	}
}

func TestRecordsTagsAndPayloadsThroughABroker(t *testing.T) {
	b := mosquittotest.Start(t)
	pub := b.Client(t, "shape-pub", true, nil)
	for _, tc := range []struct {
		name    string
		kv      []string
		topic   string
		payload string
		wantTag string
		want    []map[string]any
	}{
		{"json object", nil, "sensors/room1/temp", `{"t":21.5}`, "mqtt.sensors.room1.temp",
			[]map[string]any{{"t": 21.5, "topic": "sensors/room1/temp"}}},
		{"json array", []string{"tag", "iot"}, "sensors/room2/temp", `[{"t":1},{"t":2}]`, "iot.sensors.room2.temp",
			[]map[string]any{{"t": int64(1), "topic": "sensors/room2/temp"}, {"t": int64(2), "topic": "sensors/room2/temp"}}},
		{"not json", []string{"topic_key", "off"}, "sensors/x", `21.5 C`, "mqtt.sensors.x",
			[]map[string]any{{"payload": "21.5 C"}}},
		{"raw", []string{"format", "raw", "payload_key", "msg"}, "sensors/x", `{"a":1}`, "mqtt.sensors.x",
			[]map[string]any{{"msg": `{"a":1}`, "topic": "sensors/x"}}},
		{"template", []string{"tag", "site.$TOPIC[1].$TOPIC"}, "sensors/room3/hum", `{"h":40}`, "site.room3.sensors.room3.hum",
			[]map[string]any{{"h": int64(40), "topic": "sensors/room3/hum"}}},
		{"fixed tag", []string{"tag", "all", "tag_from_topic", "off"}, "sensors/y", `{}`, "all",
			[]map[string]any{{"topic": "sensors/y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := append([]string{"topics", "sensors/# 0", "client_id", "shape-" + strings.ReplaceAll(tc.name, " ", "-")}, tc.kv...)
			var tag string
			var rest []string
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == "tag" { // a common key: the engine passes it in Env
					tag = kv[i+1]
					continue
				}
				rest = append(rest, kv[i], kv[i+1])
			}
			in, _, subscribed := newInputTag(t, b, tag, rest...)
			rec := pipelinetest.NewRecorder()
			run(t, in, rec)
			waitSubscribed(t, subscribed)
			mosquittotest.Publish(t, pub, tc.topic, 1, false, []byte(tc.payload))
			if !rec.Wait(len(tc.want), 30*time.Second) {
				t.Fatalf("got %d records, want %d", rec.Len(), len(tc.want))
			}
			for i, r := range rec.Records() {
				if r.Tag != tc.wantTag {
					t.Errorf("tag %q, want %q", r.Tag, tc.wantTag)
				}
				got, _ := json.Marshal(r.Event.Record)
				want, _ := json.Marshal(tc.want[i])
				if string(got) != string(want) {
					t.Errorf("record %s, want %s", got, want)
				}
			}
		})
	}
}

// newInputTag is newInput with the instance tag the engine would pass ("" for none).
func newInputTag(t *testing.T, b *mosquittotest.Broker, tag string, kv ...string) (*Input, *pipelinetest.Logs, <-chan struct{}) {
	t.Helper()
	in := pipelinetest.Input[*Input](t, "mqtt", append([]string{"host", b.Host(), "port", fmt.Sprint(b.Port())}, kv...)...)
	var logs pipelinetest.Logs
	env := logs.Env("mqtt.0")
	if tag != "" {
		env.Tag = tag
	}
	pipelinetest.Init(t, in, env)
	subscribed := make(chan struct{}, 16)
	in.onSubscribed = func() {
		select {
		case subscribed <- struct{}{}:
		default:
		}
	}
	return in, &logs, subscribed
}

func TestQoS2MessagesArriveOnce(t *testing.T) {
	b := mosquittotest.Start(t)
	in, _, subscribed := newInput(t, b, "topics", "q2/# 2", "client_id", "q2-sub")
	rec := pipelinetest.NewRecorder()
	run(t, in, rec)
	waitSubscribed(t, subscribed)
	pub := b.Client(t, "q2-pub", true, nil)
	for i := 0; i < 50; i++ {
		mosquittotest.Publish(t, pub, "q2/a", 2, false, []byte(fmt.Sprintf(`{"seq":%d}`, i)))
	}
	unique, dups := waitUnique(rec, 50, 30*time.Second)
	if unique != 50 || dups != 0 {
		t.Fatalf("QoS 2: %d distinct, %d duplicates; want 50 and 0", unique, dups)
	}
}

// A broker killed without persistence comes back knowing nothing of our session: the input
// must subscribe again by itself. What the broker had accepted but not delivered before it
// died is lost on the broker's side; the count is reported.
func TestResubscribesAfterTheBrokerLostItsState(t *testing.T) {
	const half = 1000
	b := mosquittotest.Start(t, mosquittotest.WithLines("max_queued_messages 0"))
	in, _, subscribed := newInput(t, b, "topics", "crash/#", "clean_session", "off", "client_id", "crash-sub")
	rec := pipelinetest.NewRecorder()
	run(t, in, rec)
	waitSubscribed(t, subscribed)

	pub := b.Client(t, "crash-pub", true, nil)
	// The messages in flight when the broker dies go out at QoS 0: paho resends QoS 1
	// messages it still holds on reconnect, and that resend races with its own writer
	// (paho v1.5.1 client.resume sets the DUP flag while startOutgoingComms packs the
	// packet; go test -race reports it). What arrives of them is only counted.
	toks := make([]paho.Token, 0, half)
	for i := 0; i < half; i++ {
		toks = append(toks, pub.Publish("crash/a", 0, false, []byte(fmt.Sprintf(`{"seq":%d}`, i))))
	}
	b.Kill() // SIGKILL, no persistence: sessions and queued messages are gone
	b.Start()
	for _, tok := range toks {
		tok.WaitTimeout(time.Millisecond) // settled or not: the broker is gone
	}
	waitSubscribed(t, subscribed) // the subscription made again on the fresh broker
	for i := half; i < 2*half; i++ {
		mosquittotest.Publish(t, pub, "crash/a", 1, false, []byte(fmt.Sprintf(`{"seq":%d}`, i)))
	}
	deadline := time.Now().Add(30 * time.Second)
	var after, before int
	for {
		recs := rec.Records()
		u, _ := seqs(recs)
		after, before = 0, 0
		for s := range u {
			if s >= half {
				after++
			} else {
				before++
			}
		}
		if after == half || time.Now().After(deadline) {
			break
		}
		rec.Wait(len(recs)+1, time.Until(deadline))
	}
	t.Logf("broker killed (SIGKILL, no persistence) right after %d messages were handed to the publisher: %d of them arrived, the rest died with the broker or never reached it; %d of %d published after the restart arrived", half, before, after, half)
	if after != half {
		t.Fatalf("%d of %d messages published after the broker restarted arrived", after, half)
	}
}
