package opentelemetry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
	"google.golang.org/protobuf/encoding/protowire"
)

// message walks a protobuf message of kind (an OTLP message name), descending into the
// fields the schema says are messages, and fails on anything malformed.
func message(t *testing.T, b []byte, kind string) {
	children := map[string]map[protowire.Number]string{
		"request":      {1: "ResourceLogs"},
		"ResourceLogs": {1: "Resource", 2: "ScopeLogs"},
		"Resource":     {1: "KeyValue"},
		"ScopeLogs":    {1: "Scope", 2: "LogRecord"},
		"Scope":        {3: "KeyValue"},
		"LogRecord":    {5: "AnyValue", 6: "KeyValue"},
		"KeyValue":     {2: "AnyValue"},
		"AnyValue":     {5: "List", 6: "KVList"},
		"List":         {1: "AnyValue"},
		"KVList":       {1: "KeyValue"},
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("%s: tag: %v", kind, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				t.Fatalf("%s: bytes: %v", kind, protowire.ParseError(m))
			}
			if child, ok := children[kind][num]; ok {
				message(t, v, child)
			}
			n = m
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			t.Fatalf("%s field %d: %v", kind, num, protowire.ParseError(n))
		}
		b = b[n:]
	}
}

// Any record: the protobuf request is well formed down to every AnyValue, and the JSON
// request is valid JSON.
func FuzzLogsRequest(f *testing.F) {
	f.Add(`{"log":"x","level":"info"}`, "")
	f.Add(`{"m":{"a":[1,2.5,{"b":null}],"c":true},"big":18446744073709551615,"neg":-1}`, "$m['a']")
	f.Add(`{"TraceId":"0102030405060708090a0b0c0d0e0f10","SeverityNumber":"9","s":"\u00e9\n"}`, "$s")
	f.Fuzz(func(t *testing.T, record, bodyKey string) {
		rec, err := event.RecordFromJSON([]byte(record))
		if err != nil {
			return
		}
		for _, format := range []string{"protobuf", "json"} {
			o, err := configure("format", format, "logs_body_key", bodyKey, "logs_body_key_attributes", "on", "add_label", "a b")
			if err != nil {
				return
			}
			b, n, err := o.LogsRequest(nil, pipelinetest.MakeChunk("app", event.Event{Time: time.Unix(1, 2), Record: rec}))
			if err != nil || n != 1 {
				t.Fatalf("%d records, %v", n, err)
			}
			if format == "json" {
				if !json.Valid(b) {
					t.Fatalf("invalid JSON: %s", b)
				}
				continue
			}
			message(t, b, "request")
		}
	})
}
