package event

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// stdRecord is what RecordFromJSON did before it kept order: encoding/json into a Go map,
// numbers typed the same way. The hand-written parser must agree with it on every input.
func stdRecord(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotObject
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return stdNormalize(m).(map[string]any), nil
}

var errNotObject = jsonErr("not an object")

type jsonErr string

func (e jsonErr) Error() string { return string(e) }

func stdNormalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		return normalizeValue(x)
	case map[string]any:
		for k, e := range x {
			x[k] = stdNormalize(e)
		}
	case []any:
		for i := range x {
			x[i] = stdNormalize(x[i])
		}
	}
	return v
}

var jsonSeeds = []string{
	`{"a":1,"b":-2.5e3,"c":"x","d":[1,{"e":null}],"big":18446744073709551615,"t":true,"f":false}`,
	`{"z":1,"a":2,"z":3}`, `{}`, ` { "k" : [ ] } `, `{"u":"\u00e9\ud83d\udd25\ud800x\\\/\b\f\n\r\t"}`,
	`{"inv":"` + "\xff\xfe" + `"}`, `{"huge":1e400}`, `{"n":-0}`, `{"n":01}`, `{"n":1.}`, `{"n":.5}`,
	`{"a":1}x`, `{"a":1} `, `[]`, `null`, `"s"`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, "{\"c\":\"\x01\"}",
	`{"e":"\x"}`, `{"d":{"d":{"d":{}}}}`, `{"n":1E+2,"m":1e-2}`, `{"a":tru}`, `{"k":"\ud83d"}`, `{"k":"\udd25\ud83d"}`,
}

func TestRecordFromJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkJSONAgrees(t, []byte(s))
	}
}

func checkJSONAgrees(t *testing.T, data []byte) {
	t.Helper()
	want, werr := stdRecord(data)
	got, gerr := RecordFromJSON(data)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: encoding/json err %v, RecordFromJSON err %v", data, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(got.ToMap(), want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got.ToMap(), want)
	}
}

func TestRecordFromJSONKeepsOrder(t *testing.T) {
	got, err := RecordFromJSON([]byte(`{"z":1,"a":{"y":2,"b":3},"m":[{"q":1,"c":2}],"z":4}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Map{{"z", int64(4)}, {"a", Map{{"y", int64(2)}, {"b", int64(3)}}}, {"m", []any{Map{{"q", int64(1)}, {"c", int64(2)}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	recs, err := RecordsFromJSON([]byte(`[{"b":1,"a":2},{"d":3,"c":4}]`))
	if err != nil || len(recs) != 2 || recs[0].Keys()[0] != "b" || recs[1].Keys()[0] != "d" {
		t.Fatalf("RecordsFromJSON: %v %#v", err, recs)
	}
}

func FuzzRecordFromJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkJSONAgrees(t, data) })
}
