package recordmodifier

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func newModifier(t testing.TB, m RecordModifier) *RecordModifier {
	t.Helper()
	if err := m.Init(context.Background(), pipeline.Env{Name: "record_modifier.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return &m
}

func apply(t testing.TB, m *RecordModifier, rec map[string]any) map[string]any {
	t.Helper()
	ev := event.Event{Time: time.Unix(1492436882, 0), Record: event.FromMap(rec)}
	v, err := m.Filter("mem.local", &ev)
	if err != nil || v != pipeline.Keep {
		t.Fatalf("Filter = %v, %v; want Keep, nil", v, err)
	}
	return ev.Record.ToMap()
}

// memRecord is the in_mem sample record of Fluent Bit's record_modifier documentation.
func memRecord() map[string]any {
	return map[string]any{
		"Mem.total": int64(1016024), "Mem.used": int64(716672), "Mem.free": int64(299352),
		"Swap.total": int64(2064380), "Swap.used": int64(32656), "Swap.free": int64(2031724),
	}
}

func memOnly() map[string]any {
	return map[string]any{"Mem.total": int64(1016024), "Mem.used": int64(716672), "Mem.free": int64(299352)}
}

func TestRecordModifierDocExamples(t *testing.T) {
	withAppended := memRecord()
	withAppended["hostname"] = "localhost.localdomain"
	withAppended["product"] = "Awesome_Tool"
	for _, tc := range []struct {
		name string
		m    RecordModifier
		want map[string]any
	}{
		{"append fields", RecordModifier{Record: []string{"hostname localhost.localdomain", "product Awesome_Tool"}}, withAppended},
		{"remove_key", RecordModifier{RemoveKey: []string{"Swap.total", "Swap.used", "Swap.free"}}, memOnly()},
		{"allowlist_key", RecordModifier{AllowlistKey: []string{"Mem.total", "Mem.used", "Mem.free"}}, memOnly()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := apply(t, newModifier(t, tc.m), memRecord())
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestRecordModifierKeyMatching(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    RecordModifier
		in   map[string]any
		want map[string]any
	}{
		{"remove by prefix", RecordModifier{RemoveKey: []string{"Swap*"}}, memRecord(), memOnly()},
		{"allow by prefix", RecordModifier{AllowlistKey: []string{"Mem.*"}}, memRecord(), memOnly()},
		{"remove ignores ASCII case", RecordModifier{RemoveKey: []string{"swap.TOTAL", "SWAP.USED", "swap.free"}},
			memRecord(), memOnly()},
		{"allow ignores ASCII case", RecordModifier{AllowlistKey: []string{"mem*"}}, memRecord(), memOnly()},
		{"star alone removes all", RecordModifier{RemoveKey: []string{"*"}}, memRecord(), map[string]any{}},
		{"exact is not a prefix", RecordModifier{RemoveKey: []string{"Mem"}}, map[string]any{"Mem": 1, "Memo": 2},
			map[string]any{"Memo": 2}},
		{"missing key is fine", RecordModifier{RemoveKey: []string{"nope"}}, map[string]any{"a": 1},
			map[string]any{"a": 1}},
		{"unicode keys", RecordModifier{RemoveKey: []string{"🔥"}, Record: []string{"❄️ is_cold"}},
			map[string]any{"🔥": "hot", "💦": "wet"}, map[string]any{"💦": "wet", "❄️": "is_cold"}},
		{"nested values are untouched", RecordModifier{AllowlistKey: []string{"k8s"}},
			map[string]any{"k8s": map[string]any{"pod": "p", "Mem.x": 1}, "log": "x"},
			map[string]any{"k8s": map[string]any{"pod": "p", "Mem.x": 1}}},
		{"long key, case folded", RecordModifier{RemoveKey: []string{strings.Repeat("K", 200)}},
			map[string]any{strings.Repeat("k", 200): 1, "a": 2}, map[string]any{"a": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := apply(t, newModifier(t, tc.m), tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestRecordModifierRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    RecordModifier
		in   map[string]any
		want map[string]any
	}{
		{"value with spaces", RecordModifier{Record: []string{"msg hello big world"}}, map[string]any{},
			map[string]any{"msg": "hello big world"}},
		{"spaces after key", RecordModifier{Record: []string{"msg    hi"}}, map[string]any{},
			map[string]any{"msg": "hi"}},
		{"quoted value", RecordModifier{Record: []string{`msg "say \"hi\" "`}}, map[string]any{},
			map[string]any{"msg": `say "hi" `}},
		{"quoted key", RecordModifier{Record: []string{`"my key" v`}}, map[string]any{},
			map[string]any{"my key": "v"}},
		{"quote then text kept as written", RecordModifier{Record: []string{`msg "a" b`}}, map[string]any{},
			map[string]any{"msg": `"a" b`}},
		{"replaces existing value", RecordModifier{Record: []string{"level info"}}, map[string]any{"level": int64(3)},
			map[string]any{"level": "info"}},
		{"later entry wins", RecordModifier{Record: []string{"a 1", "a 2"}}, map[string]any{},
			map[string]any{"a": "2"}},
		{"added after allowlist", RecordModifier{AllowlistKey: []string{"keep"}, Record: []string{"host h1"}},
			map[string]any{"keep": 1, "drop": 2}, map[string]any{"keep": 1, "host": "h1"}},
		{"added after remove_key", RecordModifier{RemoveKey: []string{"host"}, Record: []string{"host h1"}},
			map[string]any{"host": "old"}, map[string]any{"host": "h1"}},
		{"nil record", RecordModifier{Record: []string{"a b"}}, nil, map[string]any{"a": "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := apply(t, newModifier(t, tc.m), tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRecordModifierUUIDKey(t *testing.T) {
	m := newModifier(t, RecordModifier{UUIDKey: "uuid", AllowlistKey: []string{"log"}})
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		got := apply(t, m, map[string]any{"log": "x", "other": 1})
		u, _ := got["uuid"].(string)
		if !uuidV4.MatchString(u) {
			t.Fatalf("uuid %q is not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("uuid %s repeated", u)
		}
		seen[u] = true
		if len(got) != 2 || got["log"] != "x" {
			t.Fatalf("record %v, want log and uuid only", got)
		}
	}
}

func TestRecordModifierBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    RecordModifier
		want string
	}{
		{"both lists", RecordModifier{RemoveKey: []string{"a"}, AllowlistKey: []string{"b"}}, "exclude each other"},
		{"record without value", RecordModifier{Record: []string{"hostname"}}, `key "record": "hostname": want KEY VALUE`},
		{"record only spaces after key", RecordModifier{Record: []string{"hostname   "}}, "no value"},
		{"empty record", RecordModifier{Record: []string{""}}, `key "record": ""`},
		{"unterminated quote", RecordModifier{Record: []string{`a "b`}}, "unterminated quote"},
		{"empty remove_key", RecordModifier{RemoveKey: []string{""}}, "remove_key"},
		{"empty allowlist_key", RecordModifier{AllowlistKey: []string{"a", ""}}, "allowlist_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Init(context.Background(), pipeline.Env{})
			if err == nil {
				t.Fatal("Init succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestRecordModifierAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	m := newModifier(t, RecordModifier{Record: []string{"hostname h1", "product p"}, RemoveKey: []string{"Swap*"}})
	ev := event.Event{Record: event.FromMap(memRecord())}
	m.Filter("t", &ev) // first pass removes and adds; the map keeps its buckets
	if n := testing.AllocsPerRun(100, func() { m.Filter("t", &ev) }); n != 0 {
		t.Errorf("Filter allocates %v times per record, want 0", n)
	}
	u := newModifier(t, RecordModifier{UUIDKey: "uuid"})
	u.Filter("t", &ev)
	if n := testing.AllocsPerRun(100, func() { u.Filter("t", &ev) }); n > 2 {
		t.Errorf("Filter with uuid_key allocates %v times per record, want at most 2 (the string and its box)", n)
	}
}

func BenchmarkRecordModifier(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    RecordModifier
	}{
		{"record_2", RecordModifier{Record: []string{"hostname h1", "product Awesome_Tool"}}},
		{"remove_key_3", RecordModifier{RemoveKey: []string{"Swap.total", "Swap.used", "Swap.free"}}},
		{"allowlist_prefix", RecordModifier{AllowlistKey: []string{"Mem*"}}},
		{"uuid_key", RecordModifier{UUIDKey: "uuid"}},
	} {
		m := newModifier(b, bc.m)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			src := event.FromMap(memRecord())
			rec := make(event.Map, 0, 8)
			ev := event.Event{}
			for b.Loop() {
				// Each record starts complete: copying it in is part of the loop, not the
				// filter, and does not allocate (rec keeps its array).
				clear(rec)
				rec = append(rec[:0], src...)
				ev.Record = rec
				m.Filter("t", &ev)
			}
		})
	}
}

// One filter instance serves every input that emits its tag, from their goroutines.
func TestRecordModifierConcurrentUse(t *testing.T) {
	m := newModifier(t, RecordModifier{Record: []string{"host h1"}, RemoveKey: []string{"Swap*"}, UUIDKey: "id"})
	pipelinetest.Concurrently(t, 8, 500, func(int, int) error {
		ev := event.Event{Record: event.FromMap(memRecord())}
		m.Filter("t", &ev)
		if len(ev.Record) != 5 || ev.Record.Value("host") != "h1" {
			return errors.New("record not modified as configured")
		}
		return nil
	})
}
