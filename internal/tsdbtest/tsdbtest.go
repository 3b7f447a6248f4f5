// Package tsdbtest runs real time-series databases for tests: InfluxDB 1.x (Debian package
// influxdb) and Prometheus 2.x (Debian package prometheus), each a private process on free
// 127.0.0.1 ports with a generated configuration and a temporary data directory. A package
// starts each server once (the first test that asks for it) and Main stops them when the
// package's tests end. A test that needs a server absent from the machine is skipped with
// the reason. It is for tests only and fakes nothing.
package tsdbtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long a server may take to answer its readiness URL.
const readyTimeout = 60 * time.Second

// Server is one server process (or none, between Stop and Start) with its port and
// configuration. Its methods are safe for concurrent use.
type Server struct {
	name  string
	bin   string
	args  []string
	dir   string
	port  int
	ready string // URL answering 2xx once the server serves

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs bytes.Buffer
}

var (
	mu      sync.Mutex
	running = map[string]*Server{}
	tmpDirs []string
)

// Main runs the package's tests and then stops every server they started. Call it from
// TestMain: func TestMain(m *testing.M) { tsdbtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	for _, s := range running {
		s.Kill()
	}
	for _, d := range tmpDirs {
		os.RemoveAll(d)
	}
	mu.Unlock()
	os.Exit(code)
}

// shared returns the server called name, making and starting it on first use.
func shared(t testing.TB, name string, make func(dir string) (*Server, error)) *Server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if s := running[name]; s != nil {
		return s
	}
	dir, err := os.MkdirTemp("", "tsdbtest-"+name+"-")
	if err != nil {
		t.Fatalf("tsdbtest: %v", err)
	}
	tmpDirs = append(tmpDirs, dir)
	s, err := make(dir)
	if err != nil {
		t.Fatalf("tsdbtest: %s: %v", name, err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("tsdbtest: %v", err)
	}
	running[name] = s
	return s
}

// lookBinary finds a server binary at Debian's path or in PATH, or skips the test.
func lookBinary(t testing.TB, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if p, err := exec.LookPath(path[bytes.LastIndexByte([]byte(path), '/')+1:]); err == nil {
		return p
	}
	t.Skipf("tsdbtest: %s is not installed (no %s, none in PATH): install the Debian package %s", path, path, pkg)
	return ""
}

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tsdbtest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Port is the server's HTTP port on 127.0.0.1; it stays the same across restarts.
func (s *Server) Port() int { return s.port }

// URL is the server's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Logs returns what the server printed so far, across restarts.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

type lockedWriter struct{ s *Server }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.logs.Len() < 1<<20 {
		w.s.logs.Write(p)
	}
	return len(p), nil
}

// Start starts the server (again, after Stop or Kill, on the same port and data) and waits
// until its readiness URL answers 2xx.
func (s *Server) Start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s: already running", s.name)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Stdout = lockedWriter{s}
	cmd.Stderr = lockedWriter{s}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s: start %s: %w", s.name, s.bin, err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()

	client := &http.Client{Timeout: 2 * time.Second}
	exited := false
	err := Eventually(readyTimeout, 20*time.Millisecond, func() (bool, string) {
		select {
		case <-done:
			exited = true
			return true, ""
		default:
		}
		resp, err := client.Get(s.ready)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2, resp.Status
	})
	if exited {
		s.mu.Lock()
		s.cmd = nil
		s.mu.Unlock()
		return fmt.Errorf("%s exited at start (%v):\n%s", s.name, cmd.ProcessState, s.Logs())
	}
	if err != nil {
		s.Kill()
		return fmt.Errorf("%s: %s not ready: %w\n%s", s.name, s.ready, err, s.Logs())
	}
	return nil
}

// Stop ends the server gracefully (SIGTERM). Stopping a stopped server does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server at once (SIGKILL).
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

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
	case <-time.After(readyTimeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Eventually calls cond every interval until it reports true or timeout passes; the error
// then carries cond's last note. It is the one polling helper of these tests: servers are
// asked over HTTP, which has no signal to wait for.
func Eventually(timeout, interval time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, note := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %s", timeout, note)
		}
		time.Sleep(interval)
	}
}
