package monitor

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/monitor/monitortest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// captureMetrics are the counters of the pipeline the captures were recorded from.
func captureMetrics() pipeline.Metrics {
	return pipeline.Metrics{
		Inputs: []pipeline.InputMetrics{
			{Name: "dummy.0", Plugin: "dummy", Records: 57, Bytes: 2793, Buffered: 700},
			{Name: "forward.1", Plugin: "forward", Records: 5000, Bytes: 235000},
			{Name: "http.2", Plugin: "http", Records: 4, Bytes: 181},
		},
		Filters: []pipeline.FilterMetrics{
			{Name: "record_modifier.0", Plugin: "record_modifier", Records: 5061},
			{Name: "grep.1", Plugin: "grep", Records: 5061, DropRecords: 1},
		},
		Outputs: []pipeline.OutputMetrics{
			{Name: "null.0", Plugin: "null", ProcRecords: 5050, ProcBytes: 353485},
			{Name: "file.1", Plugin: "file", ProcRecords: 5050, ProcBytes: 353485},
		},
	}
}

// fixture is a Monitor over metrics a test can change, with a clock it moves.
type fixture struct {
	mu  sync.Mutex
	met pipeline.Metrics
	now time.Time
	m   *Monitor
	srv *httptest.Server
}

func newFixture(t *testing.T, o Options) *fixture {
	f := &fixture{met: captureMetrics(), now: time.Unix(1795366021, 184e6)}
	o.Metrics = func() pipeline.Metrics { f.mu.Lock(); defer f.mu.Unlock(); return f.met }
	o.Now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	o.Start = time.Unix(1795366015, 0)
	if o.Version == "" {
		o.Version = "0.1.0"
	}
	o.Hostname = "vm"
	o.Plugins = func() ([]string, []string, []string) {
		return []string{"dummy", "http"}, []string{"grep"}, []string{"file", "null"}
	}
	f.m = New(o)
	f.srv = httptest.NewServer(f.m)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func capture(t *testing.T, name string) monitortest.Capture {
	t.Helper()
	c, err := monitortest.ReadCapture(filepath.Join("testdata", "fluentbit-5.1.1", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameJSONShape(t *testing.T, path string, got []byte, want monitortest.Capture) {
	t.Helper()
	gs, err := monitortest.JSONShape(got)
	if err != nil {
		t.Fatalf("%s: our JSON does not parse: %v\n%s", path, err, got)
	}
	ws, err := monitortest.JSONShape(want.Body)
	if err != nil {
		t.Fatalf("%s: capture: %v", path, err)
	}
	if gs != ws {
		t.Errorf("%s: shape differs from Fluent Bit's\n got: %s\nwant: %s", path, gs, ws)
	}
}

func TestJSONEndpointsMatchFluentBit(t *testing.T) {
	f := newFixture(t, Options{HealthCheck: true, StorageMetrics: true, HCPeriod: 5 * time.Second})
	for path, file := range map[string]string{
		"/":               "root.txt",
		"/api/v1/uptime":  "api_v1_uptime.txt",
		"/api/v1/metrics": "api_v1_metrics.txt",
		"/api/v1/storage": "api_v1_storage.txt",
		"/api/v1/plugins": "api_v1_plugins.txt",
		"/api/v2/health":  "api_v2_health.txt",
	} {
		resp, body := f.get(t, path)
		want := capture(t, file)
		if resp.StatusCode != want.Status {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want.Status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != want.Header.Get("Content-Type") {
			t.Errorf("%s: Content-Type %q, want %q", path, ct, want.Header.Get("Content-Type"))
		}
		sameJSONShape(t, path, body, want)
	}
	// Same counters, same text: only the filter byte counts (not kept by the engine) differ.
	_, body := f.get(t, "/api/v1/metrics")
	want := strings.Replace(string(capture(t, "api_v1_metrics.txt").Body), `"bytes":354239`, `"bytes":0`, 1)
	want = strings.Replace(want, `"drop_bytes":37`, `"drop_bytes":0`, 1)
	if string(body) != want {
		t.Errorf("/api/v1/metrics:\n got %s\nwant %s", body, want)
	}
	_, body = f.get(t, "/api/v1/uptime")
	if string(body) != string(capture(t, "api_v1_uptime.txt").Body) {
		t.Errorf("/api/v1/uptime: %s", body)
	}
	_, body = f.get(t, "/api/v2/health")
	if string(body) != string(capture(t, "api_v2_health.txt").Body) {
		t.Errorf("/api/v2/health: %s", body)
	}
}

func TestPrometheusMatchesFluentBit(t *testing.T) {
	f := newFixture(t, Options{Storage: func() pipeline.StorageMetrics {
		return pipeline.StorageMetrics{Enabled: true, Chunks: 3, ChunksUp: 2, ChunksDown: 1}
	}})
	for _, tc := range []struct {
		path, file string
		exact      bool // every family of the capture is served too
	}{
		{"/api/v1/metrics/prometheus", "api_v1_metrics_prometheus.txt", true},
		{"/api/v2/metrics/prometheus", "api_v2_metrics_prometheus.txt", false},
	} {
		resp, body := f.get(t, tc.path)
		want := capture(t, tc.file)
		if ct := resp.Header.Get("Content-Type"); ct != want.Header.Get("Content-Type") {
			t.Errorf("%s: Content-Type %q, want %q", tc.path, ct, want.Header.Get("Content-Type"))
		}
		got, err := monitortest.PromFamilies(body)
		if err != nil {
			t.Fatalf("%s: the Prometheus parser refuses our text: %v\n%s", tc.path, err, body)
		}
		wantFams, err := monitortest.PromFamilies(want.Body)
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
		byName := map[string]monitortest.Family{}
		for _, w := range wantFams {
			byName[w.Name] = w
		}
		for _, g := range got {
			w, ok := byName[g.Name]
			if !ok {
				t.Errorf("%s: family %s is not Fluent Bit's", tc.path, g.Name)
				continue
			}
			if g != w {
				t.Errorf("%s: family\n got %+v\nwant %+v", tc.path, g, w)
			}
		}
		if tc.exact && len(got) != len(wantFams) {
			t.Errorf("%s: %d families, Fluent Bit has %d", tc.path, len(got), len(wantFams))
		}
	}
	// v1 is sorted like Fluent Bit's, with its timestamps.
	_, body := f.get(t, "/api/v1/metrics/prometheus")
	for _, line := range []string{
		`fluentbit_filter_add_records_total{name="grep.1"} 0 1795366021184`,
		`fluentbit_input_records_total{name="forward.1"} 5000 1795366021184`,
		"fluentbit_uptime 6\n", "process_start_time_seconds 1795366015\n",
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("v1 prometheus has no %q", line)
		}
	}
	if i, j := strings.Index(string(body), "fluentbit_filter_"), strings.Index(string(body), "fluentbit_input_"); i < 0 || i > j {
		t.Errorf("v1 families not in name order")
	}
	_, body = f.get(t, "/api/v2/metrics/prometheus")
	for _, line := range []string{"fluentbit_storage_chunks 3\n", "fluentbit_storage_fs_chunks_up 2\n", "fluentbit_storage_fs_chunks_down 1\n"} {
		if !strings.Contains(string(body), line) {
			t.Errorf("v2 prometheus has no %q", line)
		}
	}
	_, body = f.get(t, "/api/v2/metrics")
	if !strings.Contains(string(body), `fluentbit_input_records_total{name="dummy.0"} = 57`) ||
		!strings.HasPrefix(string(body), "2026-11-22T") {
		t.Errorf("/api/v2/metrics:\n%s", body)
	}
}

func TestStorageReportsFilesystemChunks(t *testing.T) {
	f := newFixture(t, Options{StorageMetrics: true, Storage: func() pipeline.StorageMetrics {
		return pipeline.StorageMetrics{Enabled: true, Chunks: 5, ChunksUp: 4, ChunksDown: 1}
	}})
	f.mu.Lock()
	f.met.Inputs[0].Limit, f.met.Inputs[0].Paused = 16<<20, true
	f.mu.Unlock()
	_, body := f.get(t, "/api/v1/storage")
	for _, part := range []string{`"chunks":{"total_chunks":5,"mem_chunks":0,"fs_chunks":5,"fs_chunks_up":4,"fs_chunks_down":1}`,
		`"dummy.0":{"status":{"overlimit":true,"mem_size":"700b","mem_limit":"16.0M"}`} {
		if !strings.Contains(string(body), part) {
			t.Errorf("/api/v1/storage has no %s:\n%s", part, body)
		}
	}
}

func TestOptionalEndpoints(t *testing.T) {
	f := newFixture(t, Options{})
	for _, path := range []string{"/api/v1/health", "/api/v1/storage", "/nope"} {
		if resp, _ := f.get(t, path); resp.StatusCode != 404 {
			t.Errorf("%s without its setting: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := f.get(t, "/api/v2/health"); resp.StatusCode != 200 {
		t.Errorf("/api/v2/health is always on: %d", resp.StatusCode)
	}
}

func TestHealthFollowsErrorsInThePeriod(t *testing.T) {
	f := newFixture(t, Options{HealthCheck: true, HCPeriod: 5 * time.Second})
	setErrors := func(errs, failed uint64) {
		f.mu.Lock()
		f.met.Outputs[1].Errors = errs
		f.met.Outputs[1].RetriesFailed = failed
		f.mu.Unlock()
	}
	health := func() (int, string) {
		resp, body := f.get(t, "/api/v1/health")
		return resp.StatusCode, string(body)
	}
	if code, body := health(); code != 200 || body != string(capture(t, "api_v1_health.txt").Body) {
		t.Fatalf("healthy: %d %q", code, body)
	}
	f.advance(time.Second)
	setErrors(5, 0) // at the limit: still healthy (Fluent Bit counts errors > limit)
	if code, _ := health(); code != 200 {
		t.Errorf("5 errors with a limit of 5: %d", code)
	}
	f.advance(time.Second)
	setErrors(6, 0)
	want := capture(t, "unhealthy/api_v1_health.txt")
	if code, body := health(); code != want.Status || body != string(want.Body) {
		t.Errorf("6 errors: %d %q, want %d %q", code, body, want.Status, want.Body)
	}
	resp, body := f.get(t, "/api/v2/health")
	wantV2 := capture(t, "unhealthy/api_v2_health.txt")
	if resp.StatusCode != 500 || string(body) != string(wantV2.Body) {
		t.Errorf("v2 unhealthy: %d %s, want 500 %s", resp.StatusCode, body, wantV2.Body)
	}
	// Once the errors are older than the period, the agent is healthy again.
	for i := 0; i < 6; i++ {
		f.advance(time.Second)
		f.m.Sample()
	}
	if code, _ := health(); code != 200 {
		t.Errorf("errors older than hc_period still count: %d", code)
	}
	// Retry failures count on their own; a reload resets the counters without hiding new ones.
	setErrors(0, 6)
	f.advance(time.Second)
	if h := f.m.Sample(); h.Healthy() || h.RetriesFailed != 6 {
		t.Errorf("6 retry failures after a counter reset: %+v", h)
	}
}

func TestUptimeHR(t *testing.T) {
	for sec, want := range map[int64]string{
		6:      "Fluent Bit has been running:  0 day, 0 hour, 0 minute and 6 seconds",
		1:      "Fluent Bit has been running:  0 day, 0 hour, 0 minute and 1 second",
		190861: "Fluent Bit has been running:  2 days, 5 hours, 1 minute and 1 second",
	} {
		if got := UptimeHR(sec); got != want {
			t.Errorf("UptimeHR(%d) = %q, want %q", sec, got, want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0b", 700: "700b", 1536: "1.5K", 16 << 20: "16.0M", 3 << 30: "3.0G"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNamesAreEscaped(t *testing.T) {
	f := newFixture(t, Options{})
	f.mu.Lock()
	f.met.Inputs[0].Name = "we\"ird\\name\n"
	f.mu.Unlock()
	_, body := f.get(t, "/api/v1/metrics")
	if _, err := monitortest.JSONShape(body); err != nil {
		t.Errorf("JSON with an odd alias: %v\n%s", err, body)
	}
	for _, p := range []string{"/api/v1/metrics/prometheus", "/api/v2/metrics/prometheus"} {
		_, body = f.get(t, p)
		if _, err := monitortest.PromFamilies(body); err != nil {
			t.Errorf("%s with an odd alias: %v", p, err)
		}
	}
}

func TestHealthWindowStaysSmall(t *testing.T) {
	f := newFixture(t, Options{HCPeriod: 5 * time.Second})
	for i := 0; i < 10000; i++ {
		f.advance(time.Millisecond)
		f.m.Sample()
	}
	f.m.hcMu.Lock()
	n := len(f.m.samples)
	f.m.hcMu.Unlock()
	if n > 7 {
		t.Errorf("%d samples kept for a 5s window", n)
	}
}
