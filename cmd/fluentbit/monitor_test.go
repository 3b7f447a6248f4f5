package main

import (
	"bytes"
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
	"syscall"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/monitor/monitortest"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func goldenCapture(t *testing.T, name string) monitortest.Capture {
	t.Helper()
	c, err := monitortest.ReadCapture(filepath.Join("..", "..", "monitor", "testdata", "fluentbit-5.1.1", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMonitoringAPIServesFluentBitShapesAcrossReload(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "agent.conf")
	write := func(alias string) {
		body := fmt.Sprintf(`[SERVICE]
    flush        0.2
    http_server  on
    http_listen  127.0.0.1
    http_port    %d
    health_check on
    hc_period    5
    storage.metrics on

[INPUT]
    name    dummy
    alias   %s
    rate    100
    samples 20

[FILTER]
    name  grep
    match *
    regex message dummy

[OUTPUT]
    name  null
    match *
`, port, alias)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sensor.1")
	p := start(t, "-c", cfg)
	p.waitLog("monitoring API listening", 1)
	p.waitLog(`fluentbit-go started`, 1)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	for path, file := range map[string]string{
		"/":               "root.txt",
		"/api/v1/uptime":  "api_v1_uptime.txt",
		"/api/v1/metrics": "api_v1_metrics.txt",
		"/api/v1/storage": "api_v1_storage.txt",
		"/api/v1/plugins": "api_v1_plugins.txt",
		"/api/v2/health":  "api_v2_health.txt",
		"/api/v2/reload":  "api_v2_reload.txt",
	} {
		code, ct, body := httpGet(t, base+path)
		want := goldenCapture(t, file)
		if code != want.Status || ct != want.Header.Get("Content-Type") {
			t.Errorf("%s: %d %q, want %d %q", path, code, ct, want.Status, want.Header.Get("Content-Type"))
		}
		got, err := monitortest.JSONShape(body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
		// The capture's pipeline has more instances; compare each part's shape.
		wantShape, _ := monitortest.JSONShape(want.Body)
		if path == "/api/v1/metrics" {
			for _, part := range []string{`input:{*:{records:number,bytes:number}}`,
				`filter:{*:{drop_records:number,add_records:number,records:number,bytes:number,drop_bytes:number}}`,
				`output:{*:{proc_records:number,proc_bytes:number,errors:number,retries:number,retries_failed:number,dropped_records:number,retried_records:number}}`} {
				if !strings.Contains(got, part) || !strings.Contains(wantShape, part) {
					t.Errorf("%s: no %s in\n got: %s\nwant: %s", path, part, got, wantShape)
				}
			}
			continue
		}
		if got != wantShape {
			t.Errorf("%s: shape\n got: %s\nwant: %s", path, got, wantShape)
		}
	}
	code, body := 0, []byte(nil)
	code, _, body = httpGet(t, base+"/api/v1/health")
	if code != 200 || string(body) != "ok\n" {
		t.Errorf("/api/v1/health: %d %q", code, body)
	}
	for _, path := range []string{"/api/v1/metrics/prometheus", "/api/v2/metrics/prometheus"} {
		_, ct, body := httpGet(t, base+path)
		if ct != "text/plain; version=0.0.4" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		fams, err := monitortest.PromFamilies(body)
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", path, err, body)
		}
		if len(fams) < 15 {
			t.Errorf("%s: only %d families", path, len(fams))
		}
	}

	// After a reload the API serves the new pipeline's counters.
	write("sensor.2")
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg="configuration reloaded"`, 1)
	_, _, body = httpGet(t, base+"/api/v1/metrics")
	var m struct {
		Input map[string]struct{ Records int } `json:"input"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Input["sensor.2"]; !ok || len(m.Input) != 1 {
		t.Errorf("after reload: inputs %v, want only \"sensor.2\"", m.Input)
	}
	_, _, body = httpGet(t, base+"/api/v2/reload")
	if string(body) != `{"hot_reload_count":1}` {
		t.Errorf("/api/v2/reload: %s", body)
	}
	_, _, body = httpGet(t, base+"/api/v2/metrics/prometheus")
	if !strings.Contains(string(body), `fluentbit_hot_reloaded_times{hostname=`) || !strings.Contains(string(body), `} 1`) {
		t.Errorf("hot_reloaded_times not 1:\n%s", body)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestHTTPFlagAndPort(t *testing.T) {
	// -H and -P as in Fluent Bit; http_listen stays 0.0.0.0, so ask 127.0.0.1.
	port := freePort(t)
	p := start(t, "-H", "-P", strconv.Itoa(port), "-i", "dummy", "-o", "null")
	p.waitLog("monitoring API listening", 1)
	code, _, body := httpGet(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/api/v1/uptime")
	if code != 200 || !strings.Contains(string(body), `"uptime_hr":"Fluent Bit has been running:`) {
		t.Errorf("uptime: %d %s", code, body)
	}
	if code, _, _ := httpGet(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/api/v1/health"); code != 404 {
		t.Errorf("/api/v1/health without health_check: %d, want 404", code)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestCurlPostLandsInFileOutput(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "agent.yaml")
	body := fmt.Sprintf(`service:
  flush: 0.2
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: %d
  outputs:
    - name: file
      match: 'app.*'
      path: %s
      format: plain
`, port, dir)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "-c", cfg)
	p.waitLog("fluentbit-go started", 1)
	url := fmt.Sprintf("http://127.0.0.1:%d/app.log", port)
	payloads := []string{`{"msg":"one","n":1}`, `[{"msg":"two"},{"msg":"three"}]`}
	for _, payload := range payloads {
		var out []byte
		if curl, err := exec.LookPath("curl"); err == nil {
			cmd := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
				"-H", "Content-Type: application/json", "-d", payload, url)
			if out, err = cmd.Output(); err != nil {
				t.Fatalf("curl: %v", err)
			}
		} else {
			resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(payload)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			out = []byte(strconv.Itoa(resp.StatusCode))
		}
		if string(out) != "201" {
			t.Fatalf("POST %s: status %s, want 201", payload, out)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	data, err := os.ReadFile(filepath.Join(dir, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != `{"msg":"one","n":1}` || lines[1] != `{"msg":"two"}` || lines[2] != `{"msg":"three"}` {
		t.Fatalf("file output:\n%s", data)
	}
}

func TestReloadThroughTheAPIAndPortInUse(t *testing.T) {
	port := freePort(t)
	ps := strconv.Itoa(port)
	p := start(t, "-H", "-P", ps, "-Y", "-i", "dummy", "-o", "null")
	p.waitLog("monitoring API listening", 1)
	base := "http://127.0.0.1:" + ps

	resp, err := http.Post(base+"/api/v2/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"reload":"done","status":0}` {
		t.Fatalf("POST /api/v2/reload: %d %s", resp.StatusCode, b)
	}
	p.waitLog(`msg="configuration reloaded"`, 1)
	if _, _, body := httpGet(t, base+"/api/v2/reload"); string(body) != `{"hot_reload_count":1}` {
		t.Errorf("count after reload: %s", body)
	}

	// A second agent on the same port fails at start, saying why.
	q := start(t, "-H", "-P", ps, "-i", "dummy", "-o", "null")
	if code := q.wait(); code != 1 {
		t.Errorf("second agent on a busy port: exit %d, want 1", code)
	}
	q.waitFor("an error about the port", func(_, errs []string) bool {
		return strings.Contains(strings.Join(errs, "\n"), "monitoring API")
	})

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// The http input keeps its port across SIGHUP: records posted before and after the
// reload all land in the file.
func TestHTTPInputAcrossReload(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "agent.conf")
	body := fmt.Sprintf("[SERVICE]\n    flush 0.2\n[INPUT]\n    name http\n    listen 127.0.0.1\n    port %d\n[OUTPUT]\n    name file\n    match *\n    path %s\n    file out.log\n    format plain\n", port, dir)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "-c", cfg)
	p.waitLog("fluentbit-go started", 1)
	url := fmt.Sprintf("http://127.0.0.1:%d/t", port)
	// One connection per request: the reload closes the old pipeline's idle keep-alive
	// connections, and a POST written on a pooled connection the server has just closed
	// fails with EOF (net/http does not replay a POST). That is HTTP/1.1's idle-close race,
	// not the reload losing the port, which is what this test is about.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	postOK := func(payload string) {
		t.Helper()
		resp, err := client.Post(url, "application/json", strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d", payload, resp.StatusCode)
		}
	}
	postOK(`{"n":1}`)
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg="configuration reloaded"`, 1)
	postOK(`{"n":2}`)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "{\"n\":1}\n{\"n\":2}\n" {
		t.Fatalf("file: %q", data)
	}
}
