package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func configure(kv ...string) (*Output, error) {
	return pipelinetest.As[*Output](pipelinetest.NewOutput("mqtt", kv...))
}

// newOutput configures and starts an output for broker b, and waits until it is connected.
func newOutput(t *testing.T, b *mosquittotest.Broker, kv ...string) (*Output, *pipelinetest.Logs) {
	t.Helper()
	o := pipelinetest.Output[*Output](t, "mqtt", append([]string{"host", b.Host(), "port", fmt.Sprint(b.Port()), "reconnect_max_interval", "1s"}, kv...)...)
	var logs pipelinetest.Logs
	pipelinetest.Init(t, o, logs.Env("mqtt.1"))
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	waitConnected(t, o)
	return o, &logs
}

func waitConnected(t *testing.T, o *Output) {
	t.Helper()
	select {
	case <-o.connected():
	case <-time.After(30 * time.Second):
		t.Fatal("the output did not connect within 30s")
	}
}

func events(n int, rec func(i int) map[string]any) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Time: time.Unix(1700000000, int64(i)), Record: event.FromMap(rec(i))}
	}
	return evs
}

func TestEveryRecordArrivesOnItsTopic(t *testing.T) {
	const total = 2000
	b := mosquittotest.Start(t)
	col := b.Subscribe(t, "out-sub", "devices/#", 1)
	o, _ := newOutput(t, b, "topic", "devices/$device/$TAG[1]", "qos", "1")
	chunk := pipelinetest.MakeChunk("app.web", events(total, func(i int) map[string]any {
		return map[string]any{"device": fmt.Sprintf("d%d", i%10), "seq": i}
	})...)
	if err := o.Flush(context.Background(), chunk); err != nil {
		t.Fatal(err)
	}
	// QoS 1: Flush returned after every PUBACK, so the broker has them all; the subscriber
	// may still be receiving.
	if !col.Wait(30*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= total }) {
		t.Fatalf("subscriber got %d of %d messages", len(col.Messages()), total)
	}
	seen := map[int]bool{}
	for _, m := range col.Messages() {
		var rec struct {
			Date   float64
			Device string
			Seq    int
		}
		if err := json.Unmarshal(m.Payload, &rec); err != nil {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		if want := "devices/" + rec.Device + "/web"; m.Topic != want {
			t.Fatalf("record %s on topic %q, want %q", m.Payload, m.Topic, want)
		}
		if rec.Date < 1700000000 {
			t.Fatalf("payload %s: no date", m.Payload)
		}
		seen[rec.Seq] = true
	}
	if len(seen) != total {
		t.Fatalf("%d distinct records of %d", len(seen), total)
	}
}

func TestJSONLinesIsOneMessagePerTopic(t *testing.T) {
	b := mosquittotest.Start(t)
	col := b.Subscribe(t, "lines-sub", "batch/#", 1)
	o, _ := newOutput(t, b, "topic", "batch/$k", "format", "json_lines", "json_date_key", "off", "retain", "on")
	chunk := pipelinetest.MakeChunk("t", events(6, func(i int) map[string]any { return map[string]any{"k": fmt.Sprint(i % 2), "i": i} })...)
	if err := o.Flush(context.Background(), chunk); err != nil {
		t.Fatal(err)
	}
	if !col.Wait(30*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= 2 }) {
		t.Fatalf("got %d messages, want 2", len(col.Messages()))
	}
	got := map[string]string{}
	for _, m := range col.Messages() {
		got[m.Topic] = string(m.Payload)
	}
	want := map[string]string{
		"batch/0": "{\"i\":0,\"k\":\"0\"}\n{\"i\":2,\"k\":\"0\"}\n{\"i\":4,\"k\":\"0\"}\n",
		"batch/1": "{\"i\":1,\"k\":\"1\"}\n{\"i\":3,\"k\":\"1\"}\n{\"i\":5,\"k\":\"1\"}\n",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("topic %s: %q, want %q", k, got[k], v)
		}
	}
	// retain on: a subscriber that comes later still gets the last message of each topic.
	late := b.Subscribe(t, "late-sub", "batch/#", 1)
	if !late.Wait(30*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= 2 }) || !late.Messages()[0].Retained {
		t.Fatalf("late subscriber got %v, want 2 retained messages", late.Messages())
	}
}

