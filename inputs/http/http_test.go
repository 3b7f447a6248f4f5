package http

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// served is an http input running on 127.0.0.1 with a Recorder behind it.
type served struct {
	in  *Input
	rec *pipelinetest.Recorder
	url string
}

// configured is an http input on 127.0.0.1, on a port of its own, configured from kv.
func configured(t testing.TB, kv ...string) *Input {
	t.Helper()
	return pipelinetest.Input[*Input](t, "http", append([]string{"listen", "127.0.0.1", "port", "0"}, kv...)...)
}

func serve(t testing.TB, kv ...string) *served {
	t.Helper()
	in := configured(t, kv...)
	started := make(chan struct{})
	in.started = started
	var logs pipelinetest.Logs
	run := pipelinetest.StartInput(t, in, logs.Env("http.0"), nil)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	s := &served{in: in, rec: run.Rec, url: "http://" + in.ListenAddr()}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start")
	}
	return s
}

// forServers runs test on each server the input can use.
func forServers(t *testing.T, test func(t *testing.T, server string)) {
	for _, srv := range []string{ServerEmbed, ServerNetHTTP} {
		t.Run(strings.ReplaceAll(srv, "/", ""), func(t *testing.T) { test(t, srv) })
	}
}

func post(t testing.TB, url, ctype string, body []byte, hdr ...string) (*nethttp.Response, string) {
	t.Helper()
	req, err := nethttp.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestPostJSONIsBufferedUnderThePathTag(t *testing.T) {
	forServers(t, testPostJSONIsBufferedUnderThePathTag)
}

func testPostJSONIsBufferedUnderThePathTag(t *testing.T, server string) {
	s := serve(t, "server", server)
	resp, body := post(t, s.url+"/app.log", "application/json", []byte(`[{"msg":"a","n":1},{"msg":"b"}]`))
	if resp.StatusCode != 201 || body != "" {
		t.Fatalf("status %d body %q, want 201 and no body", resp.StatusCode, body)
	}
	recs := s.rec.Records() // in the buffer before the answer: no wait needed
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if recs[0].Tag != "app.log" || recs[0].Event.Record.Value("msg") != "a" || recs[0].Event.Record.Value("n") != int64(1) || recs[1].Event.Record.Value("msg") != "b" {
		t.Errorf("records %+v", recs)
	}
	if recs[0].Event.Time.IsZero() || time.Since(recs[0].Event.Time) > time.Minute {
		t.Errorf("record time %v is not the arrival time", recs[0].Event.Time)
	}

	// "/" means the input's own tag: the engine's "" tag.
	post(t, s.url+"/", "", []byte("{\"a\":1}\n{\"a\":2}\n"))
	recs = s.rec.Records()
	if len(recs) != 4 || recs[2].Tag != "" || recs[3].Event.Record.Value("a") != int64(2) {
		t.Errorf("NDJSON to /: %+v", recs[2:])
	}
}

func TestMalformedBodyIsRefusedWhole(t *testing.T) { forServers(t, testMalformedBodyIsRefusedWhole) }

func testMalformedBodyIsRefusedWhole(t *testing.T, server string) {
	s := serve(t, "server", server)
	for _, body := range []string{"{\"a\":1}\n{\"a\":2}\n{\"a\":", `[{"a":1},3]`, `"text"`, ``} {
		resp, msg := post(t, s.url+"/x", "application/json", []byte(body))
		if resp.StatusCode != 400 || !strings.HasPrefix(msg, "error: ") {
			t.Errorf("body %q: status %d %q, want 400 with a message", body, resp.StatusCode, msg)
		}
	}
	if n := s.rec.Len(); n != 0 {
		t.Errorf("%d records kept from refused requests", n)
	}
	resp, msg := post(t, s.url+"/x", "text/plain", []byte(`{"a":1}`))
	if resp.StatusCode != 400 || !strings.Contains(msg, "Content-Type") {
		t.Errorf("text/plain: %d %q", resp.StatusCode, msg)
	}
}

func TestBackpressureAnswers503AndKeepsNothing(t *testing.T) {
	forServers(t, testBackpressureAnswers503AndKeepsNothing)
}

func testBackpressureAnswers503AndKeepsNothing(t *testing.T, server string) {
	s := serve(t, "server", server)
	s.rec.SetPaused(true)
	resp, msg := post(t, s.url+"/x", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("paused: status %d Retry-After %q (%q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if s.rec.Len() != 0 {
		t.Fatalf("a refused record was kept")
	}
	s.rec.SetPaused(false)
	resp, _ = post(t, s.url+"/x", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != 201 || s.rec.Len() != 1 {
		t.Fatalf("resumed: status %d, %d records", resp.StatusCode, s.rec.Len())
	}
}

func TestStoppedEngineAnswers503(t *testing.T) { forServers(t, testStoppedEngineAnswers503) }

func testStoppedEngineAnswers503(t *testing.T, server string) {
	s := serve(t, "server", server)
	s.rec.FailWith(pipeline.ErrStopped)
	resp, _ := post(t, s.url+"/x", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503 while the engine stops", resp.StatusCode)
	}
}

func TestDiskFullAnswers503WithoutPaths(t *testing.T) {
	forServers(t, testDiskFullAnswers503WithoutPaths)
}

// A chunk file that cannot be started (disk full) refuses the records: the client is told to
// retry (503, as docs/storage.md promises), and the body names no file of the agent's.
func testDiskFullAnswers503WithoutPaths(t *testing.T, server string) {
	s := serve(t, "server", server)
	s.rec.FailWith(fmt.Errorf("%w: storage: write chunk header /var/lib/agent/http.0/x.flb: no space left on device", pipeline.ErrStorage))
	resp, msg := post(t, s.url+"/x", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("disk full: status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if strings.Contains(msg, "/var/lib") || strings.Contains(msg, ".flb") {
		t.Errorf("the answer shows the agent's files: %q", msg)
	}
	// Any other failure to buffer: 500, and the body still names no internals.
	s.rec.FailWith(errors.New("pipeline: encode record for \"x\": /secret/path"))
	resp, msg = post(t, s.url+"/x", "application/json", []byte(`{"a":1}`))
	if resp.StatusCode != 500 || strings.Contains(msg, "/secret") {
		t.Errorf("other emit failure: status %d body %q, want 500 naming no internals", resp.StatusCode, msg)
	}
}

func TestTagKeyGzipFormAndSuccessCode(t *testing.T) { forServers(t, testTagKeyGzipFormAndSuccessCode) }

func testTagKeyGzipFormAndSuccessCode(t *testing.T, server string) {
	s := serve(t, "server", server, "tag_key", "topic", "successful_response_code", "204", "success_header", "X-Custom custom-answer")
	resp, _ := post(t, s.url+"/default", "application/json", []byte(`[{"topic":"a.b","v":1},{"v":2},{"topic":"c","v":3}]`))
	if resp.StatusCode != 204 || resp.Header.Get("X-Custom") != "custom-answer" {
		t.Fatalf("status %d, X-Custom %q", resp.StatusCode, resp.Header.Get("X-Custom"))
	}
	var tags []string
	for _, r := range s.rec.Records() {
		tags = append(tags, r.Tag)
	}
	if strings.Join(tags, ",") != "a.b,default,c" {
		t.Errorf("tags %v, want a.b,default,c", tags)
	}

	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"zipped":true}`))
	zw.Close()
	resp, msg := post(t, s.url+"/z", "application/json", z.Bytes(), "Content-Encoding", "gzip")
	if resp.StatusCode != 204 {
		t.Fatalf("gzip: %d %q", resp.StatusCode, msg)
	}
	resp, _ = post(t, s.url+"/f", "application/x-www-form-urlencoded", []byte("msg=hi+there&level=warn"))
	if resp.StatusCode != 204 {
		t.Fatalf("form: %d", resp.StatusCode)
	}
	recs := s.rec.Records()
	if len(recs) != 5 || recs[3].Event.Record.Value("zipped") != true || recs[4].Event.Record.Value("msg") != "hi there" || recs[4].Tag != "f" {
		t.Errorf("gzip and form records: %+v", recs[3:])
	}
	resp, _ = post(t, s.url+"/z", "application/json", []byte("not gzip"), "Content-Encoding", "gzip")
	if resp.StatusCode != 400 {
		t.Errorf("bad gzip: %d", resp.StatusCode)
	}
}

func TestLimitsAndMethods(t *testing.T) { forServers(t, testLimitsAndMethods) }

func testLimitsAndMethods(t *testing.T, server string) {
	s := serve(t, "server", server, "buffer_max_size", "1k")
	big := []byte(`{"a":"` + strings.Repeat("x", 2000) + `"}`)
	if resp, _ := post(t, s.url+"/x", "application/json", big); resp.StatusCode != 413 {
		t.Errorf("2 kB body: %d, want 413", resp.StatusCode)
	}
	// A small gzip that inflates past the limit is refused too.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(big)
	zw.Close()
	if resp, _ := post(t, s.url+"/x", "application/json", z.Bytes(), "Content-Encoding", "gzip"); resp.StatusCode != 413 {
		t.Errorf("gzip bomb: %d, want 413", resp.StatusCode)
	}
	resp, err := nethttp.Get(s.url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if s.rec.Len() != 0 {
		t.Errorf("records kept from refused requests")
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{"successful_response_code", "202"},
		{"port", "70000"},
		{"buffer_max_size", "0"},
		{"success_header", "Bad:Name x"},
		{"tls", "on"},
		{"server", "apache"},
	} {
		err := pipeline.Configure(New(), []config.Property{{Key: tc.key, Value: tc.value}})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: error %v does not name the key", tc.key, tc.value, err)
		}
	}
}

func TestConcurrentKeepAliveClients(t *testing.T) { forServers(t, testConcurrentKeepAliveClients) }

func testConcurrentKeepAliveClients(t *testing.T, server string) {
	s := serve(t, "server", server)
	const clients, each = 8, 50
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				resp, _ := post(t, s.url+"/load", "application/json", []byte(`{"msg":"x"}`))
				if resp.StatusCode != 201 {
					t.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := s.rec.Len(); n != clients*each {
		t.Errorf("%d records, want %d", n, clients*each)
	}
}

// TestBackpressureThroughTheEngine runs the input in a real engine whose only output is
// stuck: once mem_buf_limit is reached requests get 503, and once the output delivers
// again they are accepted; every record that got a 2xx is delivered, none that got 503.
func TestBackpressureThroughTheEngine(t *testing.T) { forServers(t, testBackpressureThroughTheEngine) }

func testBackpressureThroughTheEngine(t *testing.T, server string) {
	in := configured(t, "server", server)
	gate := make(chan struct{})
	var mu sync.Mutex
	delivered := 0
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond, Grace: 5 * time.Second})
	e.AddOutput(pipeline.OutputSpec{Plugin: "stuck", Match: "*", Workers: 1,
		Output: pipeline.OutputFunc(func(ctx context.Context, c *pipeline.Chunk) error {
			select {
			case <-gate:
			case <-ctx.Done():
				return pipeline.Retry(ctx.Err())
			}
			mu.Lock()
			delivered += c.Records
			mu.Unlock()
			return nil
		})})
	e.AddInput(pipeline.InputSpec{Plugin: "http", Input: in, MemBufLimit: 2048})
	started := make(chan struct{})
	in.started = started
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-started
	url := "http://" + in.ListenAddr() + "/bp"
	rec := []byte(`{"msg":"a record of about one hundred bytes, to fill the buffer quickly","seq":12345}`)

	accepted, refused := 0, 0
	for i := 0; i < 1000 && refused == 0; i++ {
		resp, _ := post(t, url, "application/json", rec)
		switch resp.StatusCode {
		case 201:
			accepted++
		case 503:
			refused++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if refused == 0 || accepted == 0 {
		t.Fatalf("accepted %d, refused %d: the limit never pushed back", accepted, refused)
	}
	close(gate) // the output recovers: the input must resume
	// Retry as a client does on Retry-After, faster.
	if !pipelinetest.Eventually(10*time.Second, func() bool { resp, _ := post(t, url, "application/json", rec); return resp.StatusCode == 201 }) {
		t.Fatal("still refused 10s after the output recovered")
	}
	accepted++
	if left := e.Stop(context.Background()); len(left) != 0 {
		t.Fatalf("%d chunks left at stop", len(left))
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered != accepted {
		t.Errorf("delivered %d records, accepted %d", delivered, accepted)
	}
}

func TestTLS(t *testing.T) { forServers(t, testTLS) }

func testTLS(t *testing.T, server string) {
	cert := testcert.New(t)
	crt, key, pool := cert.CertFile, cert.KeyFile, cert.Pool
	s := serve(t, "server", server, "tls", "on", "tls.crt_file", crt, "tls.key_file", key)
	client := &nethttp.Client{Transport: &nethttp.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	url := strings.Replace(s.url, "http://", "https://", 1) + "/secure"
	resp, err := client.Post(url, "application/json", strings.NewReader(`{"tls":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || s.rec.Len() != 1 || s.rec.Records()[0].Tag != "secure" {
		t.Fatalf("TLS POST: %d, %d records", resp.StatusCode, s.rec.Len())
	}
	// Plain HTTP on the TLS port gets no record in.
	if resp, err := nethttp.Post(s.url+"/plain", "application/json", strings.NewReader(`{"a":1}`)); err == nil {
		resp.Body.Close()
	}
	if s.rec.Len() != 1 {
		t.Errorf("a plain-text request was accepted on the TLS port")
	}
}

// A request that comes while the agent starts (embedhttp listens from Init, the engine
// runs the input a moment later) waits for the input instead of getting a 503.
func TestRequestDuringStartWaits(t *testing.T) {
	in := configured(t)
	var logs pipelinetest.Logs
	if err := in.Init(context.Background(), logs.Env("http.0")); err != nil {
		t.Fatal(err)
	}
	url := "http://" + in.ListenAddr() + "/early"
	got := make(chan int, 1)
	go func() {
		resp, err := nethttp.Post(url, "application/json", strings.NewReader(`{"early":true}`))
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	rec := pipelinetest.StartInput(t, struct{ pipeline.Input }{in}, logs.Env("http.0"), nil).Rec // Init was above
	if code := <-got; code != 201 || rec.Len() != 1 {
		t.Errorf("request during start: status %d, %d records", code, rec.Len())
	}
}

func TestChunkedAndExpectContinue(t *testing.T) { forServers(t, testChunkedAndExpectContinue) }

func testChunkedAndExpectContinue(t *testing.T, server string) {
	s := serve(t, "server", server)
	// A chunked body, sent as raw bytes.
	cc, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(cc, "POST /chunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n")
	resp, err := nethttp.ReadResponse(bufio.NewReader(cc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || s.rec.Len() != 1 || s.rec.Records()[0].Event.Record.Value("a") != int64(1) {
		t.Fatalf("chunked: %d, %d records", resp.StatusCode, s.rec.Len())
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	body := `{"expect":"continue"}`
	head := "POST /exp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n"
	// Paused: the answer is 503 at once, without 100 Continue, and the body is never sent.
	s.rec.SetPaused(true)
	io.WriteString(conn, head)
	r, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Fatalf("Expect while paused: %d, want 503", r.StatusCode)
	}
	// Resumed, on a new connection: 100 Continue, then the body, then 201.
	s.rec.SetPaused(false)
	conn2, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn2.SetDeadline(time.Now().Add(10 * time.Second))
	br2 := bufio.NewReader(conn2)
	io.WriteString(conn2, head)
	line, err := br2.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("Expect: got %q, %v; want 100 Continue", line, err)
	}
	for {
		l, err := br2.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	io.WriteString(conn2, body)
	r, err = nethttp.ReadResponse(br2, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 201 || s.rec.Len() != 2 {
		t.Fatalf("after 100 Continue: %d, %d records", r.StatusCode, s.rec.Len())
	}
}

func TestAddRemoteAddr(t *testing.T) { forServers(t, testAddRemoteAddr) }

func testAddRemoteAddr(t *testing.T, server string) {
	s := serve(t, "server", server, "add_remote_addr", "on", "tag_key", "k14")
	// 15 keys plus REMOTE_ADDR: the map header grows past fixmap.
	var keys []string
	for i := 0; i < 15; i++ {
		keys = append(keys, fmt.Sprintf(`"k%d":"v%d"`, i, i))
	}
	post(t, s.url+"/a", "application/json", []byte("{"+strings.Join(keys, ",")+"}"), "X-Forwarded-For", "10.1.2.3, 10.0.0.1")
	post(t, s.url+"/b", "application/x-www-form-urlencoded", []byte("m=x"))
	recs := s.rec.Records()
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if got := recs[0].Event.Record.Value("REMOTE_ADDR"); got != "10.1.2.3" || len(recs[0].Event.Record) != 16 || recs[0].Tag != "v14" {
		t.Errorf("proxied JSON: REMOTE_ADDR %v, %d keys, tag %q", got, len(recs[0].Event.Record), recs[0].Tag)
	}
	if got := recs[1].Event.Record.Value("REMOTE_ADDR"); got != "127.0.0.1" {
		t.Errorf("direct form: REMOTE_ADDR %v", got)
	}
}

// enable_health_endpoint: GET /health answers 200 with JSON, on both servers; without the
// key it is a wrong method, as before.
func TestHealthEndpoint(t *testing.T) {
	for _, server := range []string{ServerEmbed, ServerNetHTTP} {
		for _, on := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/%v", server, on), func(t *testing.T) {
				kv := []string{"server", server, "workers", "1", "max_connections", "16"}
				if on {
					kv = append(kv, "enable_health_endpoint", "on")
				}
				resp, err := nethttp.Get(serve(t, kv...).url + "/health")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !on {
					if resp.StatusCode != 405 {
						t.Fatalf("health off: %d, want 405", resp.StatusCode)
					}
					return
				}
				var v struct{ Status string }
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &v) != nil || v.Status != "ok" {
					t.Fatalf("GET /health: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
			})
		}
	}
}
