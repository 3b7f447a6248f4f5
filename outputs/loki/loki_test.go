package loki_test

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
	"github.com/fluentbit-go/fluentbit-go/outputs/loki"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func pipelineEnv() pipeline.Env { return pipeline.Env{Name: "loki.0"} }

func configure(kv ...string) (*loki.Output, error) {
	p, _ := pipeline.NewOutput("loki")
	var ps []config.Property
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, config.Property{Key: kv[i], Value: kv[i+1], File: "test.conf", Line: i/2 + 1})
	}
	if err := pipeline.Configure(p, ps); err != nil {
		return nil, err
	}
	return p.(*loki.Output), nil
}

func newOutput(t *testing.T, kv ...string) *loki.Output {
	t.Helper()
	o, err := configure(kv...)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := o.Init(context.Background(), pipeline.Env{Name: "loki.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// sample are the records the tests push: two streams by level, out of time order.
var base = time.Unix(1796476615, 470828624)

func sample() []event.Event {
	return []event.Event{
		{Time: base.Add(2 * time.Second), Record: event.Map{{"log", "second"}, {"level", "info"}, {"sub", event.Map{{"stream", "stdout"}, {"n", int64(3)}}}, {"trace", "t2"}, {"secret", "x"}}},
		{Time: base, Record: event.Map{{"log", "first"}, {"level", "info"}, {"sub", event.Map{{"stream", "stdout"}}}, {"trace", "t1"}}},
		{Time: base.Add(time.Second), Record: event.Map{{"log", `boom "q"`}, {"level", "error"}, {"num", 5.5}, {"arr", []any{int64(1), "a", true, nil}}}},
	}
}

var sampleConfig = []string{
	"labels", "job=dev, $level", "label_keys", "$sub['stream']", "structured_metadata", "$trace",
	"remove_keys", "secret", "tenant_id", "t1",
}

func wantSample() map[string][]entry {
	return map[string][]entry{
		labelKey(map[string]string{"job": "dev", "level": "info", "sub_stream": "stdout"}): {
			{TS: base.UnixNano(), Line: `{"log":"first","sub":{}}`, Meta: map[string]string{"trace": "t1"}},
			{TS: base.Add(2 * time.Second).UnixNano(), Line: `{"log":"second","sub":{"n":3}}`, Meta: map[string]string{"trace": "t2"}},
		},
		labelKey(map[string]string{"job": "dev", "level": "error"}): {
			{TS: base.Add(time.Second).UnixNano(), Line: `{"log":"boom \"q\"","num":5.5,"arr":[1,"a",true,null]}`},
		},
	}
}

// The default body is Loki's PushRequest protobuf, snappy compressed: decoded with an
// independent snappy and protobuf reader it holds the streams, labels, lines and
// structured metadata, each stream's entries in time order.
func TestProtobufPush(t *testing.T) {
	r := newReceiver(t)
	o := newOutput(t, append([]string{"port", r.port(), "http_user", "u", "http_passwd", "p", "header", "X-Dev pi 1"}, sampleConfig...)...)
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...)); err != nil {
		t.Fatal(err)
	}
	ps := r.all()
	if len(ps) != 1 || ps[0].Err != nil {
		t.Fatalf("pushes %+v", ps)
	}
	p := ps[0]
	if p.Path != "/loki/api/v1/push" || p.Header.Get("X-Scope-OrgID") != "t1" || p.Header.Get("Authorization") != "Basic dTpw" ||
		p.Header.Get("X-Dev") != "pi 1" || p.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("request %s %v", p.Path, p.Header)
	}
	for _, s := range p.Streams {
		for i := 1; i < len(s.Entries); i++ {
			if s.Entries[i].TS < s.Entries[i-1].TS {
				t.Errorf("stream %v: entries out of time order", s.Labels)
			}
		}
	}
	if got, want := merged(ps), wantSample(); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// format json, and compress gzip (which chooses json as Fluent Bit sends it), carry the
// same streams.
func TestJSONAndGzipPush(t *testing.T) {
	for _, kv := range [][]string{{"format", "json"}, {"compress", "gzip"}, {"format", "json", "compress", "gzip"}} {
		r := newReceiver(t)
		o := newOutput(t, append(append([]string{"port", r.port(), "bearer_token", "tok"}, kv...), sampleConfig...)...)
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...)); err != nil {
			t.Fatal(err)
		}
		ps := r.all()
		if len(ps) != 1 || ps[0].Err != nil {
			t.Fatalf("%v: pushes %+v", kv, ps)
		}
		gz := ps[0].Header.Get("Content-Encoding") == "gzip"
		if ps[0].Header.Get("Content-Type") != "application/json" || gz != strings.Contains(strings.Join(kv, " "), "gzip") ||
			ps[0].Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("%v: headers %v", kv, ps[0].Header)
		}
		if got, want := merged(ps), wantSample(); !reflect.DeepEqual(got, want) {
			t.Errorf("%v: got  %+v\nwant %+v", kv, got, want)
		}
	}
}

