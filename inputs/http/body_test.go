package http

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// decodeBody runs the input's body reading (the transcoder) and decodes the entries it
// made, with the tag each record gets ("" for the path's).
func decodeBody(f bodyFormat, body []byte, tagKey string) ([]map[string]any, []string, error) {
	return decodeBodyFrom(f, body, tagKey, "")
}

func decodeBodyFrom(f bodyFormat, body []byte, tagKey, remote string) ([]map[string]any, []string, error) {
	tr := &transcoder{tagKey: tagKey, now: time.Unix(1700000000, 5), remoteAddr: remote}
	var err error
	if f == formatForm {
		err = tr.form(body)
	} else {
		err = tr.run(body)
	}
	if err != nil {
		return nil, nil, err
	}
	var recs []map[string]any
	var tags []string
	prev := 0
	for _, r := range tr.recs {
		n := 0
		if err := event.Entries(tr.out[prev:r.end], func(ev event.Event) error {
			n++
			if !ev.Time.Equal(tr.now) {
				return fmt.Errorf("time %v, want %v", ev.Time, tr.now)
			}
			recs = append(recs, ev.Record.ToMap())
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("the transcoder made a damaged entry: %w", err)
		}
		if n != 1 {
			return nil, nil, fmt.Errorf("record entry holds %d entries", n)
		}
		tag := ""
		if r.hasTag {
			tag = string(tr.out[r.tagStart:r.tagEnd])
		}
		tags = append(tags, tag)
		prev = r.end
	}
	return recs, tags, nil
}

func parseBody(f bodyFormat, body []byte) ([]map[string]any, error) {
	recs, _, err := decodeBody(f, body, "")
	return recs, err
}

func TestParseJSONShapes(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []map[string]any
	}{
		{"object", `{"a":1,"b":"x"}`, []map[string]any{{"a": int64(1), "b": "x"}}},
		{"array", `[{"a":1},{"a":2.5}]`, []map[string]any{{"a": int64(1)}, {"a": 2.5}}},
		{"ndjson", "{\"a\":1}\n{\"a\":2}\n", []map[string]any{{"a": int64(1)}, {"a": int64(2)}}},
		{"ndjson crlf and blank lines", "{\"a\":1}\r\n\r\n{\"a\":2}", []map[string]any{{"a": int64(1)}, {"a": int64(2)}}},
		{"concatenated", `{"a":1}{"a":2}[{"a":3}]`, []map[string]any{{"a": int64(1)}, {"a": int64(2)}, {"a": int64(3)}}},
		{"escapes and unicode", `{"s":"a\"b\\c\u00e9\ud83d\ude00","k\u00e9":"\ud800x","raw":"caf\u00e9 ok"}`,
			[]map[string]any{{"s": "a\"b\\c\u00e9\U0001F600", "k\u00e9": "\ufffdx", "raw": "caf\u00e9 ok"}}},
		{"many keys", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}`,
			[]map[string]any{{"k0": int64(0), "k1": int64(1), "k2": int64(2), "k3": int64(3), "k4": int64(4), "k5": int64(5), "k6": int64(6), "k7": int64(7), "k8": int64(8), "k9": int64(9), "k10": int64(10), "k11": int64(11), "k12": int64(12), "k13": int64(13), "k14": int64(14), "k15": int64(15),
				"k16": []any{int64(0), int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), int64(7), int64(8), int64(9), int64(10), int64(11), int64(12), int64(13), int64(14), int64(15), int64(16)}}}},
		{"number forms", `{"a":-0,"b":-9223372036854775808,"c":9223372036854775808,"d":1e2,"e":-1.5E-3,"f":18446744073709551616,"g":0.0}`,
			[]map[string]any{{"a": int64(0), "b": int64(-9223372036854775808), "c": uint64(9223372036854775808), "d": 100.0, "e": -0.0015, "f": 18446744073709551616.0, "g": 0.0}}},
		{"duplicate key, last wins", `{"a":1,"a":2}`, []map[string]any{{"a": int64(2)}}},
		{"nested and big numbers", `{"n":{"u":18446744073709551615,"l":[1,-2,3.5]},"t":true,"z":null}`,
			[]map[string]any{{"n": map[string]any{"u": uint64(18446744073709551615), "l": []any{int64(1), int64(-2), 3.5}}, "t": true, "z": nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBody(formatJSON, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseJSONRefusesWholeBody(t *testing.T) {
	for _, tc := range []struct{ name, body, msg string }{
		{"empty", "", "no record"},
		{"spaces", " \n ", "no record"},
		{"empty array", "[]", "no record"},
		{"truncated", `{"a":1`, "invalid JSON"},
		{"bad third line", "{\"a\":1}\n{\"a\":2}\n{\"a\":\n", "invalid JSON"},
		{"garbage after", `{"a":1} x`, "invalid JSON"},
		{"scalar", `42`, "value 1 is not an object"},
		{"string", `"x"`, "value 1 is not an object"},
		{"array of scalars", `[{"a":1}, 2]`, "element 1 of array 1 is not an object"},
		{"nested array", `[[{"a":1}]]`, "element 0 of array 1 is not an object"},
		{"null", `null`, "value 1 is not"},
		{"too deep", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "nested deeper than 32"},
		{"bad escape", `{"a":"\x"}`, "invalid JSON"},
		{"control character", "{\"a\":\"\x01\"}", "invalid JSON"},
		{"leading zero", `{"a":01}`, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBody(formatJSON, []byte(tc.body))
			if err == nil {
				t.Fatalf("accepted %q as %v", tc.body, got)
			}
			if got != nil {
				t.Errorf("records returned with the error: %v", got)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestParseForm(t *testing.T) {
	got, err := parseBody(formatForm, []byte("msg=hello+world&level=info&n=1&n=2&empty="))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"msg": "hello world", "level": "info", "n": "2", "empty": ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "a=%zz"} {
		if _, err := parseBody(formatForm, []byte(bad)); err == nil {
			t.Errorf("form %q accepted", bad)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want bodyFormat
		ok   bool
	}{
		{"", formatJSON, true},
		{"application/json", formatJSON, true},
		{"Application/JSON; charset=utf-8", formatJSON, true},
		{"application/x-ndjson", formatJSON, true},
		{"application/vnd.api+json", formatJSON, true},
		{"application/x-www-form-urlencoded", formatForm, true},
		{"text/plain", 0, false},
		{"multipart/form-data; boundary=x", 0, false},
	} {
		got, err := formatOf(tc.ct)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("formatOf(%q) = %v, %v; want %v, ok=%v", tc.ct, got, err, tc.want, tc.ok)
		}
	}
}

func TestTagFromPath(t *testing.T) {
	for path, want := range map[string]string{
		"/":                "",
		"":                 "",
		"/app.log":         "app.log",
		"/app.log?x=1":     "app.log",
		"/a/b-c d":         "a_b_c_d",
		"/Sensor_1.temp":   "Sensor_1.temp",
		"/caf\xc3\xa9.log": "caf__.log",
	} {
		if got := tagFromPath(path); got != want {
			t.Errorf("tagFromPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// FuzzParseBody checks the transcoder against encoding/json: for any body both accept
// the same records (and tag_key tags) or both refuse it, the transcoder's entries always
// decode, it never panics, and tags from paths are always clean.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `[{"a":1},{"b":[1,2,{"c":null}]}]`, "{\"a\":1}\n{\"a\":2}\n", `{"a":1`, `[1]`, `{"u":18446744073709551616}`,
		"a=1&b=%20x", `{"a":"\ud800"}`, `{"a":1e400}`, "", `{"tag":"t.1","v":{"tag":"inner"}}`, `{"tag":1,"tag":"x"}`,
		`{"k\u0000":"\u00e9\n"}`, `[{},{}]`, `{"a":[[[[]]]]}`, `{"a":-0.0e-0}`,
	} {
		f.Add([]byte(s), false, "/x")
		f.Add([]byte(s), true, "/a/b?c")
	}
	f.Fuzz(func(t *testing.T, body []byte, form bool, path string) {
		fm := formatJSON
		if form {
			fm = formatForm
		}
		remote := "" // some runs check add_remote_addr too
		if len(path)%3 == 0 {
			remote = "10.0.0.1"
		}
		recs, tags, err := decodeBodyFrom(fm, body, "tag", remote)
		if err != nil && strings.Contains(err.Error(), "damaged entry") {
			t.Fatal(err)
		}
		var want []map[string]any
		var werr error
		if form {
			var rec event.Map
			if rec, werr = parseForm(body); werr == nil {
				want = []map[string]any{rec.ToMap()}
			}
		} else {
			want, werr = parseJSON(body)
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("transcoder: %v; encoding/json: %v", err, werr)
		}
		if err != nil {
			return
		}
		// Compare as the engine stores them: through msgpack.
		for i := range want {
			if remote != "" {
				want[i]["REMOTE_ADDR"] = remote
			}
			ev, _, derr := event.ReadEntry(mustEntry(t, want[i]))
			if derr != nil {
				t.Fatal(derr)
			}
			want[i] = ev.Record.ToMap()
			wantTag := ""
			if s, ok := want[i]["tag"].(string); ok {
				wantTag = s
			}
			if i < len(tags) && tags[i] != wantTag {
				t.Fatalf("record %d: tag %q, want %q", i, tags[i], wantTag)
			}
		}
		if !reflect.DeepEqual(recs, want) {
			t.Fatalf("records differ\n got %#v\nwant %#v", recs, want)
		}
		for _, c := range []byte(tagFromPath(path)) {
			if !tagByte(c) {
				t.Fatalf("tag %q from %q has byte %q", tagFromPath(path), path, c)
			}
		}
	})
}

func mustEntry(t *testing.T, rec map[string]any) []byte {
	b, err := event.AppendEntry(nil, &event.Event{Time: time.Unix(1700000000, 5), Record: event.FromMap(rec)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNumberBeyondFloat64KeepsItsText: a number too large for a float64 is valid JSON; as
// a float it would become ±Inf, which every JSON output writes as null (a value silently
// changed). It is kept as the text the client sent; numbers in range are unchanged.
func TestNumberBeyondFloat64KeepsItsText(t *testing.T) {
	got, err := parseBody(formatJSON, []byte(`{"a":1e400,"b":-1.5E+309,"c":1e-400,"d":1.7976931348623157e308,"e":[2e999]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"a": "1e400", "b": "-1.5E+309", "c": 0.0, "d": 1.7976931348623157e308, "e": []any{"2e999"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}
