// Package natstest runs real nats-server processes for tests and benchmarks: one server,
// or a JetStream cluster of several on 127.0.0.1, each on free ports with a generated
// configuration and its JetStream store in the test's temporary directory. A server can be
// killed (SIGKILL) and started again on the same ports and store, to test reconnection and
// failover. It mocks nothing of NATS: a test that uses it fails with a clear message when
// nats-server is not installed (Debian package nats-server).
package natstest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

// Binary is where Debian installs the server; PATH is searched when it is not there.
const Binary = "/usr/sbin/nats-server"

// startTimeout bounds how long a server may take to say it is ready, and a cluster to
// elect its JetStream meta leader.
const startTimeout = 30 * time.Second

// Server is one nats-server process (or none, between Kill and Start). Its methods are
// safe for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	name string
	dir  string
	conf string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs strings.Builder
}

// Option adds configuration to a server.
type Option func(*settings)

type settings struct {
	lines     []string
	jetstream bool
}

// WithLines adds nats-server configuration lines, e.g. `authorization { token: "s3cret" }`.
func WithLines(lines ...string) Option {
	return func(s *settings) { s.lines = append(s.lines, lines...) }
}

// WithJetStream turns JetStream on, its store in the test's temporary directory.
func WithJetStream() Option { return func(s *settings) { s.jetstream = true } }

func binary(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	p, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("natstest: nats-server is not installed (no %s, none in PATH): install the Debian package nats-server", Binary)
	}
	return p
}

// Start starts one server on a free port and waits until it is ready. It is killed when
// the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var s settings
	for _, o := range opts {
		o(&s)
	}
	ports := freePorts(t, 1)
	srv := newServer(t, binary(t), "n0", ports[0], s, nil)
	srv.Start()
	return srv
}

// Cluster is a JetStream cluster of servers routed to each other on 127.0.0.1.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts n JetStream servers in one cluster and waits until each is ready
// and JetStream has a meta leader. They are killed when the test ends.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	var s settings
	for _, o := range opts {
		o(&s)
	}
	s.jetstream = true
	ports := freePorts(t, 2*n)
	bin := binary(t)
	var routes []string
	for i := 0; i < n; i++ {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		cl := []string{
			"cluster {",
			"  name: fbgo",
			fmt.Sprintf("  listen: 127.0.0.1:%d", ports[n+i]),
			"  routes: [" + strings.Join(routes, ", ") + "]",
			"}",
		}
		c.Servers = append(c.Servers, newServer(t, bin, fmt.Sprintf("n%d", i), ports[i], s, cl))
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for _, srv := range c.Servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.start(); err != nil {
				errs <- err.Error()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	c.WaitJetStream(t)
	return c
}

// URLs is the client URLs of every server, comma separated, as nats.Connect takes them.
func (c *Cluster) URLs() string {
	var us []string
	for _, s := range c.Servers {
		us = append(us, s.URL())
	}
	return strings.Join(us, ",")
}

// WaitJetStream waits until the cluster's JetStream answers account requests (a meta
// leader is elected).
func (c *Cluster) WaitJetStream(t testing.TB) {
	t.Helper()
	nc := Connect(t, c.URLs())
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if !poll.Until(startTimeout, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	}) {
		t.Fatalf("natstest: the cluster's JetStream has no leader within %v", startTimeout)
	}
}

func newServer(t testing.TB, bin, name string, port int, s settings, extra []string) *Server {
	dir := t.TempDir()
	conf := []string{
		"server_name: " + name,
		fmt.Sprintf("listen: 127.0.0.1:%d", port),
	}
	if s.jetstream {
		conf = append(conf, "jetstream {", "  store_dir: "+strconv.Quote(filepath.Join(dir, "js")), "}")
	}
	conf = append(conf, extra...)
	conf = append(conf, s.lines...)
	srv := &Server{t: t, bin: bin, name: name, dir: dir, port: port, conf: filepath.Join(dir, "nats.conf")}
	if err := os.WriteFile(srv.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatalf("natstest: write config: %v", err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: find a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Name is the server's name (n0, n1, ...).
func (s *Server) Name() string { return s.name }

// Port is the client port on 127.0.0.1; it stays the same across restarts.
func (s *Server) Port() int { return s.port }

// Host is the address the server listens on.
func (s *Server) Host() string { return "127.0.0.1" }

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Logs returns what the server printed so far, across restarts.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Start starts the server (again) and waits until it is ready; it fails the test if it
// does not get there.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return fmt.Errorf("natstest: %s is already running", s.name)
	}
	cmd := exec.Command(s.bin, "-c", s.conf)
	cmd.Dir = s.dir
	out, err := cmd.StderrPipe()
	if err != nil {
		s.mu.Unlock()
		return err
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("natstest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if !seen && strings.Contains(line, "Server is ready") {
				seen = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-done:
		s.mu.Lock()
		s.cmd = nil
		s.mu.Unlock()
		return fmt.Errorf("natstest: %s exited at start (%v):\n%s", s.name, cmd.ProcessState, s.Logs())
	case <-timer.C:
		s.Kill()
		return fmt.Errorf("natstest: %s was not ready within %v:\n%s", s.name, startTimeout, s.Logs())
	}
}

// Kill ends the server with SIGKILL (no goodbye to clients or the cluster, nothing
// flushed) and waits for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop ends the server with SIGTERM (a clean shutdown) and waits for it to exit.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Connect connects a test client (reconnecting forever, 50ms between attempts), closed
// when the test ends.
func Connect(t testing.TB, urls string, opts ...natsgo.Option) *natsgo.Conn {
	t.Helper()
	opts = append([]natsgo.Option{natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50 * time.Millisecond), natsgo.Timeout(5 * time.Second)}, opts...)
	nc, err := natsgo.Connect(urls, opts...)
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
