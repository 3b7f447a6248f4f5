package opentelemetry_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/outputs/opentelemetry"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func configure(kv ...string) (*opentelemetry.Output, error) {
	p, _ := pipeline.NewOutput("opentelemetry")
	var ps []config.Property
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, config.Property{Key: kv[i], Value: kv[i+1], File: "test.conf", Line: i/2 + 1})
	}
	if err := pipeline.Configure(p, ps); err != nil {
		return nil, err
	}
	return p.(*opentelemetry.Output), nil
}

func newOutput(t *testing.T, kv ...string) *opentelemetry.Output {
	t.Helper()
	o, err := configure(kv...)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := o.Init(context.Background(), pipeline.Env{Name: "opentelemetry.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

var base = time.Unix(1796476615, 470828624)

// sample is one record of each shape the mapping knows.
func sample() []event.Event {
	return []event.Event{
		// log key: the body; the rest dropped (kept as attributes with logs_body_key_attributes).
		{Time: base, Record: event.Map{{"log", "hello"}, {"level", "info"}, {"n", int64(-7)}}},
		// no body key: the whole record, in record order, every value type.
		{Time: base.Add(time.Second), Record: event.Map{{"z", 1.5}, {"a", true}, {"m", event.Map{{"k", "v"}, {"nil", nil}}}, {"arr", []any{int64(1), "x", false}}, {"big", uint64(1) << 63}}},
		// Fluent Bit's record keys for severity and trace.
		{Time: base.Add(2 * time.Second), Record: event.Map{{"message", "boom"}, {"SeverityText", "WARN"}, {"SeverityNumber", int64(13)},
			{"TraceId", "0102030405060708090a0b0c0d0e0f10"}, {"SpanId", "0102030405060708"}}},
		// the otlp metadata map Fluent Bit's OpenTelemetry input writes.
		{Time: base.Add(3 * time.Second), Metadata: event.Map{{"otlp", event.Map{{"severity_number", int64(17)}, {"severity_text", "ERROR"},
			{"attributes", event.Map{{"host.name", "pi"}}}, {"trace_flags", int64(1)}, {"observed_timestamp", base.Add(4 * time.Second).UnixNano()}}}},
			Record: event.Map{{"message", "from otlp"}}},
	}
}

const wantSample = `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"pump 7"}}]},"scopeLogs":[{"scope":{},"logRecords":[
{"timeUnixNano":"1796476615470828624","body":{"stringValue":"hello"}},
{"timeUnixNano":"1796476616470828624","body":{"kvlistValue":{"values":[{"key":"z","value":{"doubleValue":1.5}},{"key":"a","value":{"boolValue":true}},
  {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}},{"key":"nil","value":{}}]}}},
  {"key":"arr","value":{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"x"},{"boolValue":false}]}}},
  {"key":"big","value":{"doubleValue":9223372036854775808}}]}}},
{"timeUnixNano":"1796476617470828624","severityNumber":13,"severityText":"WARN","body":{"stringValue":"boom"},
  "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"},
{"timeUnixNano":"1796476618470828624","observedTimeUnixNano":"1796476619470828624","severityNumber":17,"severityText":"ERROR",
  "body":{"stringValue":"from otlp"},"attributes":[{"key":"host.name","value":{"stringValue":"pi"}}],"flags":1}
]}]}]}`

func sameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}

// The Collector's own decoder reads every body the output sends (protobuf, JSON, each
// gzipped or not) as the same export request: bodies, attributes, severity, ids, flags,
// times and the resource from add_label.
func TestLogsDecodeWithCollectorPdata(t *testing.T) {
	chk := startChecker(t, "127.0.0.1:0")
	for _, kv := range [][]string{{}, {"compress", "gzip"}, {"format", "json"}, {"format", "json", "compress", "gzip"}} {
		o := newOutput(t, append([]string{"port", chk.Port, "add_label", "service.name pump 7", "header", "X-Dev pi"}, kv...)...)
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...)); err != nil {
			t.Fatalf("%v: %v", kv, err)
		}
		e := chk.next(t)
		wantCT := "application/x-protobuf"
		if len(kv) > 0 && kv[0] == "format" {
			wantCT = "application/json"
		}
		if e.Path != "/v1/logs" || e.ContentType != wantCT || (e.Encoding == "gzip") != strings.Contains(strings.Join(kv, " "), "gzip") ||
			e.Header["X-Dev"][0] != "pi" {
			t.Errorf("%v: request %s %s %q %v", kv, e.Path, e.ContentType, e.Encoding, e.Header)
		}
		sameJSON(t, strings.Join(kv, " "), e.Request, wantSample)
	}
}