func TestRecordWithoutTheTopicKeyIsSkippedAndLogged(t *testing.T) {
	b := mosquittotest.Start(t)
	col := b.Subscribe(t, "skip-sub", "k/#", 1)
	o, logs := newOutput(t, b, "topic", "k/$id")
	chunk := pipelinetest.MakeChunk("t",
		event.Event{Time: time.Unix(1, 0), Record: event.Map{{"id", "a+b#c/d"}}},
		event.Event{Time: time.Unix(1, 0), Record: event.Map{{"other", 1}}},
	)
	if err := o.Flush(context.Background(), chunk); err != nil {
		t.Fatal(err)
	}
	if !col.Wait(30*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= 1 }) {
		t.Fatal("nothing arrived")
	}
	if got := col.Messages()[0].Topic; got != "k/a_b_c/d" {
		t.Errorf("topic %q, want k/a_b_c/d (wildcards replaced, '/' kept)", got)
	}
	if logs.Count(0) == 0 || !strings.Contains(lastLog(logs), "not published") {
		t.Errorf("no warning about the skipped record; last log %q", lastLog(logs))
	}
}

func lastLog(l *pipelinetest.Logs) string {
	r := l.Records()
	if len(r) == 0 {
		return ""
	}
	return r[len(r)-1].Message
}

func TestFlushRetriesWhileTheBrokerIsDown(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.WithPersistence())
	col := b.Subscribe(t, "down-sub", "down/#", 1)
	o, _ := newOutput(t, b, "topic", "down/$TAG")
	chunk := pipelinetest.MakeChunk("t", events(100, func(i int) map[string]any { return map[string]any{"seq": i} })...)

	b.Stop()
	err := o.Flush(context.Background(), chunk)
	if !pipeline.IsRetry(err) {
		t.Fatalf("Flush with the broker down: %v, want a retry", err)
	}
	b.Start()
	// The engine would retry with backoff; here: wait for the reconnection, then flush
	// again (a few times at most, in case the connection drops between the two).
	for attempt := 1; ; attempt++ {
		waitConnected(t, o)
		err = o.Flush(context.Background(), chunk)
		if err == nil {
			break
		}
		if !pipeline.IsRetry(err) || attempt == 5 {
			t.Fatalf("Flush after the broker returned: %v", err)
		}
	}
	if !col.Wait(30*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= 100 }) {
		t.Fatalf("subscriber got %d of 100 messages", len(col.Messages()))
	}
}

func TestEngineDeliversAfterTheBrokerReturns(t *testing.T) {
	const total = 300
	b := mosquittotest.Start(t, mosquittotest.WithPersistence())
	col := b.Subscribe(t, "eng-sub", "eng/#", 1)
	b.Stop() // the broker is down when the agent starts

	o, err := configure("host", b.Host(), "port", fmt.Sprint(b.Port()), "reconnect_max_interval", "1s", "topic", "eng/$TAG")
	if err != nil {
		t.Fatal(err)
	}
	var logs pipelinetest.Logs
	e := pipeline.NewEngine(pipeline.Options{Flush: 20 * time.Millisecond, SchedulerBase: 50 * time.Millisecond, SchedulerCap: 500 * time.Millisecond, Logger: logs.Logger()})
	e.AddOutput(pipeline.OutputSpec{Plugin: "mqtt", Match: "*", Output: o, RetryLimit: pipeline.RetryForever})
	emit := e.AddInput(pipeline.InputSpec{Plugin: "push", Tag: "app", Input: idle{}})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	for i := 0; i < total; i++ {
		if err := emit.Emit("app", event.Event{Record: event.Map{{"seq", i}}}); err != nil {
			t.Fatal(err)
		}
	}
	e.FlushAll()
	// The engine retries while the broker is down...
	// The engine's metrics offer no signal to wait on.
	if !pipelinetest.Eventually(30*time.Second, func() bool { return e.Metrics().Outputs[0].Retries > 0 }) {
		t.Fatal("no retry while the broker was down")
	}
	b.Start() // ...and delivers once it is back.
	if !col.Wait(60*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= total }) {
		t.Fatalf("subscriber got %d of %d messages after the broker returned", len(col.Messages()), total)
	}
}

