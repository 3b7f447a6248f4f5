package nats

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// FuzzBatcher builds messages from records made of arbitrary keys, values and tags under
// arbitrary size limits: every message is a JSON array of [time, record] pairs within the
// limit, every record that fits is in exactly one message, in order, with its values.
func FuzzBatcher(f *testing.F) {
	f.Add("sensors.a", "k", "v", "subj", 200, uint8(5))
	f.Add("t", "tag", "x\"\\\n\u00e9", "a", 64, uint8(40))
	f.Add("", "", "", "", 30, uint8(1))
	f.Add("a b", "\x00", "\xff\xfe", "b", 4096, uint8(200))
	f.Fuzz(func(t *testing.T, tag, key, val, subj string, limit int, n uint8) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		type sent struct {
			subject string
			data    []byte
		}
		var msgs []sent
		b := batcher{limit: limit, tag: tag, publish: func(s string, d []byte) error {
			msgs = append(msgs, sent{s, append([]byte(nil), d...)})
			return nil
		}, reuse: n%2 == 0}
		fits := 0
		for i := 0; i < int(n); i++ {
			s := subj
			if i%3 == 1 {
				s = subj + ".odd"
			}
			ev := event.Event{Time: time.Unix(int64(i), 5e8), Record: event.Map{{key, val}, {"i", int64(i)}}}
			ok, err := b.add(s, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				fits++
			}
		}
		if err := b.close(); err != nil {
			t.Fatal(err)
		}
		got := 0
		last := map[string]int64{}
		for _, m := range msgs {
			if len(m.data) > limit {
				t.Fatalf("message of %d bytes over the limit %d", len(m.data), limit)
			}
			var pairs [][2]json.RawMessage
			if err := json.Unmarshal(m.data, &pairs); err != nil {
				t.Fatalf("message %q: %v", m.data, err)
			}
			for _, p := range pairs {
				var rec map[string]any
				if err := json.Unmarshal(p[1], &rec); err != nil {
					t.Fatalf("record %s: %v", p[1], err)
				}
				i := int64(rec["i"].(float64))
				if prev, seen := last[m.subject]; seen && i <= prev {
					t.Fatalf("subject %s: record %d after %d", m.subject, i, prev)
				}
				last[m.subject] = i
				if key != "i" && utf8.ValidString(key) && utf8.ValidString(val) && rec[key] != val {
					t.Fatalf("record %s: %q is %v, want %q", p[1], key, rec[key], val)
				}
				got++
			}
		}
		if got != fits {
			t.Fatalf("%d records in the messages, %d fitted", got, fits)
		}
	})
}
