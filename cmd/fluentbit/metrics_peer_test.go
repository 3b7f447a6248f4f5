package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
	"github.com/fluentbit-go/fluentbit-go/monitor/monitortest"
)

// metricsConfig drives every kind of v2 series: three inputs, a filter, an output that
// delivers and one whose destination is down (retries, then drops).
func metricsConfig(t *testing.T, apiPort int) string {
	t.Helper()
	body := fmt.Sprintf(`[SERVICE]
    flush           0.5
    log_level       info
    http_server     on
    http_listen     127.0.0.1
    http_port       %d
    storage.metrics on
    scheduler.base  1
    scheduler.cap   1

[INPUT]
    name  dummy
    rate  20

[INPUT]
    name   http
    listen 127.0.0.1
    port   %d

[INPUT]
    name   forward
    listen 127.0.0.1
    port   %d

[FILTER]
    name    grep
    match   *
    exclude message nope

[OUTPUT]
    name  null
    match *

[OUTPUT]
    name        forward
    match       *
    host        127.0.0.1
    port        %d
    retry_limit 1
`, apiPort, freePort(t), freePort(t), freePort(t))
	path := filepath.Join(t.TempDir(), "metrics.conf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// scrapeWhenComplete polls the v2 Prometheus endpoint until the delivery, latency and
// drop series are there, and returns its families by name.
func scrapeWhenComplete(t *testing.T, base string) map[string]monitortest.Family {
	t.Helper()
	var body []byte
	if !poll.Until(30*time.Second, func() bool {
		resp, err := http.Get(base + "/api/v2/metrics/prometheus")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		s := string(body)
		return strings.Contains(s, "fluentbit_output_latency_seconds_count") && strings.Contains(s, "fluentbit_routing_logs_drop_records_total{")
	}) {
		t.Fatalf("the series never all appeared:\n%s", body)
	}
	fams, err := monitortest.PromFamilies(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	out := map[string]monitortest.Family{}
	for _, f := range fams {
		out[f.Name] = f
	}
	return out
}

// Every series the real Fluent Bit serves on the same pipeline is served here with the
// same HELP, TYPE and labels, or docs/monitoring.md lists it as not served, with why.
func TestMetricsNamesMatchFluentBit(t *testing.T) {
	peer := peerBinary(t)
	notServed, err := monitortest.NotServed(filepath.Join("..", "..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	cmd := exec.Command(peer, "-c", metricsConfig(t, port))
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs := scrapeWhenComplete(t, "http://127.0.0.1:"+strconv.Itoa(port))
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()

	port = freePort(t)
	p := start(t, "-c", metricsConfig(t, port))
	p.waitLog(`fluentbit-go started`, 1)
	ours := scrapeWhenComplete(t, "http://127.0.0.1:"+strconv.Itoa(port))

	for name, w := range theirs {
		g, ok := ours[name]
		switch {
		case !ok && notServed[name] == "":
			t.Errorf("Fluent Bit serves %s; we neither serve it nor list it in docs/monitoring.md", name)
		case ok && notServed[name] != "":
			t.Errorf("%s is served but docs/monitoring.md lists it as not served", name)
		case ok && g != w:
			t.Errorf("%s:\n ours %+v\n Fluent Bit %+v", name, g, w)
		}
	}
	for name := range ours {
		// Ours only, documented in docs/monitoring.md: the memory budget (memory_limit).
		if strings.HasPrefix(name, "fluentbit_memory_budget_") {
			continue
		}
		if _, ok := theirs[name]; !ok {
			t.Errorf("we serve %s, which Fluent Bit does not", name)
		}
	}
	if t.Failed() {
		t.Logf("fluent-bit log:\n%s", log.String())
	}
}
