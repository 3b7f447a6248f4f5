package event

import (
	"reflect"
	"testing"
)

func TestMapKeepsOrderThroughEdits(t *testing.T) {
	m := Map{{"host", "gw1"}, {"level", "info"}, {"code", int64(200)}}
	m.Set("env", "prod")
	m.Set("level", "warn")
	if got, want := m.Keys(), []string{"host", "level", "code", "env"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if v, ok := m.Get("level"); !ok || v != "warn" {
		t.Fatalf("level = %v %v", v, ok)
	}
	if !m.Rename("code", "status") || m.Keys()[2] != "status" {
		t.Fatalf("rename: %v", m.Keys())
	}
	m.Add("host", "dup")
	if !m.Delete("host") || m.Has("host") || m.Len() != 3 {
		t.Fatalf("delete: %#v", m)
	}
	if m.Delete("nope") {
		t.Fatal("deleted a missing key")
	}
	m.Set("a", int64(1))
	if !m.Rename("a", "env") || !reflect.DeepEqual(m.Keys(), []string{"level", "status", "env"}) {
		t.Fatalf("rename onto an existing key: %#v", m)
	}
	if v, _ := m.Get("env"); v != int64(1) {
		t.Fatalf("env = %v", v)
	}
}

func TestMapEncodesInOrder(t *testing.T) {
	m := Map{{"z", int64(1)}, {"a", Map{{"y", "1"}, {"b", []any{Map{{"k", true}}}}}}}
	b, err := AppendValue(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	// msgpack: fixmap 2, "z", 1, "a", fixmap 2, "y", "1", "b", [ {k: true} ]
	want := []byte{0x82, 0xa1, 'z', 0x01, 0xa1, 'a', 0x82, 0xa1, 'y', 0xa1, '1', 0xa1, 'b', 0x91, 0x81, 0xa1, 'k', 0xc3}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("msgpack %x, want %x", b, want)
	}
	if got := string(AppendJSON(nil, m)); got != `{"z":1,"a":{"y":"1","b":[{"k":true}]}}` {
		t.Fatalf("json %s", got)
	}
}

func TestMapJSONRoundTripKeepsOrder(t *testing.T) {
	in := `{"b":1,"a":{"d":2.5,"c":[1,"x",{"f":null,"e":false}]},"big":18446744073709551615}`
	m, err := MapFromJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendJSON(nil, m)); got != in {
		t.Fatalf("round trip\n got %s\nwant %s", got, in)
	}
	if _, err := MapFromJSON([]byte(`[1]`)); err == nil {
		t.Fatal("an array was taken as an object")
	}
	if _, err := MapFromJSON([]byte(`{"a":1} x`)); err == nil {
		t.Fatal("trailing data accepted")
	}
	var u Map
	if err := u.UnmarshalJSON([]byte(`{"k":"v","j":2}`)); err != nil || u.Keys()[0] != "k" {
		t.Fatalf("UnmarshalJSON: %v %#v", err, u)
	}
}

func TestMapGoMapConversions(t *testing.T) {
	g := map[string]any{"b": int64(1), "a": map[string]any{"y": "1", "x": []any{map[string]any{"k": true}}}}
	m := FromMap(g)
	if !reflect.DeepEqual(m.Keys(), []string{"a", "b"}) {
		t.Fatalf("FromMap keys %v", m.Keys())
	}
	if !reflect.DeepEqual(m.ToMap(), g) {
		t.Fatalf("ToMap %#v, want %#v", m.ToMap(), g)
	}
	c := m.Clone()
	inner, _ := c.Get("a")
	im := inner.(Map)
	im.Set("y", "changed")
	if v, _ := m[0].Value.(Map).Get("y"); v != "1" {
		t.Fatal("Clone shares nested maps")
	}
	n := 0
	for k, v := range m.All() {
		if k == "" || v == nil {
			t.Fatalf("All yielded %q %v", k, v)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatal("All did not stop")
	}
}