// Lines as Fluent Bit v5.1.1 writes them (its pushes captured with the same records).
func TestLineFormats(t *testing.T) {
	rec := event.Map{{"log", `hello "q"`}, {"level", "info"}, {"sub", event.Map{{"stream", "stdout"}, {"n", int64(3)}}}, {"num", 5.5}, {"b", true}, {"arr", []any{int64(1), "a"}}, {"nul", nil}}
	for _, c := range []struct {
		kv     []string
		line   string
		labels map[string]string
	}{
		{[]string{"line_format", "key_value", "labels", "$sub['stream']"},
			`log="hello "q"" level="info" sub="map[n:3]" num=5.5 b=true arr="[1 "a"]" nul=null`,
			map[string]string{"sub_stream": "stdout"}},
		{[]string{"remove_keys", "level, sub, num,b,arr,nul", "drop_single_key", "on"}, `"hello \"q\""`, map[string]string{"job": "fluent-bit"}},
		{[]string{"remove_keys", "level, sub, num,b,arr,nul", "drop_single_key", "raw"}, `hello "q"`, map[string]string{"job": "fluent-bit"}},
		{[]string{"label_keys", "$level,$num", "line_format", "key_value", "remove_keys", "sub,b,arr,nul", "drop_single_key", "on"}, `hello "q"`,
			map[string]string{"level": "info", "num": "5.500000"}},
		{[]string{"labels", "a=1, b = 2, $b", "label_keys", "$sub['n']", "remove_keys", "$sub['stream'], level, num, arr, nul"},
			`{"log":"hello \"q\"","sub":{}}`, map[string]string{"a": "1", "b": "2", "sub_n": "3"}}, // the fixed b wins
	} {
		r := newReceiver(t)
		o := newOutput(t, append([]string{"port", r.port()}, c.kv...)...)
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", event.Event{Time: base, Record: rec.Clone()})); err != nil {
			t.Fatal(err)
		}
		ps := r.all()
		if len(ps) != 1 || len(ps[0].Streams) != 1 || len(ps[0].Streams[0].Entries) != 1 {
			t.Fatalf("%v: pushes %+v", c.kv, ps)
		}
		s := ps[0].Streams[0]
		if s.Entries[0].Line != c.line {
			t.Errorf("%v: line\n got %s\nwant %s", c.kv, s.Entries[0].Line, c.line)
		}
		if !reflect.DeepEqual(s.Labels, c.labels) {
			t.Errorf("%v: labels %v, want %v", c.kv, s.Labels, c.labels)
		}
	}
}

