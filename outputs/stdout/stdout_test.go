package stdout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// t0 is 2023-11-14T22:13:20.123456789Z.
var t0 = time.Unix(1700000000, 123456789)

func newStdout(t testing.TB, props map[string]string) (*Output, *bytes.Buffer) {
	t.Helper()
	o := pipelinetest.Output[*Output](t, "stdout", pipelinetest.Sorted(props)...)
	var buf bytes.Buffer
	o.Writer = &buf
	return pipelinetest.Init(t, o, pipeline.Env{Name: "stdout.0"}), &buf
}

func flush(t testing.TB, o *Output, c *pipeline.Chunk) {
	t.Helper()
	if err := o.Flush(context.Background(), c); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestStdoutMsgpackFormatAsFluentBit(t *testing.T) {
	o, buf := newStdout(t, nil)
	flush(t, o, pipelinetest.MakeChunk("app",
		event.Event{Time: t0, Record: event.Map{{"k", "v"}}},
		event.Event{Time: time.Unix(1700000001, 5), Metadata: event.Map{{"m", int64(1)}}, Record: event.Map{{"int", int64(-3)}, {"float", 2.5}, {"nil", nil}, {"bool", true}, {"list", []any{int64(1), "y"}}, {"map", event.Map{{"g", false}}}, {"bin", []byte{'a', '"', 0x01}}}},
	))
	want := `[0] app: [[1700000000.123456789, {}], {"k"=>"v"}]
[1] app: [[1700000001.000000005, {"m"=>1}], {"int"=>-3, "float"=>2.500000, "nil"=>nil, "bool"=>true, "list"=>[1, "y"], "map"=>{"g"=>false}, "bin"=>"a\"\x01"}]
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// The counter restarts with every chunk, as in Fluent Bit.
	buf.Reset()
	flush(t, o, pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{}}))
	if got, want := buf.String(), "[0] app: [[1700000000.123456789, {}], {}]\n"; got != want {
		t.Errorf("second chunk: got %q, want %q", got, want)
	}
}

func TestStdoutJSONFormats(t *testing.T) {
	c := pipelinetest.MakeChunk("app",
		event.Event{Time: t0, Record: event.Map{{"k", "v"}, {"n", int64(1)}}},
		event.Event{Time: time.Unix(1700000001, 0), Record: event.Map{{"k", "w"}}},
	)
	for _, tc := range []struct {
		format, want string
	}{
		{"json", `[{"date":1700000000.123457,"k":"v","n":1},{"date":1700000001.0,"k":"w"}]` + "\n"},
		{"JSON_Lines", `{"date":1700000000.123457,"k":"v","n":1}` + "\n" + `{"date":1700000001.0,"k":"w"}` + "\n"},
		{"json_stream", `{"date":1700000000.123457,"k":"v","n":1}{"date":1700000001.0,"k":"w"}` + "\n"},
	} {
		o, buf := newStdout(t, map[string]string{"format": tc.format})
		flush(t, o, c)
		if got := buf.String(); got != tc.want {
			t.Errorf("format %s:\ngot  %s\nwant %s", tc.format, got, tc.want)
		}
	}
}

func TestStdoutJSONDateOptions(t *testing.T) {
	c := pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"k", "v"}}})
	for _, tc := range []struct {
		key, format, want string
	}{
		{"", "", `{"date":1700000000.123457,"k":"v"}`},
		{"", "double", `{"date":1700000000.123457,"k":"v"}`},
		{"", "epoch", `{"date":1700000000,"k":"v"}`},
		{"", "epoch_ms", `{"date":1700000000123,"k":"v"}`},
		{"", "ISO8601", `{"date":"2023-11-14T22:13:20.123456Z","k":"v"}`},
		{"", "java_sql_timestamp", `{"date":"2023-11-14 22:13:20.123456","k":"v"}`},
		{"@timestamp", "iso8601", `{"@timestamp":"2023-11-14T22:13:20.123456Z","k":"v"}`},
		{"false", "iso8601", `{"k":"v"}`},
		{"Off", "", `{"k":"v"}`},
		// The record's own key wins over the date, as the later duplicate does in Fluent Bit.
		{"k", "epoch", `{"k":"v"}`},
	} {
		props := map[string]string{"format": "json_lines"}
		if tc.key != "" {
			props["json_date_key"] = tc.key
		}
		if tc.format != "" {
			props["json_date_format"] = tc.format
		}
		o, buf := newStdout(t, props)
		flush(t, o, c)
		if got := strings.TrimSuffix(buf.String(), "\n"); got != tc.want {
			t.Errorf("json_date_key=%q json_date_format=%q: got %s, want %s", tc.key, tc.format, got, tc.want)
		}
	}
}

func TestStdoutJSONCarriesMetadata(t *testing.T) {
	o, buf := newStdout(t, map[string]string{"format": "json_lines", "json_date_format": "epoch"})
	flush(t, o, pipelinetest.MakeChunk("app",
		event.Event{Time: t0, Metadata: event.Map{{"otlp", event.Map{{"x", int64(1)}}}}, Record: event.Map{{"k", "v"}}},
		event.Event{Time: t0, Metadata: event.Map{}, Record: event.Map{{"k", "v"}}},
	))
	want := `{"date":1700000000,"__internal__":{"log_metadata":{"otlp":{"x":1}}},"k":"v"}` + "\n" +
		`{"date":1700000000,"k":"v"}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestStdoutBadKeysAreConfigureErrors(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"format", "yaml"},
		{"json_date_format", "rfc3339"},
	} {
		err := pipeline.Configure(New(), []config.Property{{Key: tc.key, Value: tc.value}})
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.value) {
			t.Errorf("%s %s: Configure error %v, want a config.Error about the key", tc.key, tc.value, err)
		}
		// Init, for callers that set the fields themselves, reports the same.
		o := New()
		switch tc.key {
		case "format":
			o.Format = tc.value
		case "json_date_format":
			o.JSONDateFormat = tc.value
		}
		if err := o.Init(context.Background(), pipeline.Env{}); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s %s: Init error %v, want a config.Error about the key", tc.key, tc.value, err)
		}
	}
	if err := pipeline.Configure(New(), []config.Property{{Key: "formt", Value: "json"}}); err == nil {
		t.Error("a misspelt key was accepted")
	}
}

