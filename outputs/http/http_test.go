package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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

// captured is one request a test server saw.
type captured struct {
	method, path, contentType, encoding string
	header                              http.Header
	body                                []byte
	at                                  time.Time
}

type server struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []captured
	status atomic.Int32
	retry  string
}

func newServer(t *testing.T, tlsOn bool) *server {
	s := &server{}
	s.status.Store(200)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err == nil {
				b, _ = io.ReadAll(zr)
			}
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, captured{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), r.Header.Clone(), b, time.Now()})
		s.mu.Unlock()
		if s.retry != "" {
			w.Header().Set("Retry-After", s.retry)
		}
		w.WriteHeader(int(s.status.Load()))
		io.WriteString(w, "answer body")
	})
	if tlsOn {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) last(t *testing.T) captured {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func hostPort(t *testing.T, u string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newOutput(t *testing.T, s *server, kv ...string) (*Output, *logBuf) {
	t.Helper()
	h, p := hostPort(t, s.URL)
	o := pipelinetest.Output[*Output](t, "http", append([]string{"host", h, "port", p}, kv...)...)
	logs := &logBuf{}
	pipelinetest.Init(t, o, pipeline.Env{Name: "http.0", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(func() { o.Close(context.Background()) })
	return o, logs
}

func chunk(t *testing.T, recs ...map[string]any) *pipeline.Chunk {
	t.Helper()
	evs := make([]event.Event, len(recs))
	for i, r := range recs {
		evs[i] = event.Event{Time: time.Unix(1700000000, 123456789), Record: event.FromMap(r)}
	}
	return pipelinetest.MakeChunk("app.log", evs...)
}

func TestFormats(t *testing.T) {
	recs := []map[string]any{{"k": "v", "n": int64(1)}, {"k": "w", "n": int64(2)}}
	for _, tc := range []struct {
		format, ctype, want string
	}{
		{"json", "application/json", `[{"date":1700000000.123457,"k":"v","n":1},{"date":1700000000.123457,"k":"w","n":2}]`},
		{"json_lines", "application/x-ndjson", "{\"date\":1700000000.123457,\"k\":\"v\",\"n\":1}\n{\"date\":1700000000.123457,\"k\":\"w\",\"n\":2}\n"},
		{"json_stream", "application/json", `{"date":1700000000.123457,"k":"v","n":1}{"date":1700000000.123457,"k":"w","n":2}`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			s := newServer(t, false)
			o, _ := newOutput(t, s, "format", tc.format, "uri", "/in/logs")
			if err := o.Flush(context.Background(), chunk(t, recs...)); err != nil {
				t.Fatal(err)
			}
			r := s.last(t)
			if r.method != "POST" || r.path != "/in/logs" || r.contentType != tc.ctype || string(r.body) != tc.want {
				t.Fatalf("got %s %s %s %q", r.method, r.path, r.contentType, r.body)
			}
		})
	}
	t.Run("msgpack", func(t *testing.T) {
		s := newServer(t, false)
		o, _ := newOutput(t, s, "format", "msgpack")
		c := chunk(t, recs...)
		if err := o.Flush(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if r := s.last(t); r.contentType != "application/msgpack" || !bytes.Equal(r.body, c.Data) {
			t.Fatalf("msgpack body differs from the chunk (%s)", r.contentType)
		}
	})
	t.Run("iso8601 date under a key of our own", func(t *testing.T) {
		s := newServer(t, false)
		o, _ := newOutput(t, s, "format", "json_lines", "json_date_key", "@t", "json_date_format", "iso8601")
		o.Flush(context.Background(), chunk(t, recs[0]))
		if got := string(s.last(t).body); got != "{\"@t\":\"2023-11-14T22:13:20.123456Z\",\"k\":\"v\",\"n\":1}\n" {
			t.Fatalf("body %q", got)
		}
	})
}

func TestGELF(t *testing.T) {
	s := newServer(t, false)
	o, logs := newOutput(t, s, "format", "gelf", "gelf_short_message_key", "msg", "gelf_host_key", "h",
		"gelf_level_key", "lvl", "gelf_full_message_key", "full")
	c := chunk(t,
		map[string]any{"msg": "hello", "h": "dev1", "lvl": "3", "full": "long text", "user": map[string]any{"id": int64(7)}, "ok": true},
		map[string]any{"other": "no short message"})
	if err := o.Flush(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(s.last(t).body)), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines %q", lines)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": "1.1", "short_message": "hello", "host": "dev1", "full_message": "long text",
		"level": 3.0, "_user_id": 7.0, "_ok": "true", "timestamp": 1700000000.123}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if !strings.Contains(logs.String(), "short message key skipped") {
		t.Errorf("skip not logged: %s", logs.String())
	}
}

func TestHeadersAuthTagGzip(t *testing.T) {
	s := newServer(t, false)
	o := New()
	h, p := hostPort(t, s.URL)
	if err := pipeline.Configure(o, []config.Property{
		{Key: "host", Value: h}, {Key: "port", Value: p}, {Key: "format", Value: "json"},
		{Key: "header", Value: "X-Api-Key secret value"}, {Key: "header", Value: "X-Multi a"}, {Key: "header", Value: "X-Multi b"},
		{Key: "http_user", Value: "u"}, {Key: "http_passwd", Value: "p w"},
		{Key: "header_tag", Value: "X-Tag"}, {Key: "compress", Value: "gzip"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := o.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.header.Get("X-Api-Key") != "secret value" || strings.Join(r.header.Values("X-Multi"), ",") != "a,b" ||
		r.header.Get("X-Tag") != "app.log" || r.encoding != "gzip" {
		t.Fatalf("headers %v", r.header)
	}
	req := &http.Request{Header: r.header}
	if u, pw, ok := req.BasicAuth(); !ok || u != "u" || pw != "p w" {
		t.Fatalf("basic auth %q %q %v", u, pw, ok)
	}
	if !strings.Contains(string(r.body), `"a":"b"`) {
		t.Fatalf("gzip body not decoded to the records: %q", r.body)
	}
}

func TestStatusOutcomes(t *testing.T) {
	for _, tc := range []struct {
		status    int
		retryable bool
		delivered bool
	}{
		{200, false, true}, {201, false, true}, {204, false, true},
		{408, true, false}, {429, true, false}, {500, true, false}, {502, true, false}, {503, true, false},
		{400, false, false}, {401, false, false}, {404, false, false}, {413, false, false}, {301, false, false},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			s := newServer(t, false)
			s.status.Store(int32(tc.status))
			o, _ := newOutput(t, s, "format", "json")
			err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"}))
			if (err == nil) != tc.delivered || pipeline.IsRetry(err) != tc.retryable {
				t.Fatalf("err %v: delivered %v, retry %v", err, err == nil, pipeline.IsRetry(err))
			}
			// A refusal is the engine's to log, count and keep (storage.keep.rejected):
			// the error says what the server answered.
			if !tc.delivered && !tc.retryable && (!strings.Contains(err.Error(), strconv.Itoa(tc.status)) || !strings.Contains(err.Error(), "answer body")) {
				t.Fatalf("refusal error %q does not carry the answer", err)
			}
		})
	}
}

func TestConnectionErrorIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	o := New()
	pipeline.Configure(o, []config.Property{{Key: "host", Value: "127.0.0.1"}, {Key: "port", Value: port}})
	if err := o.Init(context.Background(), pipeline.Env{}); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); !pipeline.IsRetry(err) {
		t.Fatalf("connection refused: %v, want a retry", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{"Mon, 01 Jan 2024 00:00:30 GMT", 30 * time.Second, true},
		{"Sun, 31 Dec 2023 00:00:30 GMT", 0, true},
		{"", 0, false}, {"-3", 0, false}, {"soon", 0, false},
	} {
		got, ok := retryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v %v, want %v %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRetryAfterHonouredByEngine: a 429 with Retry-After: 1 holds the next attempt back at
// least a second, although the scheduler's own backoff would retry within milliseconds.
func TestRetryAfterHonouredByEngine(t *testing.T) {
	s := newServer(t, false)
	s.status.Store(429)
	s.retry = "1"
	h, p := hostPort(t, s.URL)
	o := New()
	pipeline.Configure(o, []config.Property{{Key: "host", Value: h}, {Key: "port", Value: p}, {Key: "format", Value: "json"}})
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, SchedulerBase: time.Millisecond, SchedulerCap: 5 * time.Second})
	em := e.AddInput(pipeline.InputSpec{Plugin: "test", Input: idle{}})
	e.AddOutput(pipeline.OutputSpec{Plugin: "http", Match: "*", Output: o, RetryLimit: pipeline.RetryForever})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	em.Emit("t", event.Event{Record: event.Map{{"a", "b"}}})
	requests := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.reqs)
	}
	if !pipelinetest.Eventually(10*time.Second, func() bool { return requests() >= 2 }) {
		t.Fatalf("%d requests", requests())
	}
	s.mu.Lock()
	gap := s.reqs[1].at.Sub(s.reqs[0].at)
	s.mu.Unlock()
	// A lower bound only: the scheduler alone would retry within milliseconds.
	if gap < 900*time.Millisecond {
		t.Fatalf("second attempt %v after the first: Retry-After: 1 ignored", gap)
	}
}

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

func TestTLS(t *testing.T) {
	s := newServer(t, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	o, _ := newOutput(t, s, "tls", "on", "tls.ca_file", ca, "format", "json", "tls.vhost", "example.com")
	if err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	o2, _ := newOutput(t, s, "tls", "on", "format", "json")
	if err := o2.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err == nil {
		t.Fatal("an unknown CA was accepted with tls.verify on")
	}
	o3, _ := newOutput(t, s, "tls", "on", "tls.verify", "off", "format", "json")
	if err := o3.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err != nil {
		t.Fatalf("tls.verify off: %v", err)
	}
}

func TestProxy(t *testing.T) {
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String())
		w.WriteHeader(200)
	}))
	defer proxy.Close()
	o := New()
	if err := pipeline.Configure(o, []config.Property{{Key: "host", Value: "logs.invalid"}, {Key: "port", Value: "8080"},
		{Key: "uri", Value: "/x"}, {Key: "proxy", Value: proxy.URL}}); err != nil {
		t.Fatal(err)
	}
	o.Init(context.Background(), pipeline.Env{})
	if err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err != nil {
		t.Fatal(err)
	}
	if got, _ := seen.Load().(string); got != "http://logs.invalid:8080/x" {
		t.Fatalf("proxy saw %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"format", "xml", `key "format": "xml": want msgpack`},
		{"json_date_format", "when", `key "json_date_format"`},
		{"compress", "zstd", `key "compress"`},
		{"port", "70000", `key "port"`},
		{"uri", "nope", `key "uri"`},
		{"header", "NoValue:", `key "header"`},
		{"proxy", "https://p:1", `key "proxy"`},
		{"proxy", "::", `key "proxy"`},
		{"tls.crt_file", "a.pem", `key "tls.crt_file"`},
	} {
		o := New()
		err := pipeline.Configure(o, []config.Property{{Key: tc.key, Value: tc.value}})
		var ce *config.Error
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want %s", tc.key, tc.value, err, tc.want)
		}
	}
}
