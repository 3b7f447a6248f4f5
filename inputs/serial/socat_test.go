package serial

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pty is a pair of pseudo-terminals joined by socat: the input opens Dev like a UART and
// the test writes what the device would send into Peer.
type pty struct {
	Dev, Peer string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// startPTY starts socat with links dir/dev and dir/peer and returns once it relays data.
func startPTY(t *testing.T, dir string) *pty {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed (Debian package socat)")
	}
	p := &pty{Dev: filepath.Join(dir, "dev"), Peer: filepath.Join(dir, "peer"), exited: make(chan struct{})}
	p.cmd = exec.Command("socat", "-d", "-d",
		"pty,raw,echo=0,link="+p.Dev, "pty,raw,echo=0,link="+p.Peer)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "starting data transfer loop") {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("socat exited before relaying")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("socat did not start relaying within 10s")
	}
	for _, l := range []string{p.Dev, p.Peer} {
		if _, err := os.Lstat(l); err != nil {
			t.Fatalf("socat is relaying but %s: %v", l, err)
		}
	}
	return p
}

// stop ends socat (SIGTERM: it removes its links) and waits for it.
func (p *pty) stop() {
	if p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// writer opens the device side the test plays.
func (p *pty) writer(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(p.Peer, os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func write(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for a value on ch, bounded.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

var _ = context.Background