// label_map_path: a file shaped like the record names the labels.
func TestLabelMapPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map.json")
	if err := os.WriteFile(path, []byte(`{"sub": {"stream": "stream"}, "level": "lvl"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t)
	o := newOutput(t, "port", r.port(), "label_map_path", path, "format", "json")
	rec := event.Map{{"log", "x"}, {"level", "info"}, {"sub", event.Map{{"stream", "stdout"}, {"n", int64(3)}}}}
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", event.Event{Time: base, Record: rec})); err != nil {
		t.Fatal(err)
	}
	want := map[string][]entry{labelKey(map[string]string{"stream": "stdout", "lvl": "info"}): {{TS: base.UnixNano(), Line: `{"log":"x","sub":{"n":3}}`}}}
	if got := merged(r.all()); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"a": 1}`), 0o644)
	for _, c := range []struct {
		kv  []string
		key string
	}{
		{[]string{"uri", "push"}, "uri"},
		{[]string{"labels", "no value"}, "labels"},
		{[]string{"labels", "bad-name=1"}, "labels"},
		{[]string{"labels", "$a["}, "labels"},
		{[]string{"line_format", "xml"}, "line_format"},
		{[]string{"drop_single_key", "maybe"}, "drop_single_key"},
		{[]string{"compress", "zstd"}, "compress"},
		{[]string{"format", "protobuf", "compress", "gzip"}, "compress"},
		{[]string{"format", "avro"}, "format"},
		{[]string{"label_map_path", "/nonexistent/map.json"}, "label_map_path"},
		{[]string{"label_map_path", bad}, "label_map_path"},
		{[]string{"http_passwd", "p"}, "http_passwd"},
		{[]string{"header", "Bad:Name v"}, "header"},
		{[]string{"port", "0"}, "port"},
	} {
		_, err := configure(c.kv...)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: error %v does not name %s", c.kv, err, c.key)
		}
	}
}

// A 400 is Loki refusing the entries for good: a permanent error (the engine's rejected
// way); 429 and 5xx ask for a retry.
func TestOutcomes(t *testing.T) {
	for _, c := range []struct {
		code  int
		retry bool
	}{{400, false}, {401, false}, {404, false}, {429, true}, {500, true}, {503, true}} {
		r := newReceiver(t)
		r.answer = func(int) (int, http.Header) { return c.code, nil }
		o := newOutput(t, "port", r.port())
		err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample()...))
		if err == nil || pipeline.IsRetry(err) != c.retry {
			t.Errorf("%d: got %v, want retry=%v", c.code, err, c.retry)
		}
	}
}

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

func startEngine(t *testing.T, o *loki.Output, dir string) (*pipeline.Engine, pipeline.Emitter) {
	t.Helper()
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, SchedulerBase: 5 * time.Millisecond, SchedulerCap: 2 * time.Second,
		Storage: pipeline.StorageOptions{Path: dir, KeepRejected: dir != ""}})
	em := e.AddInput(pipeline.InputSpec{Plugin: "test", Input: idle{}})
	e.AddOutput(pipeline.OutputSpec{Plugin: "loki", Match: "*", Output: o, RetryLimit: pipeline.RetryForever})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return e, em
}

// Through the engine, a 400 leaves the chunk in the rejected directory with a sidecar
// naming Loki's answer; nothing is retried.
func TestRefusedChunkIsKeptByTheEngine(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(int) (int, http.Header) { return 400, nil }
	o, err := configure("port", r.port())
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
	if err := json.Unmarshal(b, &sc); err != nil || sc.Records != 3 || !strings.Contains(sc.Error, "400") {
		t.Errorf("sidecar %s: %v", b, err)
	}
	if n := len(r.all()); n != 1 {
		t.Errorf("%d pushes, want 1 (no retry of a refusal)", n)
	}
}

// A 429 with Retry-After: 1 is retried no sooner than a second later, then delivered.
func TestRetryAfterIsHonoured(t *testing.T) {
	r := newReceiver(t)
	var first time.Time
	var second time.Time
	r.answer = func(n int) (int, http.Header) {
		if n == 0 {
			first = time.Now()
			return 429, http.Header{"Retry-After": {"1"}}
		}
		second = time.Now()
		return 204, nil
	}
	o, err := configure("port", r.port())
	if err != nil {
		t.Fatal(err)
	}
	_, em := startEngine(t, o, "")
	if err := em.Emit("app", sample()[0]); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 10*time.Second, func(ps []push) bool { return len(ps) >= 2 })
	r.mu.Lock()
	gap := second.Sub(first)
	r.mu.Unlock()
	if gap < 900*time.Millisecond {
		t.Errorf("retried after %v, Retry-After asked 1s", gap)
	}
}

