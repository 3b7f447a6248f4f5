package netserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const waitFor = 10 * time.Second

// collector records the messages a server hands on.
type collector struct {
	mu   sync.Mutex
	msgs []Message
}

func (c *collector) handle(m Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, Message{Data: bytes.Clone(m.Data), Remote: m.Remote, Datagram: m.Datagram})
	return nil
}

func (c *collector) data() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		out = append(out, string(m.Data))
	}
	return out
}

func (c *collector) wait(t *testing.T, n int) []string {
	t.Helper()
	if !pipelinetest.Eventually(waitFor, func() bool { return len(c.data()) >= n }) {
		t.Fatalf("got %q, want %d messages", c.data(), n)
	}
	return c.data()
}

// serve starts a server for cfg and stops it at the end of the test, checking that Serve
// returns.
func serve(t *testing.T, cfg Config, paused func() bool) (*Server, *collector) {
	t.Helper()
	s, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, paused, c.handle) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("Serve did not return after cancel")
		}
	})
	return s, c
}

func TestTCPNewlineFraming(t *testing.T) {
	s, c := serve(t, Config{Network: TCP, Address: "127.0.0.1:0"}, nil)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "one\ntwo\nthr")
	fmt.Fprint(conn, "ee\n")
	fmt.Fprint(conn, "last without newline")
	conn.Close()
	got := c.wait(t, 4)
	want := []string{"one", "two", "three", "last without newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if r := c.msgs[0].Remote; !strings.HasPrefix(r, "tcp://127.0.0.1:") {
		t.Errorf("remote %q", r)
	}
}

func TestTCPOverTLS(t *testing.T) {
	cert := testcert.New(t)
	s, c := serve(t, Config{Network: TCP, Address: "127.0.0.1:0", TLS: cert.ServerConfig()}, nil)
	conn, err := tls.Dial("tcp", s.Addr(), cert.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "secret\n")
	conn.Close()
	if got := c.wait(t, 1); got[0] != "secret" {
		t.Errorf("got %q", got)
	}
}

func TestOctetCountingOverTCP(t *testing.T) {
	s, c := serve(t, Config{Network: TCP, Address: "127.0.0.1:0", Split: SplitOctetCounting(1024)}, nil)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "5 hello12 with\nnewline\n3 abc")
	conn.Close()
	got := c.wait(t, 3)
	if want := "hello|with\nnewline|abc"; strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMessageLargerThanMaxClosesConnection(t *testing.T) {
	s, c := serve(t, Config{Network: TCP, Address: "127.0.0.1:0", ChunkSize: 16, MaxSize: 64}, nil)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "short\n%s\n", strings.Repeat("x", 200))
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after an oversized message")
	}
	if got := c.wait(t, 1); got[0] != "short" {
		t.Errorf("got %q", got)
	}
	// The server still accepts others.
	conn2, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn2, "after\n")
	conn2.Close()
	if got := c.wait(t, 2); got[1] != "after" {
		t.Errorf("got %q", got)
	}
}

func TestUDPDatagrams(t *testing.T) {
	s, c := serve(t, Config{Network: UDP, Address: "127.0.0.1:0", MaxSize: 32, ReceiveBuffer: 1 << 16}, nil)
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("dgram one\n"))
	conn.Write([]byte(strings.Repeat("y", 100)))
	got := c.wait(t, 2)
	if got[0] != "dgram one\n" || got[1] != strings.Repeat("y", 32) {
		t.Errorf("got %q", got)
	}
	if m := c.msgs[0]; !m.Datagram || !strings.HasPrefix(m.Remote, "udp://127.0.0.1:") {
		t.Errorf("message %+v", m)
	}
}

func TestUnixSockets(t *testing.T) {
	dir := t.TempDir()
	for _, nw := range []Network{Unix, Unixgram} {
		t.Run(string(nw), func(t *testing.T) {
			path := filepath.Join(dir, string(nw)+".sock")
			os.WriteFile(path, nil, 0o600) // not a socket: must not be removed silently
			os.Remove(path)
			s, c := serve(t, Config{Network: nw, Address: path, UnixPerm: 0o660}, nil)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o660 {
				t.Errorf("perm %o, want 660", fi.Mode().Perm())
			}
			conn, err := net.Dial(string(nw), s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			conn.Write([]byte("over unix\n"))
			conn.Close()
			got := c.wait(t, 1)
			if strings.TrimSuffix(got[0], "\n") != "over unix" || !strings.HasPrefix(c.msgs[0].Remote, "unix://") {
				t.Errorf("got %q from %q", got, c.msgs[0].Remote)
			}
		})
	}
}

func TestPausedServerReadsNothingUntilResumed(t *testing.T) {
	var paused atomic.Bool
	paused.Store(true)
	s, c := serve(t, Config{Network: TCP, Address: "127.0.0.1:0"}, paused.Load)
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "held\n")
	// Nothing may arrive while paused; a few poll periods is the bound we can test.
	time.Sleep(5 * pausePoll)
	if got := c.data(); len(got) != 0 {
		t.Fatalf("read while paused: %q", got)
	}
	paused.Store(false)
	if got := c.wait(t, 1); got[0] != "held" {
		t.Errorf("got %q", got)
	}
}

func TestShutdownClosesOpenConnections(t *testing.T) {
	s, err := Listen(context.Background(), Config{Network: TCP, Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := &collector{}
	go func() { done <- s.Serve(ctx, nil, c.handle) }()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "a\n")
	c.wait(t, 1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Serve did not return with a connection open")
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after shutdown")
	}
}

func TestHandlerErrorClosesConnection(t *testing.T) {
	s, err := Listen(context.Background(), Config{Network: TCP, Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, nil, func(Message) error { return errors.New("buffer full") })
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "a\n")
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("connection open after the handler failed")
	}
}

func TestSplitJSON(t *testing.T) {
	in := `{"a":1}{"b":"}{"} [1,2]
not json at all
 {"c":{"d":[{}]}}` + "\n" + `{"e":"\"}"}`
	sc := bufio.NewScanner(strings.NewReader(in))
	sc.Split(SplitJSON)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	want := []string{`{"a":1}`, `{"b":"}{"}`, `[1,2]`, `not json at all`, `{"c":{"d":[{}]}}`, `{"e":"\"}"}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestSplitOctetCountingErrors(t *testing.T) {
	for _, in := range []string{"abc hello", "0 x", "99999999999999 x", "5hello", "10 short"} {
		sc := bufio.NewScanner(strings.NewReader(in))
		sc.Split(SplitOctetCounting(1 << 20))
		for sc.Scan() {
		}
		if sc.Err() == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
