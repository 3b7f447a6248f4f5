package opentelemetry

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/promsample"
	"github.com/fluentbit-go/fluentbit-go/internal/protoenc"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// The OTLP messages written here (opentelemetry-proto v1, field numbers):
//
//	ExportLogsServiceRequest { ResourceLogs resource_logs = 1 }
//	ResourceLogs    { Resource resource = 1; ScopeLogs scope_logs = 2 }
//	Resource        { KeyValue attributes = 1 }
//	ScopeLogs       { InstrumentationScope scope = 1; LogRecord log_records = 2 }
//	LogRecord       { fixed64 time_unix_nano = 1; SeverityNumber severity_number = 2;
//	                  string severity_text = 3; AnyValue body = 5; KeyValue attributes = 6;
//	                  fixed32 flags = 8; bytes trace_id = 9; bytes span_id = 10;
//	                  fixed64 observed_time_unix_nano = 11 }
//	KeyValue        { string key = 1; AnyValue value = 2 }
//	AnyValue        { oneof: string_value = 1; bool_value = 2; int_value = 3;
//	                  double_value = 4; ArrayValue array_value = 5;
//	                  KeyValueList kvlist_value = 6; bytes bytes_value = 7 }
//	ArrayValue, KeyValueList { values = 1 }
//	ExportMetricsServiceRequest { ResourceMetrics resource_metrics = 1 }
//	ResourceMetrics { Resource resource = 1; ScopeMetrics scope_metrics = 2 }
//	ScopeMetrics    { InstrumentationScope scope = 1; Metric metrics = 2 }
//	Metric          { string name = 1; Gauge gauge = 5 }
//	Gauge           { NumberDataPoint data_points = 1 }
//	NumberDataPoint { fixed64 time_unix_nano = 3; double as_double = 4; KeyValue attributes = 7 }
//
// The JSON form is OTLP/JSON: lowerCamelCase names, 64-bit integers as strings, ids as hex.

// LogsRequest appends chunk c's records as one export request (protobuf or JSON by the
// format key, not compressed) to dst; n counts the records. With a damaged chunk it holds
// the records before the damage and the error says what happened.
func (o *Output) LogsRequest(dst []byte, c *pipeline.Chunk) (_ []byte, n int, _ error) {
	recs := make([]logRecord, 0, c.Records)
	err := c.Events(func(ev event.Event) error {
		recs = append(recs, o.mapRecord(&ev))
		return nil
	})
	if o.enc.json {
		return o.logsJSON(dst, recs), len(recs), err
	}
	return o.logsProto(dst, recs), len(recs), err
}

func (o *Output) logsProto(dst []byte, recs []logRecord) []byte {
	var rl, sl, lr, m int
	dst, rl = protoenc.Begin(dst, 1)
	dst, m = protoenc.Begin(dst, 1)
	dst = o.appendResourceAttrs(dst)
	dst = protoenc.End(dst, m)
	dst, sl = protoenc.Begin(dst, 2)
	dst = protoenc.Bytes(dst, 1, nil) // an empty InstrumentationScope, as Fluent Bit sends
	for i := range recs {
		r := &recs[i]
		dst, lr = protoenc.Begin(dst, 2)
		if ns, ok := unixNano(r.time); ok {
			dst = protoenc.Fixed64(dst, 1, ns)
		}
		if r.sevNum != 0 {
			dst = protoenc.Uvarint(dst, 2, uint64(r.sevNum))
		}
		if r.sevText != "" {
			dst = protoenc.String(dst, 3, r.sevText)
		}
		dst, m = protoenc.Begin(dst, 5)
		dst = appendAnyValue(dst, r.body)
		dst = protoenc.End(dst, m)
		for _, f := range r.attrs {
			dst = appendKeyValue(dst, 6, f.Key, f.Value)
		}
		if r.flags != 0 {
			dst = protoenc.Fixed32(dst, 8, r.flags)
		}
		if r.traceID != nil {
			dst = protoenc.Bytes(dst, 9, r.traceID)
		}
		if r.spanID != nil {
			dst = protoenc.Bytes(dst, 10, r.spanID)
		}
		if ns, ok := unixNano(r.observed); ok {
			dst = protoenc.Fixed64(dst, 11, ns)
		}
		dst = protoenc.End(dst, lr)
	}
	dst = protoenc.End(dst, sl)
	return protoenc.End(dst, rl)
}

// appendResourceAttrs appends the fields of a Resource: add_label's attributes.
func (o *Output) appendResourceAttrs(dst []byte) []byte {
	for _, a := range o.resource {
		dst = appendKeyValue(dst, 1, a.key, a.value)
	}
	return dst
}

