package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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

func TestHeaderContentTypeReplacesFormats(t *testing.T) {
	s := newServer(t, false)
	o, _ := newOutput(t, s, "format", "json_lines", "header", "Content-Type text/plain", "http_method", "put")
	if err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err != nil {
		t.Fatal(err)
	}
	r := s.last(t)
	if r.method != "PUT" || len(r.header["Content-Type"]) != 1 || r.contentType != "text/plain" {
		t.Fatalf("%s with Content-Type %q, want PUT with text/plain only", r.method, r.header["Content-Type"])
	}
}

func TestBodyKeyOneRequestPerRecord(t *testing.T) {
	s := newServer(t, false)
	o, logs := newOutput(t, s, "body_key", "$payload", "headers_key", "$hdrs")
	c := chunk(t,
		map[string]any{"payload": "first", "hdrs": map[string]any{"Content-Type": "text/csv", "X-Id": int64(7)}},
		map[string]any{"other": 1},
		map[string]any{"payload": "second"})
	if err := o.Flush(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	reqs := append([]captured(nil), s.reqs...)
	s.mu.Unlock()
	if len(reqs) != 2 || string(reqs[0].body) != "first" || string(reqs[1].body) != "second" {
		t.Fatalf("%d requests %+v, want the two bodies", len(reqs), reqs)
	}
	if reqs[0].contentType != "text/csv" || reqs[0].header.Get("X-Id") != "7" {
		t.Errorf("headers of the first: %v", reqs[0].header)
	}
	if !strings.Contains(logs.String(), "records=1") {
		t.Errorf("the record without a body was not logged: %s", logs.String())
	}
}

// tokenServer is an OAuth2 token endpoint on 127.0.0.1 issuing tok-1, tok-2, ...
type tokenServer struct {
	*httptest.Server
	issued atomic.Int32
	mu     sync.Mutex
	forms  []string
	auth   []string
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm.Encode())
		ts.auth = append(ts.auth, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		if r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(400)
			return
		}
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, expiresIn)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestOAuth2ClientCredentials(t *testing.T) {
	tok := newTokenServer(t, 3600)
	var accepted atomic.Value // the token the API takes
	accepted.Store("tok-1")
	var seen []string
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+accepted.Load().(string) {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(api.Close)
	o, _ := newOutput(t, &server{Server: api}, "oauth2.enable", "on", "oauth2.token_url", tok.URL+"/token",
		"oauth2.client_id", "dev 1", "oauth2.client_secret", "s3cret", "oauth2.scope", "logs.write", "oauth2.audience", "ingest")
	for i := 0; i < 3; i++ {
		if err := o.Flush(context.Background(), chunk(t, map[string]any{"i": int64(i)})); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if n := tok.issued.Load(); n != 1 {
		t.Fatalf("%d tokens fetched for 3 flushes, want 1 (cached)", n)
	}
	tok.mu.Lock()
	form, auth := tok.forms[0], tok.auth[0]
	tok.mu.Unlock()
	if form != "audience=ingest&grant_type=client_credentials&scope=logs.write" {
		t.Errorf("token request form %q", form)
	}
	if auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("dev+1:s3cret")) {
		t.Errorf("token request authorization %q", auth)
	}
	// The API revokes tok-1: the next flush gets a 401, fetches tok-2 and is delivered.
	accepted.Store("tok-2")
	if err := o.Flush(context.Background(), chunk(t, map[string]any{"i": int64(9)})); err != nil {
		t.Fatalf("flush after revocation: %v", err)
	}
	if n := tok.issued.Load(); n != 2 {
		t.Fatalf("%d tokens fetched, want 2 (refreshed on 401)", n)
	}
	// Refused with a fresh token too: retried later, not given up.
	accepted.Store("never")
	err := o.Flush(context.Background(), chunk(t, map[string]any{"i": int64(10)}))
	if err == nil || !pipeline.IsRetry(err) {
		t.Fatalf("401 with a fresh token: %v, want a retry", err)
	}
}

func TestOAuth2TokenExpiry(t *testing.T) {
	tok := newTokenServer(t, 120)
	s := newServer(t, false)
	o, _ := newOutput(t, s, "oauth2.enable", "on", "oauth2.token_url", tok.URL, "oauth2.client_id", "a",
		"oauth2.client_secret", "b", "oauth2.auth_method", "post")
	now := time.Unix(1000, 0)
	o.tokens.now = func() time.Time { return now }
	o.Flush(context.Background(), chunk(t, map[string]any{"a": 1}))
	now = now.Add(59 * time.Second) // 120 s less the 60 s skew: still valid
	o.Flush(context.Background(), chunk(t, map[string]any{"a": 1}))
	if n := tok.issued.Load(); n != 1 {
		t.Fatalf("%d tokens before expiry, want 1", n)
	}
	now = now.Add(2 * time.Second)
	o.Flush(context.Background(), chunk(t, map[string]any{"a": 1}))
	if n := tok.issued.Load(); n != 2 {
		t.Fatalf("%d tokens after expiry, want 2", n)
	}
	tok.mu.Lock()
	form := tok.forms[0]
	tok.mu.Unlock()
	if !strings.Contains(form, "client_id=a") || !strings.Contains(form, "client_secret=b") {
		t.Errorf("auth_method post: form %q lacks the client id and secret", form)
	}
	if got := s.last(t).header.Get("Authorization"); got != "Bearer tok-2" {
		t.Errorf("Authorization %q", got)
	}
}

func TestOAuth2TokenEndpointDownIsRetried(t *testing.T) {
	tok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	t.Cleanup(tok.Close)
	s := newServer(t, false)
	o, _ := newOutput(t, s, "oauth2.enable", "on", "oauth2.token_url", tok.URL, "oauth2.client_id", "a", "oauth2.client_secret", "b")
	err := o.Flush(context.Background(), chunk(t, map[string]any{"a": 1}))
	if err == nil || !pipeline.IsRetry(err) {
		t.Fatalf("token endpoint 503: %v, want a retry", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) != 0 {
		t.Fatal("the chunk was sent without a token")
	}
}

// The peer Fluent Bit and this output send the same Content-Type for every JSON format.
func TestContentTypesMatchFluentBit(t *testing.T) {
	peer, err := filepath.Abs("../../../shared/peers/fluent-bit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("no peer Fluent Bit: %v", err)
	}
	formats := []string{"json", "json_lines", "json_stream", "msgpack"}
	got := map[string]string{}
	var mu sync.Mutex
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if _, ok := got[r.URL.Path]; !ok {
			got[r.URL.Path] = strings.Join(r.Header["Content-Type"], ",")
			if len(got) == len(formats) {
				close(all)
			}
		}
		mu.Unlock()
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	h, p := hostPort(t, srv.URL)
	var cfg strings.Builder
	cfg.WriteString("[SERVICE]\n    flush 0.2\n    log_level error\n[INPUT]\n    name dummy\n    samples 1\n")
	for _, f := range formats {
		fmt.Fprintf(&cfg, "[OUTPUT]\n    name http\n    match *\n    host %s\n    port %s\n    uri /%s\n    format %s\n", h, p, f, f)
	}
	path := filepath.Join(t.TempDir(), "fb.conf")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(peer, "-c", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("the peer sent only %v", got)
	}
	for _, f := range formats {
		s := newServer(t, false)
		o, _ := newOutput(t, s, "format", f)
		if err := o.Flush(context.Background(), chunk(t, map[string]any{"a": "b"})); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		want := got["/"+f]
		mu.Unlock()
		if ct := strings.Join(s.last(t).header["Content-Type"], ","); ct != want {
			t.Errorf("format %s: Content-Type %q, Fluent Bit sends %q", f, ct, want)
		}
	}
}

// A 400 never loses a chunk without a trace: with storage.keep.rejected the engine keeps it
// (its records, replayable) next to a sidecar naming the answer.
func TestRefusedChunkIsKeptByTheEngine(t *testing.T) {
	s := newServer(t, false)
	s.status.Store(400)
	h, p := hostPort(t, s.URL)
	o := New()
	if err := pipeline.Configure(o, []config.Property{{Key: "host", Value: h}, {Key: "port", Value: p}, {Key: "format", Value: "json_stream"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, SchedulerBase: time.Millisecond, SchedulerCap: time.Second,
		Storage: pipeline.StorageOptions{Path: dir, KeepRejected: true}})
	em := e.AddInput(pipeline.InputSpec{Plugin: "test", Input: idle{}})
	e.AddOutput(pipeline.OutputSpec{Plugin: "http", Match: "*", Output: o, RetryLimit: pipeline.RetryForever})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := em.Emit("app", event.Event{Record: event.Map{{"i", int64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].RejectedKept == 1 }) {
		t.Fatalf("metrics %+v: the refused chunk was not kept", e.Metrics().Outputs[0])
	}
	e.Stop(context.Background())
	sides, _ := filepath.Glob(filepath.Join(dir, "rejected", "app_http.0_*.json"))
	if len(sides) != 1 {
		t.Fatalf("sidecars %v", sides)
	}
	side, err := os.ReadFile(sides[0])
	if err != nil {
		t.Fatal(err)
	}
	var sc pipeline.RejectedSidecar
	if err := json.Unmarshal(side, &sc); err != nil || sc.Records != 3 || !strings.Contains(sc.Error, "400") {
		t.Fatalf("sidecar %s: %+v %v", side, sc, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "rejected", sc.Chunk))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := (&pipeline.Chunk{Tag: sc.Tag, Data: data}).Events(func(event.Event) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("kept chunk: %d records, %v", n, err)
	}
}
