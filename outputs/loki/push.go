package loki

import (
	"strconv"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/protoenc"
)

// Request is one push: streams in the order their first record came.
type Request struct {
	Streams []*Stream
}

// Stream is one label set and its entries (in time order once Request returns).
type Stream struct {
	Labels      []Label // sorted by name
	LabelString string  // {a="1", b="2"}: Loki's text form, the protobuf's labels field
	Entries     []Entry
}

// Label is a name and value (a stream label or a structured metadata entry).
type Label struct {
	Name, Value string
}

// Entry is one log line.
type Entry struct {
	Time     time.Time
	Line     string
	Metadata []Label
}

// appendLabelString appends labels in Loki's (Prometheus') text form: {a="1", b="x\"y"}.
func appendLabelString(dst []byte, labels []Label) []byte {
	dst = append(dst, '{')
	for i, l := range labels {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, l.Name...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, l.Value)
	}
	return append(dst, '}')
}

// AppendPushRequest appends Loki's PushRequest protobuf (pkg/push/push.proto):
//
//	PushRequest      { repeated StreamAdapter streams = 1; }
//	StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
//	EntryAdapter     { Timestamp timestamp = 1; string line = 2;
//	                   repeated LabelPairAdapter structuredMetadata = 3; }
//	LabelPairAdapter { string name = 1; string value = 2; }
//	Timestamp        { int64 seconds = 1; int32 nanos = 2; }
func AppendPushRequest(dst []byte, req *Request) []byte {
	var st, ent, ts, lp int
	for _, s := range req.Streams {
		dst, st = protoenc.Begin(dst, 1)
		dst = protoenc.String(dst, 1, s.LabelString)
		for _, e := range s.Entries {
			dst, ent = protoenc.Begin(dst, 2)
			dst, ts = protoenc.Begin(dst, 1)
			if sec := e.Time.Unix(); sec != 0 {
				dst = protoenc.Int64(dst, 1, sec)
			}
			if ns := e.Time.Nanosecond(); ns != 0 {
				dst = protoenc.Int64(dst, 2, int64(ns))
			}
			dst = protoenc.End(dst, ts)
			dst = protoenc.String(dst, 2, e.Line)
			for _, m := range e.Metadata {
				dst, lp = protoenc.Begin(dst, 3)
				dst = protoenc.String(dst, 1, m.Name)
				dst = protoenc.String(dst, 2, m.Value)
				dst = protoenc.End(dst, lp)
			}
			dst = protoenc.End(dst, ent)
		}
		dst = protoenc.End(dst, st)
	}
	return dst
}

// AppendJSONPush appends the JSON push body, as Fluent Bit writes it:
// {"streams":[{"stream":{labels},"values":[["<ns>","<line>",{metadata}],...]}]}.
func AppendJSONPush(dst []byte, req *Request) []byte {
	dst = append(dst, `{"streams":[`...)
	for i, s := range req.Streams {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"stream":{`...)
		dst = appendJSONPairs(dst, s.Labels)
		dst = append(dst, `},"values":[`...)
		for j, e := range s.Entries {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `["`...)
			dst = strconv.AppendInt(dst, e.Time.UnixNano(), 10)
			dst = append(dst, `",`...)
			dst = event.AppendJSON(dst, e.Line)
			if len(e.Metadata) > 0 {
				dst = append(dst, ",{"...)
				dst = appendJSONPairs(dst, e.Metadata)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

func appendJSONPairs(dst []byte, ls []Label) []byte {
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = event.AppendJSON(dst, l.Name)
		dst = append(dst, ':')
		dst = event.AppendJSON(dst, l.Value)
	}
	return dst
}