func unixNano(t time.Time) (uint64, bool) {
	ns := t.UnixNano()
	return uint64(ns), ns > 0
}

// appendKeyValue appends a KeyValue message as field.
func appendKeyValue(dst []byte, field int, key string, v any) []byte {
	var kv, val int
	dst, kv = protoenc.Begin(dst, field)
	dst = protoenc.String(dst, 1, key)
	dst, val = protoenc.Begin(dst, 2)
	dst = appendAnyValue(dst, v)
	dst = protoenc.End(dst, val)
	return protoenc.End(dst, kv)
}

// appendAnyValue appends the fields of an AnyValue message holding v.
func appendAnyValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return dst
	case string:
		if !utf8.ValidString(x) { // not a protobuf string: the bytes as they are
			return protoenc.Bytes(dst, 7, []byte(x))
		}
		return protoenc.String(dst, 1, x)
	case []byte:
		return protoenc.Bytes(dst, 7, x)
	case bool:
		return protoenc.Bool(dst, 2, x)
	case int64:
		return protoenc.Int64(dst, 3, x)
	case uint64:
		if x > math.MaxInt64 {
			return protoenc.Double(dst, 4, float64(x))
		}
		return protoenc.Int64(dst, 3, int64(x))
	case float64:
		return protoenc.Double(dst, 4, x)
	case event.Map:
		var list int
		dst, list = protoenc.Begin(dst, 6)
		for _, f := range x {
			dst = appendKeyValue(dst, 1, f.Key, f.Value)
		}
		return protoenc.End(dst, list)
	case []any:
		var list, item int
		dst, list = protoenc.Begin(dst, 5)
		for _, e := range x {
			dst, item = protoenc.Begin(dst, 1)
			dst = appendAnyValue(dst, e)
			dst = protoenc.End(dst, item)
		}
		return protoenc.End(dst, list)
	}
	return protoenc.String(dst, 1, string(event.AppendJSON(nil, v)))
}

func (o *Output) logsJSON(dst []byte, recs []logRecord) []byte {
	dst = append(dst, `{"resourceLogs":[{"resource":`...)
	dst = o.resourceJSON(dst)
	dst = append(dst, `,"scopeLogs":[{"scope":{},"logRecords":[`...)
	for i := range recs {
		r := &recs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		first := true
		sep := func() {
			if !first {
				dst = append(dst, ',')
			}
			first = false
		}
		if ns, ok := unixNano(r.time); ok {
			sep()
			dst = append(dst, `"timeUnixNano":"`...)
			dst = strconv.AppendUint(dst, ns, 10)
			dst = append(dst, '"')
		}
		if ns, ok := unixNano(r.observed); ok {
			sep()
			dst = append(dst, `"observedTimeUnixNano":"`...)
			dst = strconv.AppendUint(dst, ns, 10)
			dst = append(dst, '"')
		}
		if r.sevNum != 0 {
			sep()
			dst = append(dst, `"severityNumber":`...)
			dst = strconv.AppendInt(dst, r.sevNum, 10)
		}
		if r.sevText != "" {
			sep()
			dst = append(dst, `"severityText":`...)
			dst = event.AppendJSON(dst, r.sevText)
		}
		sep()
		dst = append(dst, `"body":`...)
		dst = appendAnyValueJSON(dst, r.body)
		if len(r.attrs) > 0 {
			sep()
			dst = append(dst, `"attributes":`...)
			dst = appendKeyValuesJSON(dst, r.attrs)
		}
		if r.flags != 0 {
			sep()
			dst = append(dst, `"flags":`...)
			dst = strconv.AppendUint(dst, uint64(r.flags), 10)
		}
		if r.traceID != nil {
			sep()
			dst = append(dst, `"traceId":"`...)
			dst = hex.AppendEncode(dst, r.traceID)
			dst = append(dst, '"')
		}
		if r.spanID != nil {
			sep()
			dst = append(dst, `"spanId":"`...)
			dst = hex.AppendEncode(dst, r.spanID)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}]}]}"...)
}

func (o *Output) resourceJSON(dst []byte) []byte {
	if len(o.resource) == 0 {
		return append(dst, "{}"...)
	}
	m := make(event.Map, 0, len(o.resource))
	for _, a := range o.resource {
		m = append(m, event.KV{Key: a.key, Value: a.value})
	}
	dst = append(dst, `{"attributes":`...)
	dst = appendKeyValuesJSON(dst, m)
	return append(dst, '}')
}