// idle is an input that emits nothing itself: the test pushes through its emitter.
type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{[]string{"topic", ""}, "topic"},
		{[]string{"topic", "a/+"}, "topic"},
		{[]string{"topic", "a/#"}, "topic"},
		{[]string{"topic", "$TAG[x]"}, "topic"},
		{[]string{"topic", "a/$1"}, "topic"}, // no regex here; ("a/$" is a literal $ now, as in rewrite_tag and Fluent Bit)
		{[]string{"topic", "a/$TAG[1"}, "topic"},
		{[]string{"qos", "3"}, "qos"},
		{[]string{"format", "msgpack"}, "format"},
		{[]string{"json_date_format", "nope"}, "json_date_format"},
		{[]string{"timeout", "0"}, "timeout"},
		{[]string{"port", "-1"}, "port"},
	} {
		_, err := configure(tc.kv...)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%q: error %v, want one naming key %q", tc.kv, err, tc.key)
		}
	}
}

func TestTopicTemplate(t *testing.T) {
	rec := map[string]any{"TAGS": "T", "device": "d1", "n": 5, "meta": map[string]any{"site": "s/2"}, "bad": "x+#"}
	for _, tc := range []struct {
		tmpl, tag, want string
		ok              bool
	}{
		{"$TAG", "a.b.c", "a.b.c", true},
		{"x/$TAG[0]/$TAG[2]/$TAG[7]", "a.b.c", "x/a/c/", true},
		{"$TAGS/$TAG.x", "a", "aS/a.x", true},            // $TAG, then S: Fluent Bit's rule (it was the key TAGS)
		{"$TAG-x/$device-$n", "a.b", "a.b-x/d1-5", true}, // '-' ends a key
		{"d/$device/n/$n", "t", "d/d1/n/5", true},
		{"$meta['site']/end", "t", "s/2/end", true},
		{"$bad", "t", "x__", true},
		{"$missing/x", "t", "", false},
		{"tag/$TAG", "we+ird#", "tag/we_ird_", true},
	} {
		o, err := configure("topic", tc.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tc.tmpl, err)
		}
		got, ok := o.topic(nil, tc.tag, event.FromMap(rec))
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("%q with tag %q: got %q, %v; want %q, %v", tc.tmpl, tc.tag, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzTopicTemplate(f *testing.F) {
	for _, s := range []string{"$TAG", "a/$TAG[1]/$k", "$a['b/c']/x", `$a["q\"/"]`, "$TAG[", "$", "a/+", "$TAG[99999]", "$TAGS$TAG"} {
		f.Add(s, "a.b")
	}
	f.Fuzz(func(t *testing.T, tmpl, tag string) {
		tp, err := parseTopic(tmpl)
		if err != nil {
			return
		}
		o := &Output{tmpl: tp}
		got, ok := o.topic(nil, tag, event.Map{{"k", "v+"}, {"a", event.Map{{"b/c", 1}}}})
		if ok && strings.ContainsAny(string(got), "+#\x00") {
			t.Fatalf("template %q tag %q: topic %q holds a wildcard or NUL", tmpl, tag, got)
		}
	})
}
