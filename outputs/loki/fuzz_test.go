package loki_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/outputs/loki"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// Any labels key and any record: configuring fails with an error or the record maps to a
// push whose protobuf and JSON forms decode to the same streams.
func FuzzPush(f *testing.F) {
	f.Add(`job=dev, $level`, `$sub['stream']`, `{"log":"x","level":"info","sub":{"stream":"o"}}`, "key_value")
	f.Add(`a=1`, `$x[0]`, `{"x":[1,2],"s":"\u00e9\"\n"}`, "json")
	f.Add(`$a['b']['c']`, `n`, `{"a":{"b":{"c":1.5}},"n":null}`, "json")
	f.Fuzz(func(t *testing.T, labels, keys, record, format string) {
		o, err := configure("labels", labels, "label_keys", keys, "line_format", format, "drop_single_key", "on")
		if err != nil {
			return
		}
		rec, err := event.RecordFromJSON([]byte(record))
		if err != nil {
			return
		}
		c := pipelinetest.MakeChunk("app", event.Event{Time: time.Unix(1, 5), Record: rec}, event.Event{Time: time.Unix(0, 0), Record: rec.Clone()})
		req, err := o.Request(c)
		if err != nil {
			t.Fatal(err)
		}
		fromPB, err := decodeProto(loki.AppendPushRequest(nil, req))
		if err != nil {
			t.Fatalf("protobuf: %v", err)
		}
		fromJSON, err := decodeJSON(loki.AppendJSONPush(nil, req))
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		a, b := merged([]push{{Streams: fromPB}}), merged([]push{{Streams: fromJSON}})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("protobuf %+v\njson %+v", a, b)
		}
	})
}
