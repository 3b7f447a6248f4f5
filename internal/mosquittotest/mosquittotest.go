// Package mosquittotest runs a real mosquitto broker for tests: a private process on a free
// 127.0.0.1 port with a generated configuration (Debian's mosquitto 2.x listens on nothing
// and refuses anonymous clients unless told `listener PORT 127.0.0.1` and
// `allow_anonymous true`). The broker can be stopped, killed and started again on the same
// port, to test reconnection. It is for tests only and does not mock MQTT in any way: a test
// that uses it fails with a clear message when mosquitto is not installed (Debian package
// mosquitto).
package mosquittotest

import (
	"bufio"
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
)

// Binary is where Debian installs the broker; PATH is searched when it is not there.
const Binary = "/usr/sbin/mosquitto"

// startTimeout bounds how long a broker may take to say it is running.
const startTimeout = 15 * time.Second

// Broker is one mosquitto process (or none, between Stop and Start) with its port and
// configuration. Its methods are safe for concurrent use.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	logs strings.Builder
}

// Option changes the generated configuration.
type Option func(*settings)

type settings struct {
	lines       []string
	persistence bool
	anonymous   bool
}

// WithLines appends mosquitto.conf lines, e.g. "max_queued_messages 0".
func WithLines(lines ...string) Option {
	return func(s *settings) { s.lines = append(s.lines, lines...) }
}

// WithPersistence makes the broker save its sessions, subscriptions and queued messages in
// the test's temporary directory when it stops (Stop, not Kill) and load them when it
// starts again, as a broker installed with persistence does.
func WithPersistence() Option { return func(s *settings) { s.persistence = true } }

// Start writes a configuration and starts a broker on a free port, waiting until it says
// it is running. The broker is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	bin := Binary
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("mosquitto")
		if lerr != nil {
			t.Fatalf("mosquittotest: mosquitto is not installed (no %s, none in PATH): install the Debian package mosquitto", Binary)
		}
		bin = p
	}
	s := settings{anonymous: true}
	for _, o := range opts {
		o(&s)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("mosquittotest: find a free port: %v", err)
	}
	dir := t.TempDir()
	conf := []string{
		"listener " + strconv.Itoa(port) + " 127.0.0.1",
		"allow_anonymous " + strconv.FormatBool(s.anonymous),
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"log_type notice",
		"log_type information",
	}
	if os.Geteuid() == 0 {
		// As root, mosquitto switches to the user "mosquitto", who cannot write the test's
		// directory: stay root.
		conf = append(conf, "user root")
	}
	if s.persistence {
		conf = append(conf, "persistence true", "persistence_location "+dir+"/", "autosave_interval 0")
	}
	conf = append(conf, s.lines...)
	b := &Broker{t: t, bin: bin, dir: dir, port: port, conf: filepath.Join(dir, "mosquitto.conf")}
	if err := os.WriteFile(b.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatalf("mosquittotest: write config: %v", err)
	}
	t.Cleanup(b.Kill)
	b.Start()
	return b
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the broker's TCP port on 127.0.0.1; it stays the same across restarts.
func (b *Broker) Port() int { return b.port }

// Host is the address the broker listens on.
func (b *Broker) Host() string { return "127.0.0.1" }

// Addr is host:port.
func (b *Broker) Addr() string { return net.JoinHostPort(b.Host(), strconv.Itoa(b.port)) }

// URL is the broker's address as paho wants it.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Logs returns what the broker printed so far, across restarts.
func (b *Broker) Logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

// Start starts the broker again after Stop or Kill (on the same port and configuration) and
// waits until it is running. Starting a running broker fails the test.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	if b.cmd != nil {
		b.mu.Unlock()
		b.t.Fatalf("mosquittotest: Start: the broker is already running")
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Dir = b.dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.mu.Unlock()
		b.t.Fatalf("mosquittotest: %v", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		b.t.Fatalf("mosquittotest: start %s: %v", b.bin, err)
	}
	done := make(chan struct{})
	running := make(chan struct{})
	b.cmd, b.done = cmd, done
	b.mu.Unlock()

	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.logs.WriteString(line + "\n")
			b.mu.Unlock()
			if !seen && strings.Contains(line, " running") {
				seen = true
				close(running)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(done)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-running:
	case <-done:
		b.mu.Lock()
		b.cmd = nil
		b.mu.Unlock()
		b.t.Fatalf("mosquittotest: mosquitto exited at start (%v):\n%s", cmd.ProcessState, b.Logs())
	case <-timer.C:
		b.Kill()
		b.t.Fatalf("mosquittotest: mosquitto did not say it was running within %v:\n%s", startTimeout, b.Logs())
	}
}

// Stop ends the broker gracefully (SIGTERM): with persistence it saves its state first.
// Clients see their connections close. Stopping a stopped broker does nothing.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Kill ends the broker at once (SIGKILL), as a crash or power loss would: what it had not
// saved is gone.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
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

// String describes the broker for test messages.
func (b *Broker) String() string { return fmt.Sprintf("mosquitto at %s", b.Addr()) }
