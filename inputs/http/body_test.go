package http

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
)

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
		{"scalar", `42`, "a number, not an object"},
		{"string", `"x"`, "a string"},
		{"array of scalars", `[{"a":1}, 2]`, "element 1 of array 1 is a number"},
		{"nested array", `[[{"a":1}]]`, "element 0 of array 1 is an array"},
		{"null", `null`, "null"},
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

// FuzzParseBody checks that no body makes the parser panic, that a body is refused as a
// whole or accepted as records the engine can encode, and that tags are always clean.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `[{"a":1},{"b":[1,2,{"c":null}]}]`, "{\"a\":1}\n{\"a\":2}\n", `{"a":1`, `[1]`, `{"u":18446744073709551616}`,
		"a=1&b=%20x", `{"a":"\ud800"}`, `{"a":1e400}`, "",
	} {
		f.Add([]byte(s), false, "/x")
		f.Add([]byte(s), true, "/a/b?c")
	}
	f.Fuzz(func(t *testing.T, body []byte, form bool, path string) {
		fm := formatJSON
		if form {
			fm = formatForm
		}
		recs, err := parseBody(fm, body)
		if err != nil {
			if recs != nil {
				t.Fatalf("records with an error: %v", err)
			}
		} else {
			if len(recs) == 0 {
				t.Fatal("no error and no record")
			}
			var buf []byte
			for _, r := range recs {
				if r == nil {
					t.Fatal("nil record")
				}
				if buf, err = event.AppendEntry(buf[:0], &event.Event{Record: r}); err != nil {
					t.Fatalf("record %v does not encode: %v", r, err)
				}
			}
		}
		for _, c := range []byte(tagFromPath(path)) {
			if !tagByte(c) {
				t.Fatalf("tag %q from %q has byte %q", tagFromPath(path), path, c)
			}
		}
	})
}
