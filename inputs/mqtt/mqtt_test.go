package mqtt

import (
	"context"
	"errors"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func configure(kv ...string) (*Input, error) {
	return pipelinetest.As[*Input](pipelinetest.NewInput("mqtt", kv...))
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{nil, "topics"},
		{[]string{"topics", "a/#/b"}, "topics"},
		{[]string{"topics", "a/b+"}, "topics"},
		{[]string{"topics", "a 3"}, "topics"},
		{[]string{"topics", "a 1 x"}, "topics"},
		{[]string{"topics", "a", "qos", "5"}, "qos"},
		{[]string{"topics", "a", "format", "xml"}, "format"},
		{[]string{"topics", "a", "port", "70000"}, "port"},
		{[]string{"topics", "a", "host", " "}, "host"},
		{[]string{"topics", "a", "password", "p"}, "password"},
		{[]string{"topics", "a", "tls.ca_file", "/x"}, "tls"},
		{[]string{"topics", "a", "tls", "on", "tls.crt_file", "/x"}, "tls.crt_file"}, // the key that is there, so the error has its line
		{[]string{"topics", "a", "keepalive", "100ms"}, "keepalive"},
		{[]string{"topics", "a", "reconnect_max_interval", "0"}, "reconnect_max_interval"},
		{[]string{"listen", "0.0.0.0", "port", "1883"}, "listen"},
	} {
		_, err := configure(tc.kv...)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%q: error %v, want one naming key %q", tc.kv, err, tc.key)
		}
	}
}

func TestTopicsWithQoS(t *testing.T) {
	in, err := configure("topics", "sensors/# 2", "topic", "a/+/c", "qos", "0", "topics", "#")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]byte{"sensors/#": 2, "a/+/c": 0, "#": 0}
	if len(in.filters) != len(want) {
		t.Fatalf("filters %v, want %v", in.filters, want)
	}
	for f, q := range want {
		if in.filters[f] != q {
			t.Errorf("filter %q QoS %d, want %d", f, in.filters[f], q)
		}
	}
}

func TestTagRules(t *testing.T) {
	for _, tc := range []struct {
		envTag    string // "" = the engine's default (the instance name)
		fromTopic bool
		topic     string
		want      string
	}{
		{"", true, "sensors/room1/temp", "mqtt.sensors.room1.temp"},
		{"iot", true, "sensors/room1/temp", "iot.sensors.room1.temp"},
		{"iot", false, "sensors/room1/temp", "iot"},
		{"", false, "sensors/room1/temp", "mqtt.0"},
		{"x.$TOPIC[0].$TOPIC[2].$TOPIC[9]", true, "sensors/room1/temp", "x.sensors.temp."},
		{"$TOPIC", false, "/a//b", ".a..b"},
	} {
		in, err := configure("topics", "#", "tag_from_topic", map[bool]string{true: "on", false: "off"}[tc.fromTopic])
		if err != nil {
			t.Fatal(err)
		}
		env := (&pipelinetest.Logs{}).Env("mqtt.0")
		if tc.envTag != "" {
			env.Tag = tc.envTag
		}
		if err := in.Init(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		if got := in.tagger.tag(tc.topic); got != tc.want {
			t.Errorf("tag %q, tag_from_topic %v, topic %q: got %q, want %q", tc.envTag, tc.fromTopic, tc.topic, got, tc.want)
		}
	}
}

func TestBadTagTemplateIsAnErrorOnTag(t *testing.T) {
	in, _ := configure("topics", "#")
	env := (&pipelinetest.Logs{}).Env("mqtt.0")
	env.Tag = "a.$TOPIC[x]"
	err := in.Init(context.Background(), env)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "tag" {
		t.Fatalf("got %v, want an error on key tag", err)
	}
}

func TestRecordsFromPayloads(t *testing.T) {
	in, _ := configure("topics", "#")
	for _, tc := range []struct {
		payload string
		want    string
	}{
		{`{"a":1}`, `[map[a:1 topic:t/1]]`},
		{` [{"a":1},{"b":"x"}] `, `[map[a:1 topic:t/1] map[b:x topic:t/1]]`},
		{`{"topic":"mine"}`, `[map[topic:mine]]`},
		{`[]`, `[]`},
		{`[1,2]`, `[map[payload:[1,2] topic:t/1]]`},
		{`{"a":`, `[map[payload:{"a": topic:t/1]]`},
		{`"str"`, `[map[payload:"str" topic:t/1]]`},
		{``, `[map[payload: topic:t/1]]`},
		{"\xff\x00", `[map[payload:[255 0] topic:t/1]]`},
	} {
		got := fmtRecords(in.records("t/1", []byte(tc.payload)))
		if got != tc.want {
			t.Errorf("payload %q: got %s, want %s", tc.payload, got, tc.want)
		}
	}
}

func fmtRecords(recs []event.Map) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, fmt.Sprint(r.ToMap()))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
