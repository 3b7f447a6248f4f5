package embedhttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
)

func TestPipelining(t *testing.T) {
	s := start(t, &Server{})
	c := dial(t, s)
	// Three requests in one write: Content-Length, chunked, bodiless.
	c.send(post("/one", "aaa") +
		"POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbb\r\n3;ext=1\r\nbbb\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"GET /three?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"POST /one 3\naaa", "POST /two 5\nbbbbb", "GET /three 0\n"} {
		resp, body := c.read("POST")
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
	// Still open for more.
	c.send(post("/four", ""))
	if _, body := c.read("POST"); body != "POST /four 0\n" {
		t.Fatalf("after pipelining: %q", body)
	}
}

func TestExpectContinue(t *testing.T) {
	s := start(t, &Server{})
	c := dial(t, s)
	c.send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim response %q, %v", line, err)
	}
	if blank, _ := c.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("interim response not terminated: %q", blank)
	}
	c.send("hello")
	if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "POST /e 5\nhello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// Over the limit: 413 at once, no 100, no body read.
	c2 := dial(t, s)
	c2.send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n")
	if resp, _ := c2.read("POST"); resp.StatusCode != 413 {
		t.Fatalf("oversized expect: %d", resp.StatusCode)
	}
	// Chunked with Expect works too (net/http's client waits for the 100).
	req, _ := http.NewRequest("POST", "http://"+s.ListenAddr().String()+"/c", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
	req.Header.Set("Expect", "100-continue")
	resp, err := (&http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /c 4\nabcd" {
		t.Fatalf("chunked expect: %q", b)
	}
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestGzipBody(t *testing.T) {
	s := start(t, &Server{MaxDecompressedBytes: 1 << 20})
	c := dial(t, s)
	plain := []byte(strings.Repeat(`{"log":"hello"}`+"\n", 1000))
	z := gz(t, plain)
	c.send(fmt.Sprintf("POST /z HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", len(z), z))
	resp, body := c.read("POST")
	if resp.StatusCode != 200 || body != fmt.Sprintf("POST /z %d\n%s", len(plain), plain) {
		t.Fatalf("gzip: %d %.60q", resp.StatusCode, body)
	}
	// Gzip inside chunked.
	c.send(fmt.Sprintf("POST /z HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(z), z))
	if _, body := c.read("POST"); !strings.HasPrefix(body, fmt.Sprintf("POST /z %d\n", len(plain))) {
		t.Fatalf("gzip chunked: %.60q", body)
	}
	// A bomb: 2 MiB of zeros inflated past the 1 MiB limit.
	bomb := gz(t, make([]byte, 2<<20))
	c.send(fmt.Sprintf("POST /z HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", len(bomb), bomb))
	if resp, _ := c.read("POST"); resp.StatusCode != 413 {
		t.Fatalf("gzip bomb: %d, want 413", resp.StatusCode)
	}
	c.expectClosed()
}

func TestTLS(t *testing.T) {
	cert := testcert.New(t)
	cfg, pool := cert.ServerConfig(), cert.Pool
	var sawTLS atomic.Bool
	s := start(t, &Server{TLSConfig: cfg, Handler: HandlerFunc(func(w *Response, r *Request) {
		sawTLS.Store(r.TLS() != nil)
		w.Write(r.Body())
	})})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for i := 0; i < 3; i++ { // keep-alive over TLS
		resp, err := client.Post("https://"+s.ListenAddr().String()+"/t", "text/plain", strings.NewReader("secret"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "secret" || !sawTLS.Load() {
			t.Fatalf("TLS: %q tls=%v", b, sawTLS.Load())
		}
	}
	// Plain HTTP on the TLS port is refused (handshake fails), and the server survives.
	c := dial(t, s)
	c.send(post("/", "x"))
	c.expectClosed()
}

func TestBasicAuth(t *testing.T) {
	s := start(t, &Server{
		BasicAuth: &BasicAuth{Realm: "agent", Users: map[string]string{"fluent": "s3cret"}},
		Handler: HandlerFunc(func(w *Response, r *Request) {
			w.Write(r.User())
		}),
	})
	url := "http://" + s.ListenAddr().String() + "/"
	for _, tc := range []struct {
		user, pass string
		set        bool
		code       int
	}{
		{"", "", false, 401},
		{"fluent", "wrong", true, 401},
		{"nobody", "s3cret", true, 401},
		{"fluent", "s3cre", true, 401},
		{"fluent", "s3cret", true, 200},
	} {
		req, _ := http.NewRequest("GET", url, nil)
		if tc.set {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Fatalf("%s/%s: %d, want %d", tc.user, tc.pass, resp.StatusCode, tc.code)
		}
		if tc.code == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="agent"`) {
			t.Errorf("401 without challenge: %q", resp.Header.Get("WWW-Authenticate"))
		}
		if tc.code == 200 && string(b) != "fluent" {
			t.Errorf("User() = %q", b)
		}
	}
	// A 401 on a bodiless request keeps the connection usable.
	c := dial(t, s)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Zmx1ZW50OnMzY3JldA==\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 401 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "fluent" {
		t.Fatalf("second: %d %q", resp.StatusCode, body)
	}
}

func TestAllowDeny(t *testing.T) {
	for _, tc := range []struct {
		name        string
		allow, deny []string
		ok          bool
	}{
		{"deny loopback", nil, []string{"127.0.0.0/8"}, false},
		{"deny bare address", nil, []string{"127.0.0.1"}, false},
		{"allow other net", []string{"10.0.0.0/8"}, nil, false},
		{"allow loopback", []string{"127.0.0.1/32", "::1/128"}, nil, true},
		{"deny wins", []string{"127.0.0.0/8"}, []string{"127.0.0.1/32"}, false},
		{"deny other", nil, []string{"192.168.0.0/16"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, &Server{AllowCIDRs: tc.allow, DenyCIDRs: tc.deny})
			c := dial(t, s)
			c.nc.Write([]byte(post("/", "x")))
			if tc.ok {
				if resp, _ := c.read("POST"); resp.StatusCode != 200 {
					t.Fatalf("allowed client got %d", resp.StatusCode)
				}
				return
			}
			c.expectClosed()
			if s.Stats().ConnsDenied != 1 {
				t.Errorf("denied = %d", s.Stats().ConnsDenied)
			}
		})
	}
	if err := (&Server{Handler: echoHandler(), DenyCIDRs: []string{"300.1.1.1/8"}}).Start(context.Background()); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("IPv6 loopback ::1 unavailable here: %v", err)
	}
	ln.Close()
	var remote atomic.Value
	s := start(t, &Server{Addr: "[::1]:0", AllowCIDRs: []string{"::1/128"}, Handler: HandlerFunc(func(w *Response, r *Request) {
		remote.Store(r.RemoteAddr().Addr())
		w.WriteString("v6")
	})})
	resp, err := http.Get("http://" + s.ListenAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "v6" || remote.Load().(netip.Addr) != netip.IPv6Loopback() {
		t.Fatalf("%q from %v", b, remote.Load())
	}
}

func TestMaxRequestsPerConn(t *testing.T) {
	s := start(t, &Server{MaxRequestsPerConn: 2})
	c := dial(t, s)
	c.send(post("/", "a"))
	if resp, _ := c.read("POST"); resp.Close {
		t.Fatal("first response closes")
	}
	c.send(post("/", "b"))
	if resp, body := c.read("POST"); !resp.Close || body != "POST / 1\nb" {
		t.Fatalf("second response: close=%v %q", resp.Close, body)
	}
	c.expectClosed()
}

func TestHTTP10(t *testing.T) {
	s := start(t, &Server{})
	c := dial(t, s)
	c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if resp, _ := c.read("GET"); resp.Close || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("1.0 keep-alive: close=%v", resp.Close)
	}
	c.send("GET /b HTTP/1.0\r\n\r\n")
	if resp, body := c.read("GET"); body != "GET /b 0\n" {
		t.Fatalf("%v %q", resp.Close, body)
	}
	c.expectClosed()
}

func TestHeadAnd204(t *testing.T) {
	s := start(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/nc" {
			w.SetStatus(204)
			return
		}
		w.WriteString("hello")
	})})
	c := dial(t, s)
	c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nc HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.read("HEAD"); resp.ContentLength != 5 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.ContentLength, body)
	}
	if resp, _ := c.read("GET"); resp.StatusCode != 204 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("204: %d %v", resp.StatusCode, resp.Header)
	}
	if _, body := c.read("GET"); body != "hello" {
		t.Fatalf("GET after HEAD: %q", body)
	}
}

func TestFromHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Query", r.URL.Query().Get("q"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"method":%q,"path":%q,"ua":%q,"body":%q,"host":%q}`, r.Method, r.URL.Path, r.UserAgent(), b, r.Host)
	})
	s := start(t, &Server{Handler: FromHTTP(h)})
	req, _ := http.NewRequest("PUT", "http://"+s.ListenAddr().String()+"/p/a?q=v", strings.NewReader("data"))
	req.Header.Set("User-Agent", "tester")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("X-Echo-Query") != "v" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	want := fmt.Sprintf(`{"method":"PUT","path":"/p/a","ua":"tester","body":"data","host":%q}`, s.ListenAddr().String())
	if string(b) != want {
		t.Fatalf("body %s\nwant %s", b, want)
	}
	// The standard library's own mux mounts too.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/uptime", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"uptime_sec":1}`) })
	s2 := start(t, &Server{Handler: FromHTTP(mux)})
	resp, err = http.Get("http://" + s2.ListenAddr().String() + "/api/v1/uptime")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"uptime_sec":1}` || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("mux: %q %q", b, resp.Header.Get("Content-Type"))
	}
}

func TestMux(t *testing.T) {
	m := NewMux()
	m.HandleFunc("/api/v1/metrics", func(w *Response, r *Request) { w.WriteString("metrics") })
	m.HandleFunc("/api/", func(w *Response, r *Request) { w.WriteString("api") })
	m.HandleFunc("/api/v2/", func(w *Response, r *Request) { w.WriteString("v2") })
	s := start(t, &Server{Handler: m})
	c := dial(t, s)
	for path, want := range map[string]string{
		"/api/v1/metrics": "metrics", "/api/v1/metrics/x": "api", "/api/v2/health": "v2", "/api/": "api",
	} {
		c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}
	c.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestPanicRecovered(t *testing.T) {
	s := start(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/boom" {
			panic("handler bug")
		}
		w.WriteString("fine")
	})})
	c := dial(t, s)
	c.send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 500 {
		t.Fatalf("panic answered %d", resp.StatusCode)
	}
	c.expectClosed()
	c2 := dial(t, s)
	c2.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c2.read("GET"); body != "fine" {
		t.Fatalf("after panic: %q", body)
	}
	if s.Stats().Panics != 1 {
		t.Errorf("panics = %d", s.Stats().Panics)
	}
}

func TestHooks(t *testing.T) {
	var mu sync.Mutex
	var log []string
	add := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	closed := make(chan struct{})
	s := start(t, &Server{
		Hooks: Hooks{
			ConnAccepted: func(remote netip.AddrPort) bool { add("accepted"); return true },
			RequestReceived: func(w *Response, r *Request) bool {
				if string(r.Path()) == "/busy" {
					w.SetStatus(503)
					w.AddHeader("Retry-After", "1")
					return false
				}
				return true
			},
			ResponseDone: func(r *Request, w *Response, d time.Duration) {
				add(fmt.Sprintf("%s %s %d %d", r.MethodString(), r.Path(), w.Status(), w.BodyBytes()))
			},
			ConnClosed: func(remote netip.AddrPort, n int) { add(fmt.Sprintf("closed %d", n)); close(closed) },
		},
	})
	c := dial(t, s)
	c.send(post("/busy", "0123456789"))
	resp, _ := c.read("POST")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("busy: %d %v", resp.StatusCode, resp.Header)
	}
	c.expectClosed()
	<-closed
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(log, "|"); got != "accepted|POST /busy 503 0|closed 1" {
		t.Fatalf("hooks ran: %s", got)
	}
}

func TestLargeBodies(t *testing.T) {
	s := start(t, &Server{MaxBodyBytes: 3 << 20})
	c := dial(t, s)
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	c.send(post("/cl", big))
	if _, body := c.read("POST"); body != "POST /cl 1048576\n"+big {
		t.Fatalf("CL 1MiB: %d bytes", len(body))
	}
	var sb strings.Builder
	sb.WriteString("POST /ch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i := 0; i < len(big); i += 1000 {
		part := big[i:min(i+1000, len(big))]
		fmt.Fprintf(&sb, "%x\r\n%s\r\n", len(part), part)
	}
	sb.WriteString("0\r\n\r\n")
	go io.WriteString(c.nc, sb.String()) // large: write while we read
	if _, body := c.read("POST"); body != "POST /ch 1048576\n"+big {
		t.Fatalf("chunked 1MiB: %d bytes", len(body))
	}
	c.send(post("/small", "s"))
	if _, body := c.read("POST"); body != "POST /small 1\ns" {
		t.Fatalf("small after large: %q", body)
	}
}

func TestShutdownClosesIdleAndWaitsForActive(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	s := &Server{Addr: "127.0.0.1:0", Handler: HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/slow" {
			close(entered)
			<-release
		}
		w.WriteString("done")
	})}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	idle := dial(t, s)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	busy := dial(t, s)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	idle.expectClosed()
	close(release)
	resp, body := busy.read("GET")
	if body != "done" || !resp.Close {
		t.Fatalf("in-flight request: %q close=%v", body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", s.ListenAddr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestWorkersShareThePort(t *testing.T) {
	s := start(t, &Server{Workers: 4})
	if runtime.GOOS == "linux" && s.Listeners() != 4 {
		t.Errorf("listeners = %d, want 4 with SO_REUSEPORT", s.Listeners())
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post("http://"+s.ListenAddr().String()+"/", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if s1 := start(t, &Server{Workers: 4, DisableReusePort: true}); s1.Listeners() != 1 {
		t.Errorf("DisableReusePort: %d listeners", s1.Listeners())
	}
}

func TestMaxConns(t *testing.T) {
	s := start(t, &Server{MaxConns: 1})
	c := dial(t, s)
	c.send(post("/", "x"))
	c.read("POST") // the first connection is open and served
	c2 := dial(t, s)
	if resp, _ := c2.read("GET"); resp.StatusCode != 503 {
		t.Fatalf("over MaxConns: %d", resp.StatusCode)
	}
}

func TestResponseHeaderInjectionDropped(t *testing.T) {
	s := start(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.AddHeader("X-Ok", "yes")
		w.AddHeader("X-Bad", "a\r\nSet-Cookie: evil=1")
		w.AddHeader("Content-Length", "999")
		w.AddHeaderInt("X-N", 42)
		w.WriteString("b")
	})})
	c := dial(t, s)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.read("GET")
	if resp.Header.Get("X-Ok") != "yes" || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Bad") != "" ||
		resp.ContentLength != 1 || body != "b" || resp.Header.Get("X-N") != "42" {
		t.Fatalf("%v %q", resp.Header, body)
	}
}

func TestEarlyRefusalWithLargeBodyIsReadable(t *testing.T) {
	s := start(t, &Server{Hooks: Hooks{RequestReceived: func(w *Response, r *Request) bool {
		w.SetStatus(503)
		w.AddHeader("Retry-After", "1")
		return false
	}}})
	for i := 0; i < 5; i++ {
		c := dial(t, s)
		body := strings.Repeat("x", 1<<20)
		go io.WriteString(c.nc, post("/busy", body)) // errors once the server closes: expected
		resp, _ := c.read("POST")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	}
}

func TestPortInUseIsAnError(t *testing.T) {
	s := start(t, &Server{Workers: 2})
	other := &Server{Addr: s.ListenAddr().String(), Workers: 2, Handler: echoHandler()}
	if err := other.Start(context.Background()); err == nil {
		other.Shutdown(context.Background())
		t.Fatal("a second server joined a port already in use (SO_REUSEPORT must not share with strangers)")
	}
	if err := (&Server{Addr: "127.0.0.1:0"}).Start(context.Background()); err == nil {
		t.Error("Start without a Handler succeeded")
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestIdleAndBodyTimeouts(t *testing.T) {
	s := start(t, &Server{IdleTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	idle := dial(t, s)
	idle.send(post("/", "x"))
	idle.read("POST")
	idle.expectClosed() // nothing more sent: closed quietly after IdleTimeout
	stalled := dial(t, s)
	stalled.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123")
	if resp, _ := stalled.read("POST"); resp.StatusCode != 408 {
		t.Fatalf("stalled body: %d", resp.StatusCode)
	}
	stalled.expectClosed()
}

func TestSlowReaderCutByWriteTimeout(t *testing.T) {
	big := strings.Repeat("z", 1<<20)
	closed := make(chan struct{})
	s := start(t, &Server{WriteTimeout: 200 * time.Millisecond, Handler: HandlerFunc(func(w *Response, r *Request) {
		w.WriteString(big)
	}), Hooks: Hooks{ConnClosed: func(netip.AddrPort, int) { close(closed) }}})
	c := dial(t, s)
	// Ask for 64 MiB of responses and read none: the server must give up on us.
	var sb strings.Builder
	for i := 0; i < 64; i++ {
		sb.WriteString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	c.send(sb.String())
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("server still writing to a client that reads nothing")
	}
}

func TestConnAcceptedHookRefuses(t *testing.T) {
	s := start(t, &Server{Hooks: Hooks{ConnAccepted: func(netip.AddrPort) bool { return false }}})
	c := dial(t, s)
	c.nc.Write([]byte(post("/", "x")))
	c.expectClosed()
	if s.Stats().ConnsDenied != 1 {
		t.Errorf("denied = %d", s.Stats().ConnsDenied)
	}
}

func TestFromHTTPSeesDecodedBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%d|%q|%q|%q", b, r.ContentLength, r.Header.Get("Content-Encoding"),
			r.Header.Get("Transfer-Encoding"), r.Header.Get("Content-Length"))
	})
	s := start(t, &Server{Handler: FromHTTP(h)})
	c := dial(t, s)
	z := gz(t, []byte("inflated"))
	c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(z), z))
	if _, body := c.read("POST"); body != `inflated|8|""|""|"8"` {
		t.Fatalf("adapter saw %s", body)
	}
}

func TestMaxBufferBytesSharedAcrossConnections(t *testing.T) {
	hold := make(chan struct{})
	entered := make(chan struct{})
	closed := make(chan struct{}, 3)
	s := start(t, &Server{MaxBufferBytes: 200 << 10, MaxBodyBytes: 1 << 20, Hooks: Hooks{
		ConnClosed: func(netip.AddrPort, int) { closed <- struct{}{} },
	}, Handler: HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/hold" {
			close(entered)
			<-hold
		}
		w.Write(appendInt(nil, len(r.Body())))
	})})
	body := strings.Repeat("b", 150<<10)
	a := dial(t, s)
	go io.WriteString(a.nc, post("/hold", body))
	<-entered // a's 150 KiB are held while its handler runs
	if got := s.Stats().BufferBytes; got < 100<<10 {
		t.Fatalf("BufferBytes = %d while holding 150 KiB", got)
	}
	b := dial(t, s)
	go io.WriteString(b.nc, post("/other", body))
	resp, _ := b.read("POST")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the shared budget: %d %v", resp.StatusCode, resp.Header)
	}
	close(hold)
	if _, got := a.read("POST"); got != "153600" {
		t.Fatalf("holder got %q", got)
	}
	c := dial(t, s)
	go io.WriteString(c.nc, post("/other", body))
	if resp, got := c.read("POST"); resp.StatusCode != 200 || got != "153600" {
		t.Fatalf("after release: %d %q", resp.StatusCode, got)
	}
	// Small requests never touch the budget.
	c.send(post("/small", "x"))
	c.read("POST")
	a.nc.Close()
	c.nc.Close()
	for i := 0; i < 3; i++ {
		<-closed
	}
	if got := s.Stats().BufferBytes; got != 0 {
		t.Fatalf("BufferBytes = %d after every connection closed", got)
	}
}

func TestShutdownDeadlineWithStuckHandler(t *testing.T) {
	stuck := make(chan struct{})
	entered := make(chan struct{})
	s := &Server{Addr: "127.0.0.1:0", Handler: HandlerFunc(func(w *Response, r *Request) {
		close(entered)
		<-stuck
	})}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer close(stuck)
	c := dial(t, s)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want the deadline error", err)
	}
	c.expectClosed()
}

func TestPanickingHooksAreContained(t *testing.T) {
	var calls atomic.Int32
	s := start(t, &Server{Hooks: Hooks{
		ConnAccepted: func(netip.AddrPort) bool {
			if calls.Add(1) == 1 {
				panic("accept hook bug")
			}
			return true
		},
		ConnClosed: func(netip.AddrPort, int) { panic("close hook bug") },
	}})
	first := dial(t, s)
	first.expectClosed() // its hook panicked: refused, server alive
	c := dial(t, s)
	c.send(post("/", "x"))
	if _, body := c.read("POST"); body != "POST / 1\nx" {
		t.Fatalf("after hook panics: %q", body)
	}
	c.nc.Close()
	if s.Stats().Panics < 1 {
		t.Errorf("panics = %d", s.Stats().Panics)
	}
}

// testBudget is a MemoryBudget of limit bytes.
type testBudget struct {
	mu          sync.Mutex
	used, limit int64
}

func (b *testBudget) TryReserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *testBudget) Release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

func (b *testBudget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// A gzip body the process's memory budget has no room for once inflated is answered 503
// with Retry-After; one that fits is served, and every byte is given back.
func TestMemoryBudgetBoundsInflatedBodies(t *testing.T) {
	mem := &testBudget{limit: 128 << 10}
	closed := make(chan struct{}, 2)
	s := start(t, &Server{Memory: mem, MaxBodyBytes: 1 << 20, MaxDecompressedBytes: 4 << 20,
		Hooks:   Hooks{ConnClosed: func(netip.AddrPort, int) { closed <- struct{}{} }},
		Handler: HandlerFunc(func(w *Response, r *Request) { w.Write(appendInt(nil, len(r.Body()))) })})
	big := gz(t, bytes.Repeat([]byte("z"), 1<<20)) // 1 KiB on the wire, 1 MiB inflated
	c := dial(t, s)
	c.send(fmt.Sprintf("POST /z HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
	if resp, _ := c.read("POST"); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("inflating past the memory budget: %d %v", resp.StatusCode, resp.Header)
	}
	<-closed // the refused request's connection is closed, its buffers given back
	small := gz(t, bytes.Repeat([]byte("s"), 32<<10))
	d := dial(t, s)
	d.send(fmt.Sprintf("POST /z HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", len(small), small))
	if resp, got := d.read("POST"); resp.StatusCode != 200 || got != "32768" {
		t.Fatalf("a body within the budget: %d %q", resp.StatusCode, got)
	}
	c.nc.Close()
	d.nc.Close()
	<-closed
	if u := mem.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved after every connection closed", u)
	}
}