// The server goes away while records keep coming and comes back on the same port: every
// record arrives, none twice.
func TestServerDownAndBack(t *testing.T) {
	r := newReceiver(t)
	addr := r.Listener.Addr().String()
	o, err := configure("port", r.port(), "net.connect_timeout", "1s")
	if err != nil {
		t.Fatal(err)
	}
	e, em := startEngine(t, o, "")
	emit := func(from, to int) {
		for i := from; i < to; i++ {
			if err := em.Emit("app", event.Event{Time: base.Add(time.Duration(i) * time.Millisecond), Record: event.Map{{"i", int64(i)}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(ps []push) int {
		n := 0
		for _, p := range ps {
			for _, s := range p.Streams {
				n += len(s.Entries)
			}
		}
		return n
	}
	emit(0, 50)
	r.waitFor(t, 10*time.Second, func(ps []push) bool { return count(ps) == 50 })
	// Down only once the output has its answers (an unanswered request is rightly resent).
	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].ProcRecords >= 50 }) {
		t.Fatal("the first 50 records were not reported delivered")
	}
	r.Close() // down: connections refused
	emit(50, 100)
	// Let the engine fail at least once before the server is back.
	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].Retries > 0 }) {
		t.Fatal("no failed flush while the server was down")
	}
	back := newReceiverAt(t, addr)
	back.waitFor(t, 15*time.Second, func(ps []push) bool { return count(ps) >= 50 })
	seen := map[string]bool{}
	for _, es := range merged(append(r.all(), back.all()...)) {
		for _, e := range es {
			if seen[e.Line] {
				t.Errorf("line %s twice", e.Line)
			}
			seen[e.Line] = true
		}
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct records arrived, want 100", len(seen))
	}
}

// Over TLS: delivered with the server's CA, refused with an unknown one while tls.verify is
// on, delivered with tls.verify off.
func TestTLS(t *testing.T) {
	r := &receiver{notify: make(chan struct{}, 1)}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	chunk := func() *pipeline.Chunk { return pipelinetest.MakeChunk("app", sample()...) }
	if err := newOutput(t, "port", r.port(), "tls", "on", "tls.ca_file", ca).Flush(context.Background(), chunk()); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	if err := newOutput(t, "port", r.port(), "tls", "on").Flush(context.Background(), chunk()); err == nil {
		t.Fatal("an unknown CA was accepted with tls.verify on")
	}
	if err := newOutput(t, "port", r.port(), "tls", "on", "tls.verify", "off").Flush(context.Background(), chunk()); err != nil {
		t.Fatalf("tls.verify off: %v", err)
	}
	if ps := r.all(); len(ps) != 2 || !reflect.DeepEqual(merged(ps[:1]), wantSampleDefault()) {
		t.Errorf("pushes over TLS: %+v", ps)
	}
}

func wantSampleDefault() map[string][]entry {
	return map[string][]entry{labelKey(map[string]string{"job": "fluent-bit"}): {
		{TS: base.UnixNano(), Line: `{"log":"first","level":"info","sub":{"stream":"stdout"},"trace":"t1"}`},
		{TS: base.Add(time.Second).UnixNano(), Line: `{"log":"boom \"q\"","level":"error","num":5.5,"arr":[1,"a",true,null]}`},
		{TS: base.Add(2 * time.Second).UnixNano(), Line: `{"log":"second","level":"info","sub":{"stream":"stdout","n":3},"trace":"t2","secret":"x"}`},
	}}
}

// Fixed structured metadata (name=value) goes with every entry, next to accessors'.
func TestFixedStructuredMetadata(t *testing.T) {
	r := newReceiver(t)
	o := newOutput(t, "port", r.port(), "structured_metadata", "site=lab, $trace")
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample()[1])); err != nil {
		t.Fatal(err)
	}
	want := map[string][]entry{labelKey(map[string]string{"job": "fluent-bit"}): {
		{TS: base.UnixNano(), Line: `{"log":"first","level":"info","sub":{"stream":"stdout"}}`, Meta: map[string]string{"site": "lab", "trace": "t1"}}}}
	if got := merged(r.all()); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
