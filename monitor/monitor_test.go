package monitor

import (
	"io"
	"log/slog"
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
			{Name: "dummy.0", Plugin: "dummy", Records: 57, Bytes: 2793, Buffered: 700, Chunks: 1, ChunksUp: 1},
			{Name: "forward.1", Plugin: "forward", Records: 5000, Bytes: 235000},
			{Name: "http.2", Plugin: "http", Records: 4, Bytes: 181},
		},
		Filters: []pipeline.FilterMetrics{
			{Name: "record_modifier.0", Plugin: "record_modifier", Records: 5061},
			{Name: "grep.1", Plugin: "grep", Records: 5061, DropRecords: 1},
		},
		Outputs: []pipeline.OutputMetrics{
			{Name: "null.0", Plugin: "null", ProcRecords: 5050, ProcBytes: 353485, Routes: captureRoutes(4.6533701419830322, 0.65621662139892578, 0.6247410774230957)},
			{Name: "file.1", Plugin: "file", ProcRecords: 5050, ProcBytes: 353485, Routes: captureRoutes(4.6611604690551758, 0.6637568473815918, 0.63228487968444824)},
		},
		Chunks: pipeline.ChunkCounts{Total: 1, Mem: 1},
	}
}

// captureRoutes are one output's deliveries in the capture, with the latency sums of its
// three inputs.
func captureRoutes(dummySum, forwardSum, httpSum float64) []pipeline.RouteMetrics {
	h := func(counts []uint64, sum float64) pipeline.Histogram {
		return pipeline.Histogram{Bounds: pipeline.LatencyBuckets, Counts: counts, Sum: sum, Count: counts[len(counts)-1]}
	}
	return []pipeline.RouteMetrics{
		{Input: "dummy.0", Records: 47, Bytes: 3290, Latency: h([]uint64{0, 2, 5, 5, 5, 5, 5, 5, 5}, dummySum)},
		{Input: "forward.1", Records: 5000, Bytes: 350000, Latency: h([]uint64{0, 1, 1, 1, 1, 1, 1, 1, 1}, forwardSum)},
		{Input: "http.2", Records: 3, Bytes: 195, Latency: h([]uint64{0, 1, 1, 1, 1, 1, 1, 1, 1}, httpSum)},
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
	logs := &LogCounter{}
	for i := 0; i < 18; i++ {
		logs.add(slog.LevelInfo)
	}
	f := newFixture(t, Options{Logs: logs, Storage: func() pipeline.StorageMetrics {
		return pipeline.StorageMetrics{Enabled: true, Chunks: 3, ChunksUp: 2, ChunksDown: 1}
	}})
	notServed, err := monitortest.NotServed(filepath.Join("..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	onlyHere, err := monitortest.OnlyHere(filepath.Join("..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
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
			if !ok && !tc.exact && onlyHere[g.Name] != "" {
				continue
			}
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
		// Every family Fluent Bit serves is served, or docs/monitoring.md says why not.
		served := map[string]bool{}
		for _, g := range got {
			served[g.Name] = true
		}
		for _, w := range wantFams {
			if !served[w.Name] && notServed[w.Name] == "" {
				t.Errorf("%s: Fluent Bit's %s is neither served nor listed as not served in docs/monitoring.md", tc.path, w.Name)
			}
			if served[w.Name] && notServed[w.Name] != "" {
				t.Errorf("%s: %s is served but docs/monitoring.md lists it as not served", tc.path, w.Name)
			}
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
	// The samples of the capture, line for line, for the new families.
	want := string(capture(t, "api_v2_metrics_prometheus.txt").Body)
	for _, prefix := range []string{"fluentbit_storage_", "fluentbit_logger_logs_total", "fluentbit_routing_logs_",
		"fluentbit_output_latency_seconds", "fluentbit_input_storage_chunks", "fluentbit_output_upstream_", "fluentbit_output_chunk_available"} {
		for _, line := range strings.Split(want, "\n") {
			if strings.HasPrefix(line, prefix) && !strings.Contains(string(body), line+"\n") {
				t.Errorf("v2 prometheus has no %q", line)
			}
		}
	}
	_, body = f.get(t, "/api/v2/metrics")
	for _, s := range []string{`fluentbit_input_records_total{name="dummy.0"} = 57`,
		`fluentbit_output_latency_seconds{input="dummy.0",output="null.0"} = { buckets = { 0.5=0, 1=2, 1.5=5, 2.5=5, 5=5, 10=5, 20=5, 30=5, +Inf=5 }, sum=4.65337, count=5 }`,
		`fluentbit_routing_logs_bytes_total{input="http.2",output="file.1"} = 195`,
		`fluentbit_logger_logs_total{message_type="info"} = 18`} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/api/v2/metrics has no %q", s)
		}
	}
	if !strings.HasPrefix(string(body), "2026-11-22T") {
		t.Errorf("/api/v2/metrics:\n%s", body)
	}
}

func TestStorageReportsFilesystemChunks(t *testing.T) {
	f := newFixture(t, Options{StorageMetrics: true})
	f.mu.Lock()
	f.met.Inputs[0].Limit, f.met.Inputs[0].Paused = 16<<20, true
	f.met.Inputs[0].Chunks, f.met.Inputs[0].ChunksUp, f.met.Inputs[0].ChunksDown = 6, 5, 1
	f.met.Inputs[0].ChunksBusy, f.met.Inputs[0].ChunksBusyBytes = 1, 1536
	f.met.Chunks = pipeline.ChunkCounts{Total: 6, Mem: 1, FS: 5, FSUp: 4, FSDown: 1}
	f.mu.Unlock()
	_, body := f.get(t, "/api/v1/storage")
	for _, part := range []string{`"chunks":{"total_chunks":6,"mem_chunks":1,"fs_chunks":5,"fs_chunks_up":4,"fs_chunks_down":1}`,
		`"dummy.0":{"status":{"overlimit":true,"mem_size":"700b","mem_limit":"16.0M"},"chunks":{"total":6,"up":5,"down":1,"busy":1,"busy_size":"1.5K"}}`} {
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

// Chunks an output gave up on, and those kept by storage.keep.rejected, are counted on v2.
func TestRejectedChunksCounted(t *testing.T) {
	f := newFixture(t, Options{})
	f.mu.Lock()
	f.met.Outputs[1].RejectedChunks, f.met.Outputs[1].RejectedKept = 3, 2
	f.mu.Unlock()
	_, body := f.get(t, "/api/v2/metrics/prometheus")
	for _, want := range []string{
		`fluentbit_output_chunks_rejected_total{name="file.1"} 3`,
		`fluentbit_output_chunks_rejected_kept_total{name="file.1"} 2`,
		`fluentbit_output_chunks_rejected_total{name="null.0"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}
