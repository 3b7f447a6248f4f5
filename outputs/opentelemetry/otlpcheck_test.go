package opentelemetry_test

// The tests decode what the output sends with the OpenTelemetry Collector's own pdata
// library (plogotlp, pmetricotlp), run as tools/otlpcheck: a module of its own, built here
// once per test binary. Without it (offline, no module cache) the tests that need it skip.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	checkBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otlpcheck")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// checkerBinary builds tools/otlpcheck, or skips the test saying why it cannot.
func checkerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		src, err := filepath.Abs("../../tools/otlpcheck")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "otlpcheck")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
			return
		}
		checkBin = bin
	})
	if buildErr != nil {
		t.Skipf("tools/otlpcheck (the Collector's pdata decoder) does not build here, offline without its modules? %v", buildErr)
	}
	return checkBin
}

// exported is one request as otlpcheck decoded it.
type exported struct {
	Path        string              `json:"path"`
	ContentType string              `json:"content_type"`
	Encoding    string              `json:"encoding"`
	Header      map[string][]string `json:"header"`
	Error       string              `json:"error"`
	Request     json.RawMessage     `json:"request"`
}

type checker struct {
	Addr string
	Port string
	cmd  *exec.Cmd
	out  chan exported
	done chan struct{}
}

// startChecker runs otlpcheck on addr ("127.0.0.1:0" for any port).
func startChecker(t *testing.T, addr string) *checker {
	t.Helper()
	c, err := tryChecker(t, addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// restartChecker runs otlpcheck again on the address a stopped one had, trying for a
// while (bounded) in case the port is not free again at once.
func restartChecker(t *testing.T, addr string) *checker {
	t.Helper()
	var err error
	for range 100 {
		var c *checker
		if c, err = tryChecker(t, addr); err == nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

func tryChecker(t *testing.T, addr string) (*checker, error) {
	t.Helper()
	bin := checkerBinary(t)
	cmd := exec.Command(bin, "-addr", addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &checker{cmd: cmd, out: make(chan exported, 1000), done: make(chan struct{})}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	if !sc.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("otlpcheck -addr %s did not start: %v", addr, sc.Err())
	}
	var hello struct{ Listening string }
	if err := json.Unmarshal(sc.Bytes(), &hello); err != nil || hello.Listening == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("otlpcheck said %q", sc.Text())
	}
	c.Addr = hello.Listening
	_, c.Port, _ = cutLast(c.Addr, ":")
	go func() {
		defer close(c.done)
		for sc.Scan() {
			var e exported
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e.Error = "otlpcheck line: " + err.Error()
			}
			c.out <- e
		}
	}()
	t.Cleanup(c.Stop)
	return c, nil
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// Stop ends the receiver (idempotent).
func (c *checker) Stop() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		<-c.done
	}
}

// next waits for the next decoded request.
func (c *checker) next(t *testing.T) exported {
	t.Helper()
	select {
	case e := <-c.out:
		if e.Error != "" {
			t.Fatalf("otlpcheck could not decode a request to %s: %s", e.Path, e.Error)
		}
		return e
	case <-time.After(15 * time.Second):
		t.Fatal("no request reached otlpcheck")
	}
	return exported{}
}
