package promsample

import (
	"reflect"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

func TestMapping(t *testing.T) {
	m, err := New(Settings{IncludeTag: true, Prefix: "dev_", AddLabels: []string{"fleet pi"}, LabelKeys: []string{"room,id"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(100, 0)
	ev := event.Event{Time: at, Record: event.Map{{"room", "kitchen"}, {"id", int64(7)}, {"temp", 21.5}, {"on", true}, {"off", false}, {"note", "x"}, {"Mem.total", int64(5)}, {"Mem", event.Map{{"free", uint64(2)}}}, {"9lives", int64(9)}, {"arr", []any{int64(1)}}}}
	got := m.Append(nil, "sensor.one", &ev)
	labels := []Label{{"fleet", "pi"}, {"id", "7"}, {"room", "kitchen"}}
	want := []Sample{
		{"dev_sensor_one_9lives", labels, 9, at},
		{"dev_sensor_one_Mem_free", labels, 2, at},
		{"dev_sensor_one_Mem_total", labels, 5, at},
		{"dev_sensor_one_off", labels, 0, at},
		{"dev_sensor_one_on", labels, 1, at},
		{"dev_sensor_one_temp", labels, 21.5, at},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	m, _ = New(Settings{})
	if got := m.Append(nil, "t", &event.Event{Time: at, Record: event.Map{{"9", int64(1)}}}); len(got) != 1 || got[0].Name != "_9" {
		t.Errorf("without tag and prefix: %v", got)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"a.b-c": "a_b_c", "9x": "_9x", "": "_", "ok:x_1": "ok:x_1", "é": "__"} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SanitizeLabel("a:b"); got != "a_b" {
		t.Errorf("SanitizeLabel(a:b) = %q", got)
	}
}
