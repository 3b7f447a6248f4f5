package mqtt

import (
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// FuzzRecords feeds arbitrary payloads to the JSON-or-raw decoding: it must never panic,
// every payload gives records the engine can encode, and a payload that is not taken as
// JSON is kept whole.
func FuzzRecords(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},{"b":[1,2,{"c":null}]}]`, `[]`, `[1]`, `{"a":`, "\xff", `  {"x":1e400}`, `{"topic":1}`, `[{}]`} {
		f.Add([]byte(s))
	}
	in := New()
	if err := in.Validate(); err == nil {
		f.Fatal("Validate without topics should fail")
	}
	in.Topics = []string{"#"}
	if err := in.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		recs := in.records("t/x", payload)
		for _, r := range recs {
			if _, ok := r.Get("topic"); !ok {
				t.Fatalf("record %v has no topic key", r)
			}
			ev := event.Event{Record: r}
			if _, err := event.AppendEntry(nil, &ev); err != nil {
				t.Fatalf("record %v cannot be encoded: %v", r, err)
			}
			if p, ok := r.Get("payload"); ok && len(recs) == 1 && len(r) == 2 {
				var got string
				switch v := p.(type) {
				case string:
					got = v
				case []byte:
					got = string(v)
				default:
					continue // a JSON object with a "payload" key
				}
				if got != string(payload) {
					t.Fatalf("raw payload %q kept as %q", payload, got)
				}
			}
		}
	})
}

// FuzzTagTemplate parses tag templates and applies them to topics: never a panic, and a
// template without placeholders is the tag itself.
func FuzzTagTemplate(f *testing.F) {
	for _, s := range []string{"a.$TOPIC", "$TOPIC[0].$TOPIC[3]", "$TOPIC[", "$TOPIC[x]", "$TOPIC[-1]", "plain", "$TOPIC$TOPIC", "$TOPICS"} {
		f.Add(s, "sensors/room1/temp")
	}
	f.Fuzz(func(t *testing.T, tmpl, topic string) {
		tg, err := newTagger(tmpl, "inst", true)
		if err != nil {
			return
		}
		got := tg.tag(topic)
		if !strings.Contains(tmpl, tagPlaceholder) && got != tmpl+"."+strings.ReplaceAll(topic, "/", ".") && tmpl != "" {
			t.Fatalf("prefix %q topic %q: tag %q", tmpl, topic, got)
		}
	})
}

// FuzzTopicFilter checks the topics key parser: an accepted filter follows MQTT's
// wildcard rules.
func FuzzTopicFilter(f *testing.F) {
	for _, s := range []string{"a/#", "a/+/b 1", "#", "+", "a/#/b", "a+", " 2", "a 1 2", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		filter, qos, err := parseTopic(s, 1)
		if err != nil {
			return
		}
		if qos > 2 || filter == "" {
			t.Fatalf("%q: accepted filter %q QoS %d", s, filter, qos)
		}
		for i, l := range strings.Split(filter, "/") {
			if (strings.Contains(l, "#") && (l != "#" || i != len(strings.Split(filter, "/"))-1)) || (strings.Contains(l, "+") && l != "+") {
				t.Fatalf("%q: accepted a misplaced wildcard", filter)
			}
		}
	})
}
