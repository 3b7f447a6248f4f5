package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

func sample() Event {
	return Event{
		Time:   time.Unix(1700000000, 123456789),
		Record: Map{{"message", "hello"}, {"level", "info"}, {"count", int64(42)}, {"neg", int64(-7)}, {"ratio", 0.5}, {"ok", true}, {"none", nil}, {"raw", []byte{0, 1, 2}}, {"nested", Map{{"a", []any{int64(1), "two", 3.5}}, {"ünïcode", "✓"}}}},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   Event
	}{
		{"classic", sample()},
		{"with metadata", func() Event { e := sample(); e.Metadata = Map{{"k", "v"}}; return e }()},
		{"empty metadata", func() Event { e := sample(); e.Metadata = Map{}; return e }()},
		{"empty record", Event{Time: time.Unix(5, 0), Record: Map{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := AppendEntry(nil, &tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			got, rest, err := ReadEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Fatalf("%d bytes left over", len(rest))
			}
			if !got.Time.Equal(tc.ev.Time) {
				t.Errorf("time %v, want %v (nanoseconds must survive)", got.Time, tc.ev.Time)
			}
			if !reflect.DeepEqual(got.Record, tc.ev.Record) {
				t.Errorf("record %#v, want %#v", got.Record, tc.ev.Record)
			}
			if !reflect.DeepEqual(got.Metadata, tc.ev.Metadata) {
				t.Errorf("metadata %#v, want %#v", got.Metadata, tc.ev.Metadata)
			}
			if _, err := SkipEntry(b); err != nil {
				t.Errorf("SkipEntry rejects a good entry: %v", err)
			}
		})
	}
}

func TestReadTimeForms(t *testing.T) {
	ext8 := []byte{0xc7, 8, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 5}
	for _, tc := range []struct {
		name string
		in   []byte
		want time.Time
	}{
		{"fixext8", AppendTime(nil, time.Unix(1700000000, 5)), time.Unix(1700000000, 5)},
		{"ext8", ext8, time.Unix(0x6553f100, 5)},
		{"int", msgp.AppendInt64(nil, 1700000000), time.Unix(1700000000, 0)},
		{"uint", msgp.AppendUint64(nil, 1700000000), time.Unix(1700000000, 0)},
		{"float", msgp.AppendFloat64(nil, 1700000000.25), time.Unix(1700000000, 250000000)},
	} {
		got, rest, err := ReadTime(tc.in)
		if err != nil || len(rest) != 0 || !got.Equal(tc.want) {
			t.Errorf("%s: got %v rest %d err %v, want %v", tc.name, got, len(rest), err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0}, msgp.AppendString(nil, "now"), msgp.AppendFloat64(nil, math.NaN())} {
		if _, _, err := ReadTime(bad); err == nil {
			t.Errorf("ReadTime(% x) accepted a bad time", bad)
		}
	}
}

func TestHostileLengthsDoNotAllocate(t *testing.T) {
	// An entry claiming a map of 4 billion pairs in a few bytes.
	b := msgp.AppendArrayHeader(nil, 2)
	b = AppendTime(b, time.Unix(1, 0))
	b = append(b, 0xdf, 0xff, 0xff, 0xff, 0xff)
	allocs := testing.AllocsPerRun(10, func() {
		if _, _, err := ReadEntry(b); !errors.Is(err, ErrShort) {
			t.Fatalf("got %v, want ErrShort", err)
		}
	})
	if allocs > 4 {
		t.Fatalf("%v allocations for a hostile length", allocs)
	}
	if _, err := SkipEntry(b); err == nil {
		t.Fatal("SkipEntry accepted a truncated entry")
	}
}

func TestDeepNestingIsAnError(t *testing.T) {
	b := msgp.AppendArrayHeader(nil, 2)
	b = AppendTime(b, time.Unix(1, 0))
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "k")
	for i := 0; i < 10000; i++ {
		b = msgp.AppendArrayHeader(b, 1)
	}
	b = msgp.AppendNil(b)
	if _, _, err := ReadEntry(b); err == nil {
		t.Fatal("accepted 10000 levels of nesting")
	}
	if _, err := SkipEntry(b); err == nil {
		t.Fatal("SkipEntry accepted 10000 levels of nesting")
	}
}

func TestEntriesAndCount(t *testing.T) {
	var chunk []byte
	for i := 0; i < 5; i++ {
		ev := sample()
		ev.Record.Set("i", int64(i))
		chunk, _ = AppendEntry(chunk, &ev)
	}
	n, valid, err := Count(chunk)
	if err != nil || n != 5 || valid != len(chunk) {
		t.Fatalf("Count = %d, %d, %v; want 5, %d, nil", n, valid, err, len(chunk))
	}
	// Damage the tail: the four whole entries before it still come out.
	damaged := chunk[:len(chunk)-3]
	var seen []int64
	err = Entries(damaged, func(ev Event) error { seen = append(seen, ev.Record.Value("i").(int64)); return nil })
	if err == nil {
		t.Fatal("a truncated chunk gave no error")
	}
	if !reflect.DeepEqual(seen, []int64{0, 1, 2, 3}) {
		t.Fatalf("entries before the damage: %v", seen)
	}
	if n, _, err := Count(damaged); n != 4 || err == nil {
		t.Fatalf("Count on damaged chunk = %d, %v", n, err)
	}

	// An entry that is whole msgpack but not an entry ([-1, "x"]: a negative time, a
	// string record) in the middle is skipped; the entries after it still come out.
	ev := sample()
	ev.Record.Set("i", int64(99))
	withBad, _ := AppendEntry(append(append([]byte(nil), chunk...), 0x92, 0xff, 0xa1, 'x'), &ev)
	seen = nil
	err = Entries(withBad, func(ev Event) error { seen = append(seen, ev.Record.Value("i").(int64)); return nil })
	if err == nil || !strings.Contains(err.Error(), "chunk offset") {
		t.Fatalf("a bad entry gave no error: %v", err)
	}
	if !reflect.DeepEqual(seen, []int64{0, 1, 2, 3, 4, 99}) {
		t.Fatalf("entries around a bad one: %v", seen)
	}
}

func TestJSON(t *testing.T) {
	rec, err := RecordFromJSON([]byte(`{"a":1,"b":1.5,"c":"x","d":[1,{"e":null}],"big":18446744073709551615,"t":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": int64(1), "b": 1.5, "c": "x", "d": []any{int64(1), map[string]any{"e": nil}}, "big": uint64(math.MaxUint64), "t": true}
	if !reflect.DeepEqual(rec.ToMap(), want) {
		t.Fatalf("got %#v\nwant %#v", rec, want)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":1} {"b":2}`, `{`, `null`} {
		if _, err := RecordFromJSON([]byte(bad)); err == nil {
			t.Errorf("RecordFromJSON(%s) accepted", bad)
		}
	}
	recs, err := RecordsFromJSON([]byte(` [{"a":1},{"b":2}] `))
	if err != nil || len(recs) != 2 {
		t.Fatalf("array: %v %v", recs, err)
	}

	out := AppendJSON(nil, map[string]any{"s": "q\"uote\n\x01", "b": []byte("bytes"), "bin": []byte{0xff}, "f": 2.0, "i": int64(-3), "n": nil, "m": map[string]any{"z": 1, "a": 2}})
	const wantJSON = `{"b":"bytes","bin":"/w==","f":2.0,"i":-3,"m":{"a":2,"z":1},"n":null,"s":"q\"uote\n\u0001"}`
	if string(out) != wantJSON {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", out, wantJSON)
	}
	if !json.Valid(AppendJSON(nil, sample().Record)) {
		t.Fatal("AppendJSON wrote invalid JSON")
	}
	if got := AppendJSON(nil, "bad \xff utf8"); !json.Valid(got) || !bytes.Contains(got, []byte(`\ufffd`)) {
		t.Fatalf("invalid UTF-8 not replaced: %s", got)
	}
}

func FuzzReadEntry(f *testing.F) {
	ev := sample()
	b, _ := AppendEntry(nil, &ev)
	f.Add(b)
	ev.Metadata = Map{{"m", int64(1)}}
	b, _ = AppendEntry(nil, &ev)
	f.Add(b)
	f.Add([]byte{0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, _, err := ReadEntry(data)
		_, skipErr := SkipEntry(data)
		if err != nil {
			return
		}
		if skipErr != nil {
			t.Fatalf("ReadEntry accepted what SkipEntry rejects: %v", skipErr)
		}
		again, err := AppendEntry(nil, &ev)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		ev2, _, err := ReadEntry(again)
		if err != nil {
			t.Fatalf("decode of re-encoded entry: %v", err)
		}
		if !ev2.Time.Equal(ev.Time) || len(ev2.Record) != len(ev.Record) {
			t.Fatalf("round trip changed the entry")
		}
		_ = AppendJSON(nil, ev.Record)
	})
}

func TestNestedBadEventTimeKeptAsExt(t *testing.T) {
	// [EventTime(1,0), {"t": ext0 with 2e9 ns}]: the record value is kept as an Ext, and
	// ReadEntry agrees with SkipEntry that the entry is whole.
	b := []byte{0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0xa1, 't', 0xd7, 0x00, 0, 0, 0, 1, 0x77, 0x35, 0x94, 0x00}
	ev, rest, err := ReadEntry(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ReadEntry: %v (rest %d)", err, len(rest))
	}
	if x, ok := ev.Record.Value("t").(Ext); !ok || x.Type != 0 || len(x.Data) != 8 {
		t.Fatalf("nested bad EventTime: %#v", ev.Record.Value("t"))
	}
	if _, err := SkipEntry(b); err != nil {
		t.Fatalf("SkipEntry: %v", err)
	}
}

// TestRecordFromJSONKeepsNumbersBeyondFloat64: 1e400 is valid JSON; as a float64 it would
// be +Inf, which AppendJSON writes as null. The text is kept instead.
func TestRecordFromJSONKeepsNumbersBeyondFloat64(t *testing.T) {
	m, err := RecordFromJSON([]byte(`{"a":1e400,"b":[-1e999],"c":2.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendJSON(nil, m)); got != `{"a":"1e400","b":["-1e999"],"c":2.5}` {
		t.Errorf("got %s", got)
	}
}
