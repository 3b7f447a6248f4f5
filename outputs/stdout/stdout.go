// Package stdout prints chunks to the standard output, like Fluent Bit's stdout output:
// for looking at what flows through a pipeline, and for tests. It does not rotate, colour
// or page anything; to keep records, use the file output.
//
//	[OUTPUT]
//	    Name             stdout
//	    Match            *
//	    Format           json_lines
//	    Json_Date_Key    time
//	    Json_Date_Format iso8601
//
// Keys:
//
//   - format msgpack|json|json_lines|json_stream (default msgpack, case-insensitive).
//   - json_date_key NAME (default date): the key the event time is written under in the
//     JSON formats; false, off or no leave the time out.
//   - json_date_format double|epoch|epoch_ms|iso8601|java_sql_timestamp (default double;
//     epoch_millis and epoch_milliseconds are epoch_ms).
//
// Formats, for an event of tag app at 1700000000.123456789 with record {"k":"v"}:
//
//	msgpack      [0] app: [[1700000000.123456789, {}], {"k"=>"v"}]
//	json         [{"date":1700000000.123457,"k":"v"}]
//	json_lines   {"date":1700000000.123457,"k":"v"}
//	json_stream  {"date":1700000000.123457,"k":"v"}   (a chunk's objects back to back, then a newline)
//
// msgpack is the human-readable text Fluent Bit v2+ prints: a counter that restarts at 0
// for every chunk, the tag, the time with nine decimals and the metadata map (empty for
// classic entries), then the record as msgpack-c prints objects (strings quoted but not
// escaped, floats with six decimals). json is one array per chunk on one line. In the JSON
// formats the date key comes first, then, for events that carry metadata,
// "__internal__":{"log_metadata":{...}}, then the record, as Fluent Bit writes them.
// iso8601 is 2023-11-14T22:13:20.123456Z and java_sql_timestamp 2023-11-14 22:13:20.123456
// (UTC, microseconds truncated); double has Fluent Bit's "%.16g" precision.
//
// Where this differs from Fluent Bit: record keys are printed sorted (a record is a Go map
// here, so its arrival order is gone); JSON strings keep non-ASCII characters as UTF-8
// instead of \u escapes, and other floats in records are written as event.AppendJSON
// writes them; times after 2038 print correctly (Fluent Bit casts seconds to int32); an
// unknown format or json_date_format is a configuration error, where Fluent Bit logs it and
// falls back to the default.
//
// Each chunk is rendered into a buffer and handed to the writer in one Write, under a
// lock, so chunks from several workers never interleave. A failed write asks the engine
// to retry the chunk.
package stdout

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/outputs/internal/render"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("stdout", func() pipeline.Output { return New() })
}

// Output is the stdout output. Set the fields (or let the engine decode them), then call
// Init before the first Flush.
type Output struct {
	Format         string `conf:"format"`           // msgpack (default), json, json_lines, json_stream
	JSONDateKey    string `conf:"json_date_key"`    // default "date"; false/off/no: no date key
	JSONDateFormat string `conf:"json_date_format"` // double (default), epoch, epoch_ms, iso8601, java_sql_timestamp

	// Writer receives the output; New sets it to os.Stdout. Tests and the daemon may
	// redirect it. It need not be safe for concurrent use: writes are serialized.
	Writer io.Writer

	format     format
	dateKey    string // "" when off
	dateFormat render.DateFormat

	mu   sync.Mutex // serializes Writer.Write
	bufs sync.Pool  // *[]byte render buffers
}

type format int

const (
	formatMsgpack format = iota
	formatJSON
	formatJSONLines
	formatJSONStream
)

// New returns an Output with Fluent Bit's defaults, writing to os.Stdout.
func New() *Output {
	return &Output{Format: "msgpack", JSONDateKey: "date", JSONDateFormat: "double", Writer: os.Stdout}
}

