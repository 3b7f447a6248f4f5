package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

// healthConfig is one configuration both agents read: a dummy input sent by out_http to
// a destination on 127.0.0.1 that is down at first, with a health check that turns to
// error at the first counted error or abandoned chunk.
func healthConfig(t *testing.T, dir string, apiPort, destPort int) string {
	t.Helper()
	body := fmt.Sprintf(`[SERVICE]
    flush                  0.5
    log_level              info
    http_server            on
    http_listen            127.0.0.1
    http_port              %d
    health_check           on
    hc_errors_count        1
    hc_retry_failure_count 1
    hc_period              30
    scheduler.base         1
    scheduler.cap          2

[INPUT]
    name  dummy
    rate  5

[OUTPUT]
    name        http
    match       *
    host        127.0.0.1
    port        %d
    uri         /in
    format      json
    retry_limit no_limits
`, apiPort, destPort)
	path := filepath.Join(dir, "health.conf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// outputCounters reads the first output's counters from /api/v1/metrics.
func outputCounters(base string) (retries, errors, retriesFailed, proc int, ok bool) {
	resp, err := http.Get(base + "/api/v1/metrics")
	if err != nil {
		return 0, 0, 0, 0, false
	}
	defer resp.Body.Close()
	var m struct {
		Output map[string]struct {
			ProcRecords   int `json:"proc_records"`
			Errors        int `json:"errors"`
			Retries       int `json:"retries"`
			RetriesFailed int `json:"retries_failed"`
		} `json:"output"`
	}
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return 0, 0, 0, 0, false
	}
	for _, o := range m.Output {
		return o.Retries, o.Errors, o.RetriesFailed, o.ProcRecords, true
	}
	return 0, 0, 0, 0, false
}

func healthAnswer(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// outageScenario runs one agent (started by run) through a short outage of its
// destination and returns its health answers during the outage and after recovery.
func outageScenario(t *testing.T, run func(cfg string) func()) (during, after string) {
	t.Helper()
	dir := t.TempDir()
	apiPort, destPort := freePort(t), freePort(t)
	stop := run(healthConfig(t, dir, apiPort, destPort))
	defer stop()
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)

	// Down: nothing listens on destPort; wait for two retries.
	if !poll.Until(30*time.Second, func() bool {
		r, _, _, _, ok := outputCounters(base)
		return ok && r >= 2
	}) {
		t.Fatal("no retries while the destination was down")
	}
	code, body := healthAnswer(t, base)
	during = fmt.Sprintf("%d %s", code, body)

	// Up: the destination comes back; the retried chunks are delivered.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(destPort))
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(201)
	})}
	go srv.Serve(l)
	defer srv.Close()
	if !poll.Until(30*time.Second, func() bool {
		_, _, _, proc, ok := outputCounters(base)
		return ok && proc > 0 && got.Load() > 0
	}) {
		t.Fatal("nothing delivered after the destination came back")
	}
	code, body = healthAnswer(t, base)
	after = fmt.Sprintf("%d %s", code, body)
	if _, errs, failed, _, _ := outputCounters(base); errs != 0 || failed != 0 {
		t.Errorf("after a short outage: errors %d, retries_failed %d, want 0 and 0", errs, failed)
	}
	return during, after
}

// With hc_errors_count 1, a short outage whose retries succeed leaves the health ok:
// only chunks given up count (Fluent Bit's rule), not attempts that will be retried.
func TestHealthStaysOkThroughAShortOutage(t *testing.T) {
	during, after := outageScenario(t, func(cfg string) func() {
		p := start(t, "-c", cfg)
		p.waitLog(`fluentbit-go started`, 1)
		return func() { p.cmd.Process.Signal(os.Interrupt); p.wait() }
	})
	if during != "200 ok" || after != "200 ok" {
		t.Errorf("health during the outage %q, after %q; want 200 ok both", during, after)
	}
}

// peerBinary is the real Fluent Bit, when the shared peers folder has it.
func peerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLUENTBIT_PEER"); p != "" {
		return p
	}
	// ../shared beside the repository (the lead's checkout) or beside its worktree folder.
	for _, up := range []string{"../../..", "../../../.."} {
		if p, err := filepath.Abs(filepath.Join(up, "shared", "peers", "fluent-bit")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("no Fluent Bit peer (../shared/peers/fluent-bit or $FLUENTBIT_PEER): skipping the side-by-side run")
	return ""
}

// The same outage through the real Fluent Bit gives the same health answers.
func TestHealthMatchesFluentBitThroughAShortOutage(t *testing.T) {
	peer := peerBinary(t)
	ours, oursAfter := outageScenario(t, func(cfg string) func() {
		p := start(t, "-c", cfg)
		p.waitLog(`fluentbit-go started`, 1)
		return func() { p.cmd.Process.Signal(os.Interrupt); p.wait() }
	})
	theirs, theirsAfter := outageScenario(t, func(cfg string) func() {
		cmd := exec.Command(peer, "-c", cfg)
		var log strings.Builder
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			if t.Failed() {
				t.Logf("fluent-bit log:\n%s", log.String())
			}
		}
	})
	if ours != theirs || oursAfter != theirsAfter {
		t.Errorf("health during/after the outage: ours %q/%q, Fluent Bit %q/%q", ours, oursAfter, theirs, theirsAfter)
	}
}

// A parsers file Fluent Bit loads (an Onigmo pattern, Types it tolerates) passes
// --dry-run here too, with a warning naming the file, line and key.
func TestDryRunFluentBitParsersFile(t *testing.T) {
	dir := t.TempDir()
	parsers := filepath.Join(dir, "parsers.conf")
	main := filepath.Join(dir, "agent.conf")
	if err := os.WriteFile(parsers, []byte("[PARSER]\n    Name x\n    Format regex\n    Regex /^(?<id>\\h+)(?=z)\\u0023/\n    Types id:foo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, []byte("[SERVICE]\n    parsers_file parsers.conf\n[INPUT]\n    name dummy\n[FILTER]\n    name parser\n    match *\n    key_name message\n    parser x\n[OUTPUT]\n    name null\n    match *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "--dry-run", "-c", main)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	errs := strings.Join(p.lines(true), "\n")
	if !strings.Contains(errs, parsers+`:5: key "types"`) || !strings.Contains(errs, `unknown type "foo"`) {
		t.Errorf("no warning naming %s:5 and the key types:\n%s", parsers, errs)
	}
}