func TestStdoutFactoryDefaults(t *testing.T) {
	if s := pipelinetest.Output[*Output](t, "stdout"); s.Writer == nil || s.Format != "msgpack" || s.JSONDateKey != "date" {
		t.Errorf("factory defaults: %+v", s)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestStdoutWriteErrorIsRetried(t *testing.T) {
	o, _ := newStdout(t, nil)
	o.Writer = failingWriter{errors.New("broken pipe")}
	err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"k", "v"}}}))
	if err == nil || !pipeline.IsRetry(err) {
		t.Errorf("Flush = %v, want a retry", err)
	}
}

func TestStdoutDamagedChunkPrintsGoodRecords(t *testing.T) {
	o, buf := newStdout(t, map[string]string{"format": "json_lines", "json_date_key": "off"})
	c := pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"k", "v"}}})
	c.Data = append(c.Data, 0x92, 0xc1) // an array of 2 holding a never-used byte
	c.Records++
	err := o.Flush(context.Background(), c)
	if err == nil || pipeline.IsRetry(err) {
		t.Errorf("Flush = %v, want an error that is not retried", err)
	}
	if got := buf.String(); got != `{"k":"v"}`+"\n" {
		t.Errorf("printed %q, want the good record", got)
	}
}

func TestStdoutEmptyChunkWritesNothing(t *testing.T) {
	o, _ := newStdout(t, map[string]string{"format": "json"})
	var calls atomic.Int32
	o.Writer = writerFunc(func(p []byte) (int, error) { calls.Add(1); return len(p), nil })
	flush(t, o, &pipeline.Chunk{Tag: "app"})
	if calls.Load() != 0 {
		t.Errorf("%d writes for an empty chunk", calls.Load())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// serialWriter fails the test if two Writes overlap, and keeps each Write whole.
type serialWriter struct {
	t      *testing.T
	busy   atomic.Bool
	mu     sync.Mutex
	writes []string
}

func (w *serialWriter) Write(p []byte) (int, error) {
	if !w.busy.CompareAndSwap(false, true) {
		w.t.Error("two Writes at once")
	}
	time.Sleep(10 * time.Microsecond) // widen the window an overlap would need
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	w.busy.Store(false)
	return len(p), nil
}

func TestStdoutWorkersWriteWholeChunksOneAtATime(t *testing.T) {
	o, _ := newStdout(t, map[string]string{"format": "json_lines", "json_date_format": "epoch"})
	w := &serialWriter{t: t}
	o.Writer = w
	const workers, chunks, records = 8, 25, 20
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range chunks {
				evs := make([]event.Event, records)
				for r := range evs {
					evs[r] = event.Event{Time: t0, Record: event.Map{{"g", int64(g)}, {"i", int64(i)}, {"r", int64(r)}}}
				}
				if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", evs...)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(w.writes) != workers*chunks {
		t.Fatalf("%d writes, want one per chunk (%d)", len(w.writes), workers*chunks)
	}
	for _, s := range w.writes {
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if len(lines) != records {
			t.Fatalf("a write holds %d lines, want %d", len(lines), records)
		}
		prefix := lines[0][:strings.Index(lines[0], `,"r"`)]
		for r, l := range lines {
			if want := fmt.Sprintf(`%s,"r":%d}`, prefix, r); l != want {
				t.Fatalf("line %d of a chunk is %s, want %s", r, l, want)
			}
		}
	}
}

func benchChunk(records int) *pipeline.Chunk {
	evs := make([]event.Event, records)
	for i := range evs {
		evs[i] = event.Event{Time: t0.Add(time.Duration(i)), Record: event.Map{{"log", "GET /index.html HTTP/1.1 200 512"}, {"host", "pi-zero"}, {"pid", int64(1234 + i)}, {"cpu", 0.25}}}
	}
	return pipelinetest.MakeChunk("bench", evs...)
}

func BenchmarkStdout(b *testing.B) {
	c := benchChunk(100)
	for _, f := range []string{"msgpack", "json", "json_lines"} {
		b.Run(f, func(b *testing.B) {
			o, _ := newStdout(b, map[string]string{"format": f})
			o.Writer = io.Discard
			b.ReportAllocs()
			b.SetBytes(int64(len(c.Data)))
			for b.Loop() {
				if err := o.Flush(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(c.Records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