// logs_body_key picks the body; logs_body_key_attributes makes the other keys attributes.
func TestBodyKeyAndAttributes(t *testing.T) {
	chk := startChecker(t, "127.0.0.1:0")
	o := newOutput(t, "port", chk.Port, "logs_body_key", "$msg['text']", "logs_body_key_attributes", "on",
		"logs_severity_text_message_key", "level")
	rec := event.Map{{"level", "info"}, {"msg", event.Map{{"text", "hi"}, {"id", int64(3)}}}, {"n", 2.5}}
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", event.Event{Time: base, Record: rec})); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "body key", chk.next(t).Request, `{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":{},"logRecords":[
		{"timeUnixNano":"1796476615470828624","severityText":"info","body":{"stringValue":"hi"},"attributes":[
		{"key":"level","value":{"stringValue":"info"}},{"key":"msg","value":{"kvlistValue":{"values":[{"key":"id","value":{"intValue":"3"}}]}}},
		{"key":"n","value":{"doubleValue":2.5}}]}]}]}]}`)
}

// Records of tags in metrics_match go to metrics_uri as gauges, one per numeric field.
func TestMetricsDecodeWithCollectorPdata(t *testing.T) {
	chk := startChecker(t, "127.0.0.1:0")
	for _, format := range []string{"protobuf", "json"} {
		o := newOutput(t, "port", chk.Port, "metrics_match", "mem.* cpu.*", "add_label", "host pi", "format", format)
		c := pipelinetest.MakeChunk("cpu.local",
			event.Event{Time: base, Record: event.Map{{"cpu_p", 12.5}, {"user_p", int64(10)}, {"note", "x"}}},
			event.Event{Time: base.Add(time.Second), Record: event.Map{{"cpu_p", 13.0}, {"user_p", int64(11)}}})
		if err := o.Flush(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		e := chk.next(t)
		if e.Path != "/v1/metrics" {
			t.Errorf("%s: path %s", format, e.Path)
		}
		sameJSON(t, format, e.Request, `{"resourceMetrics":[{"resource":{"attributes":[{"key":"host","value":{"stringValue":"pi"}}]},"scopeMetrics":[{"scope":{},"metrics":[
			{"name":"cpu_local_cpu_p","gauge":{"dataPoints":[{"timeUnixNano":"1796476615470828624","asDouble":12.5},{"timeUnixNano":"1796476616470828624","asDouble":13}]}},
			{"name":"cpu_local_user_p","gauge":{"dataPoints":[{"timeUnixNano":"1796476615470828624","asDouble":10},{"timeUnixNano":"1796476616470828624","asDouble":11}]}}]}]}]}`)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		kv  []string
		key string
	}{
		{[]string{"logs_uri", "v1/logs"}, "logs_uri"},
		{[]string{"metrics_uri", "x"}, "metrics_uri"},
		{[]string{"compress", "zstd"}, "compress"},
		{[]string{"format", "avro"}, "format"},
		{[]string{"add_label", "lonely"}, "add_label"},
		{[]string{"logs_body_key", "$a["}, "logs_body_key"},
		{[]string{"logs_severity_text_message_key", "$a["}, "logs_severity_text_message_key"},
		{[]string{"http_passwd", "p"}, "http_passwd"},
		{[]string{"header", "Bad:Name v"}, "header"},
		{[]string{"port", "70000"}, "port"},
		{[]string{"metrics_match", " "}, "metrics_match"},
	} {
		_, err := configure(c.kv...)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: error %v does not name %s", c.kv, err, c.key)
		}
	}
}

// 4xx but 408/429 is a permanent refusal; 429 and 5xx ask for a retry.
func TestOutcomes(t *testing.T) {
	for _, c := range []struct {
		code  int
		retry bool
	}{{400, false}, {401, false}, {404, false}, {415, false}, {408, true}, {429, true}, {500, true}, {503, true}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(c.code) }))
		_, port, _ := cutLast(srv.Listener.Addr().String(), ":")
		o := newOutput(t, "port", port)
		err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...))
		srv.Close()
		if err == nil || pipeline.IsRetry(err) != c.retry {
			t.Errorf("%d: got %v, want retry=%v", c.code, err, c.retry)
		}
	}
}

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

func startEngine(t *testing.T, o *opentelemetry.Output, dir string) (*pipeline.Engine, pipeline.Emitter) {
	t.Helper()
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, SchedulerBase: 5 * time.Millisecond, SchedulerCap: 2 * time.Second,
		Storage: pipeline.StorageOptions{Path: dir, KeepRejected: dir != ""}})
	em := e.AddInput(pipeline.InputSpec{Plugin: "test", Input: idle{}})
	e.AddOutput(pipeline.OutputSpec{Plugin: "opentelemetry", Match: "*", Output: o, RetryLimit: pipeline.RetryForever})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return e, em
}

// Through the engine, a 400 keeps the chunk in the rejected directory, not retried.
func TestRefusedChunkIsKeptByTheEngine(t *testing.T) {
	hits := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- struct{}{}
		http.Error(w, "bad", http.StatusBadRequest)
	}))
	defer srv.Close()
	_, port, _ := cutLast(srv.Listener.Addr().String(), ":")
	o, err := configure("port", port)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e, em := startEngine(t, o, dir)
	for _, ev := range sample() {
		if err := em.Emit("app", ev); err != nil {
			t.Fatal(err)
		}
	}
	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].RejectedKept == 1 }) {
		t.Fatalf("metrics %+v: the refused chunk was not kept", e.Metrics().Outputs[0])
	}
	sides, _ := filepath.Glob(filepath.Join(dir, "rejected", "*.json"))
	if len(sides) != 1 {
		t.Fatalf("sidecars %v", sides)
	}
	b, _ := os.ReadFile(sides[0])
	var sc pipeline.RejectedSidecar
	if err := json.Unmarshal(b, &sc); err != nil || sc.Records != 4 || !strings.Contains(sc.Error, "400") {
		t.Errorf("sidecar %s: %v", b, err)
	}
	if len(hits) != 1 {
		t.Errorf("%d requests, want 1 (no retry of a refusal)", len(hits))
	}
}

// The collector goes away while records keep coming and comes back on the same port:
// every record arrives, none twice.
func TestServerDownAndBack(t *testing.T) {
	chk := startChecker(t, "127.0.0.1:0")
	o, err := configure("port", chk.Port, "net.connect_timeout", "1s")
	if err != nil {
		t.Fatal(err)
	}
	e, em := startEngine(t, o, "")
	emit := func(from, to int) {
		for i := from; i < to; i++ {
			if err := em.Emit("app", event.Event{Time: base.Add(time.Duration(i) * time.Millisecond), Record: event.Map{{"message", "r"}, {"i", int64(i)}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]int{}
	collect := func(c *checker, want int) {
		deadline := time.After(20 * time.Second)
		for len(seen) < want {
			select {
			case ex := <-c.out:
				if ex.Error != "" {
					t.Fatal(ex.Error)
				}
				var req struct {
					ResourceLogs []struct {
						ScopeLogs []struct {
							LogRecords []struct {
								Time string `json:"timeUnixNano"`
							}
						}
					}
				}
				if err := json.Unmarshal(ex.Request, &req); err != nil {
					t.Fatal(err)
				}
				for _, rl := range req.ResourceLogs {
					for _, sl := range rl.ScopeLogs {
						for _, lr := range sl.LogRecords {
							seen[lr.Time]++
						}
					}
				}
			case <-deadline:
				t.Fatalf("%d of %d records arrived", len(seen), want)
			}
		}
	}
	emit(0, 50)
	collect(chk, 50)
	// Stop the collector only once the output has its answers: a request received but not
	// yet answered when the collector dies is rightly sent again (at least once).
	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].ProcRecords >= 50 }) {
		t.Fatal("the first 50 records were not reported delivered")
	}
	chk.Stop()
	emit(50, 100)
	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].Retries > 0 }) {
		t.Fatal("no failed flush while the collector was down")
	}
	back := restartChecker(t, chk.Addr)
	collect(back, 100)
	for ts, n := range seen {
		if n != 1 {
			t.Errorf("record at %s arrived %d times", ts, n)
		}
	}
}

// Over TLS: delivered with the server's CA, refused with an unknown one while tls.verify
// is on.
func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := cutLast(srv.Listener.Addr().String(), ":")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := newOutput(t, "port", port, "tls", "on", "tls.ca_file", ca).Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...)); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	if err := newOutput(t, "port", port, "tls", "on").Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...)); err == nil {
		t.Fatal("an unknown CA was accepted with tls.verify on")
	}
}