// Validate checks the keys, without side effects, so that mistakes show up when the
// configuration is loaded (and at --dry-run). Errors are config.KeyErrorf errors naming
// the key and the value at fault. It may be called more than once.
func (o *Output) Validate() error {
	var f format
	switch render.Lower(o.Format) {
	case "", "msgpack":
		f = formatMsgpack
	case "json":
		f = formatJSON
	case "json_lines":
		f = formatJSONLines
	case "json_stream":
		f = formatJSONStream
	default:
		return config.KeyErrorf("format", "%q: want msgpack, json, json_lines or json_stream", o.Format)
	}
	df, ok := render.ParseDateFormat(o.JSONDateFormat)
	if !ok {
		return config.KeyErrorf("json_date_format", "%q: want double, epoch, epoch_ms, iso8601 or java_sql_timestamp", o.JSONDateFormat)
	}
	o.format, o.dateFormat = f, df
	switch {
	case render.DateKeyOff(o.JSONDateKey):
		o.dateKey = ""
	case o.JSONDateKey == "":
		o.dateKey = "date"
	default:
		o.dateKey = o.JSONDateKey
	}
	return nil
}

// Init validates the keys again (the fields may have been set since Configure) and
// defaults Writer to os.Stdout.
func (o *Output) Init(context.Context, pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Writer == nil {
		o.Writer = os.Stdout
	}
	return nil
}

// maxPooled is the largest render buffer kept for reuse; a rare huge chunk should not pin
// its buffer for the life of the agent.
const maxPooled = 4 << 20

// Flush prints c in one write. A failed write is retried by the engine. A damaged chunk
// has its good records (those before the damage) printed and is reported as an error that
// is not retried: retrying would print them again and never get past the damage.
func (o *Output) Flush(_ context.Context, c *pipeline.Chunk) error {
	bp, _ := o.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf, decodeErr := o.render((*bp)[:0], c)
	var err error
	if len(buf) > 0 {
		o.mu.Lock()
		_, err = o.Writer.Write(buf)
		o.mu.Unlock()
	}
	if cap(buf) <= maxPooled {
		*bp = buf
		o.bufs.Put(bp)
	}
	if err != nil {
		return pipeline.Retry(fmt.Errorf("stdout: write: %w", err))
	}
	if decodeErr != nil {
		return fmt.Errorf("stdout: chunk %q: %w", c.Tag, decodeErr)
	}
	return nil
}

// render appends the text of c's events to dst. With an error, dst holds the events
// before the damaged one.
func (o *Output) render(dst []byte, c *pipeline.Chunk) ([]byte, error) {
	var keys []string
	n := 0
	err := c.Events(func(ev event.Event) error {
		switch o.format {
		case formatMsgpack:
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, "] "...)
			dst = append(dst, c.Tag...)
			dst = append(dst, ": [["...)
			dst = render.AppendSecNsec(dst, ev.Time)
			dst = append(dst, ", "...)
			if ev.Metadata == nil {
				dst = append(dst, "{}"...)
			} else {
				dst = render.AppendPrint(dst, ev.Metadata)
			}
			dst = append(dst, "], "...)
			dst = render.AppendPrint(dst, ev.Record)
			dst = append(dst, "]\n"...)
		case formatJSON:
			if n == 0 {
				dst = append(dst, '[')
			} else {
				dst = append(dst, ',')
			}
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
		case formatJSONLines:
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
			dst = append(dst, '\n')
		case formatJSONStream:
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
		}
		n++
		return nil
	})
	if n > 0 {
		switch o.format {
		case formatJSON:
			dst = append(dst, "]\n"...)
		case formatJSONStream:
			// Fluent Bit's stdout ends every chunk but a json_lines one with a newline.
			dst = append(dst, '\n')
		}
	}
	return dst, err
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Validator   = (*Output)(nil)
	_ pipeline.Initializer = (*Output)(nil)
)
