package embedhttp

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keepAliveClient posts on one keep-alive connection until stop is closed (bounded by
// max requests) and reports how many requests got a correct answer; any wrong answer
// fails the test. It proves the server keeps serving others during an attack.
func keepAliveClient(t *testing.T, s *Server, stop <-chan struct{}, max int) (served *atomic.Int64, wait func()) {
	served = new(atomic.Int64)
	c := dial(t, s)
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan string, 1)
	go func() {
		defer wg.Done()
		for i := 0; i < max; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.nc.Write([]byte(post("/ok", "ping"))); err != nil {
				errc <- "write: " + err.Error()
				return
			}
			resp, err := readResponse(c)
			if err != nil {
				errc <- "read: " + err.Error()
				return
			}
			if resp != "POST /ok 4\nping" {
				errc <- "bad answer " + resp
				return
			}
			served.Add(1)
		}
	}()
	return served, func() {
		wg.Wait()
		select {
		case e := <-errc:
			t.Errorf("normal client during the attack: %s", e)
		default:
		}
	}
}

func readResponse(c *rawClient) (string, error) {
	resp, err := httpReadResponse(c.br, "POST")
	if err != nil {
		return "", err
	}
	return resp, nil
}

func TestHostileRequests(t *testing.T) {
	const big = 20000
	cases := []struct {
		name string
		req  string
		code int
	}{
		{"CL then TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE then CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
		{"duplicate differing CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
		{"negative CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"plus CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400},
		{"huge CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"body over limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413},
		{"chunk size not hex", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size 0x", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size negative", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nhello\r\n0\r\n\r\n", 413},
		{"chunk data longer than size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size bare LF", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
		{"chunk size empty", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size space", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400},
		{"TE gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"TE chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE chunked then gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 501},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"huge header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", big) + "\r\n\r\n", 431},
		{"huge header unterminated", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", big), 431},
		{"header count", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 200) + "\r\n", 431},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505},
		{"HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/1", "GET / HTTP/1\r\nHost: x\r\n\r\n", 400},
		{"http/1.1 lowercase", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/0.9", "GET /\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"two spaces in request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"authority form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"expect other", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na", 417},
		{"content-encoding br", "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\na", 415},
		{"bad gzip", "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello", 400},
	}
	s := start(t, &Server{MaxBodyBytes: 1 << 20, MaxHeaderBytes: 8 << 10, MaxHeaderCount: 50})
	// A normal keep-alive client, served between the attacker's request and the
	// server's answer to it, and after: the attacks never disturb it.
	normal := dial(t, s)
	roundTrip := func(t *testing.T) {
		t.Helper()
		normal.send(post("/ok", "ping"))
		if resp, body := normal.read("POST"); resp.StatusCode != 200 || body != "POST /ok 4\nping" || resp.Close {
			t.Fatalf("normal client: %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			c.send(tc.req)
			roundTrip(t)
			resp, _ := c.read("POST")
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if !resp.Close {
				t.Errorf("no Connection: close on an error response")
			}
			c.expectClosed()
			roundTrip(t)
		})
	}
	if st := s.Stats(); st.BadRequests < int64(len(cases)) || st.Panics != 0 || st.Requests != int64(2*len(cases)) {
		t.Errorf("stats %+v", st)
	}
}

func TestSlowlorisCutOffWhileOthersServed(t *testing.T) {
	s := start(t, &Server{ReadTimeout: 300 * time.Millisecond})
	stop := make(chan struct{})
	served, wait := keepAliveClient(t, s, stop, 1_000_000)
	slow := dial(t, s)
	head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
	cut := false
	// A byte every 20 ms: the server must answer 408 and close long before the
	// request completes, however steadily bytes keep coming.
	for i := 0; i < len(head); i++ {
		if _, err := slow.nc.Write([]byte{head[i]}); err != nil {
			cut = true
			break
		}
		time.Sleep(20 * time.Millisecond)
		if slow.br.Buffered() > 0 || peekReadable(slow) {
			cut = true
			break
		}
	}
	if !cut {
		t.Fatal("slowloris sent a whole request without being cut off")
	}
	resp, _ := slow.read("POST")
	if resp.StatusCode != 408 {
		t.Fatalf("slowloris got %d, want 408", resp.StatusCode)
	}
	slow.expectClosed()
	close(stop)
	wait()
	if served.Load() == 0 {
		t.Fatal("normal client not served during the slowloris")
	}
	if s.Stats().Timeouts == 0 {
		t.Error("timeout not counted")
	}
}

// peekReadable reports whether the server sent something, without blocking long.
func peekReadable(c *rawClient) bool {
	c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.br.Peek(1)
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	return err == nil
}

// TestSilentConnectionsDoNotHoldSlots: connections that never send a byte are closed after
// the first-byte timeout (default 5 s), not the keep-alive idle timeout (60 s): a client
// that opens MaxConns of them locks a normal client out for seconds, not a minute.
func TestSilentConnectionsDoNotHoldSlots(t *testing.T) {
	s := start(t, &Server{MaxConns: 3, Workers: 1})
	var silent []*rawClient
	for i := 0; i < 3; i++ {
		silent = append(silent, dial(t, s))
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Since(deadline) < 0 && s.Stats().ConnsActive < 3 {
		time.Sleep(5 * time.Millisecond) // the accept loop's count, not an event we can see
	}
	began := time.Now()
	for {
		resp, err := http.Post("http://"+s.ListenAddr().String()+"/x", "text/plain", strings.NewReader("hi"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("a normal client is still refused %v after 3 silent connections took every slot", time.Since(began).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond) // the client's own retry pace
	}
	if took := time.Since(began); took > DefaultIdleTimeout/4 {
		t.Errorf("a normal client waited %v for a slot", took)
	}
	for _, c := range silent {
		c.expectClosed()
	}
}