func appendKeyValuesJSON(dst []byte, m event.Map) []byte {
	dst = append(dst, '[')
	for i, f := range m {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = event.AppendJSON(dst, f.Key)
		dst = append(dst, `,"value":`...)
		dst = appendAnyValueJSON(dst, f.Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendAnyValueJSON(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "{}"...)
	case string:
		if !utf8.ValidString(x) {
			return appendAnyValueJSON(dst, []byte(x))
		}
		dst = append(dst, `{"stringValue":`...)
		dst = event.AppendJSON(dst, x)
	case []byte:
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, x)
		dst = append(dst, '"')
	case bool:
		dst = append(dst, `{"boolValue":`...)
		dst = strconv.AppendBool(dst, x)
	case int64:
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendInt(dst, x, 10)
		dst = append(dst, '"')
	case uint64:
		if x > math.MaxInt64 {
			return appendAnyValueJSON(dst, float64(x))
		}
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendUint(dst, x, 10)
		dst = append(dst, '"')
	case float64:
		dst = append(dst, `{"doubleValue":`...)
		dst = appendJSONDouble(dst, x)
	case event.Map:
		dst = append(dst, `{"kvlistValue":{"values":`...)
		dst = appendKeyValuesJSON(dst, x)
		dst = append(dst, '}')
	case []any:
		dst = append(dst, `{"arrayValue":{"values":[`...)
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAnyValueJSON(dst, e)
		}
		dst = append(dst, "]}"...)
	default:
		dst = append(dst, `{"stringValue":`...)
		dst = event.AppendJSON(dst, string(event.AppendJSON(nil, v)))
	}
	return append(dst, '}')
}

// appendJSONDouble writes a double as OTLP/JSON (protobuf's JSON mapping) does: NaN and
// the infinities as strings.
func appendJSONDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// MetricsRequest appends samples as one ExportMetricsServiceRequest: one gauge metric per
// name, in first-seen order, its data points in sample order.
func (o *Output) MetricsRequest(dst []byte, samples []promsample.Sample) []byte {
	type metric struct {
		name string
		idx  []int
	}
	var order []*metric
	byName := map[string]*metric{}
	for i := range samples {
		m := byName[samples[i].Name]
		if m == nil {
			m = &metric{name: samples[i].Name}
			byName[m.name] = m
			order = append(order, m)
		}
		m.idx = append(m.idx, i)
	}
	if o.enc.json {
		dst = append(dst, `{"resourceMetrics":[{"resource":`...)
		dst = o.resourceJSON(dst)
		dst = append(dst, `,"scopeMetrics":[{"scope":{},"metrics":[`...)
		for i, m := range order {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = event.AppendJSON(dst, m.name)
			dst = append(dst, `,"gauge":{"dataPoints":[`...)
			for j, k := range m.idx {
				s := &samples[k]
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, '{')
				if len(s.Labels) > 0 {
					am := make(event.Map, 0, len(s.Labels))
					for _, l := range s.Labels {
						am = append(am, event.KV{Key: l.Name, Value: l.Value})
					}
					dst = append(dst, `"attributes":`...)
					dst = appendKeyValuesJSON(dst, am)
					dst = append(dst, ',')
				}
				ns, _ := unixNano(s.Time)
				dst = append(dst, `"timeUnixNano":"`...)
				dst = strconv.AppendUint(dst, ns, 10)
				dst = append(dst, `","asDouble":`...)
				dst = appendJSONDouble(dst, s.Value)
				dst = append(dst, '}')
			}
			dst = append(dst, "]}}"...)
		}
		return append(dst, "]}]}]}"...)
	}
	var rm, res, sm, mb, g, dp int
	dst, rm = protoenc.Begin(dst, 1)
	dst, res = protoenc.Begin(dst, 1)
	dst = o.appendResourceAttrs(dst)
	dst = protoenc.End(dst, res)
	dst, sm = protoenc.Begin(dst, 2)
	dst = protoenc.Bytes(dst, 1, nil)
	for _, m := range order {
		dst, mb = protoenc.Begin(dst, 2)
		dst = protoenc.String(dst, 1, m.name)
		dst, g = protoenc.Begin(dst, 5)
		for _, k := range m.idx {
			s := &samples[k]
			dst, dp = protoenc.Begin(dst, 1)
			if ns, ok := unixNano(s.Time); ok {
				dst = protoenc.Fixed64(dst, 3, ns)
			}
			dst = protoenc.Double(dst, 4, s.Value)
			for _, l := range s.Labels {
				dst = appendKeyValue(dst, 7, l.Name, l.Value)
			}
			dst = protoenc.End(dst, dp)
		}
		dst = protoenc.End(dst, g)
		dst = protoenc.End(dst, mb)
	}
	dst = protoenc.End(dst, sm)
	return protoenc.End(dst, rm)
}
