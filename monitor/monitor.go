// Package monitor is the monitoring API: the HTTP endpoints Fluent Bit serves with
// http_server on, with the same paths and the same JSON and Prometheus shapes, so the
// dashboards, probes and scrapers written for Fluent Bit work unchanged.
//
//	/                            build information
//	/api/v1/uptime               uptime in seconds and in words
//	/api/v1/metrics              per-instance counters, JSON
//	/api/v1/metrics/prometheus   the same counters, Prometheus text (with timestamps)
//	/api/v1/plugins              the plugins compiled in
//	/api/v1/storage              buffer use per input (only with storage.metrics on)
//	/api/v1/health               "ok" 200 or "error" 500 (only with health_check on)
//	/api/v2/metrics              the v2 set, one "time name{labels} = value" line each
//	/api/v2/metrics/prometheus   the v2 set, Prometheus text
//	/api/v2/health               health as JSON, 200 or 500 (always on)
//
// Health follows Fluent Bit's rule: the agent is unhealthy when, over the last hc_period
// seconds, the outputs' errors exceed hc_errors_count or their abandoned retries exceed
// hc_retry_failure_count (the sums over every output instance). As in Fluent Bit, the
// engine counts an error only for a chunk given up on a permanent failure, and a retry
// failure for a chunk whose retries are spent; attempts that will be retried count in
// neither, so a short outage leaves the agent healthy.
//
// A Monitor is a net/http Handler built from a function returning the metrics: it knows
// nothing of the server that carries it (the daemon mounts it on embedhttp) nor of the
// agent (after a reload the function returns the new pipeline's counters). It does not
// serve the reload endpoint.
package monitor

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

var osHostname = os.Hostname

// Options configure a Monitor. Metrics is required.
type Options struct {
	Metrics func() pipeline.Metrics // the counters now
	Start   time.Time               // when the agent started (uptime); zero: when New ran
	Version string                  // the agent's version
	Edition string                  // shown beside the version; default "fluentbit-go"
	// Flags are listed by "/" (Fluent Bit lists its build flags there).
	Flags []string
	// Hostname labels the v2 metrics; default os.Hostname.
	Hostname string
	// Reloads returns how many times the configuration was reloaded (nil: 0).
	Reloads func() int

	HealthCheck         bool          // serve /api/v1/health
	HCErrorsCount       int           // default 5
	HCRetryFailureCount int           // default 5
	HCPeriod            time.Duration // default 60s
	StorageMetrics      bool          // serve /api/v1/storage

	// Storage is no longer read: chunk counts, memory and filesystem, come from
	// Metrics (pipeline.Metrics.Chunks and the inputs' chunk counts).
	//
	// Deprecated: leave it nil.
	Storage func() pipeline.StorageMetrics

	// Logs counts the agent's log lines by level (fluentbit_logger_logs_total); nil:
	// the family is not served.
	Logs *LogCounter

	// Plugins lists the plugins for /api/v1/plugins (nil: pipeline.Plugins).
	Plugins func() (inputs, filters, outputs []string)

	Now func() time.Time // the clock, for tests (nil: time.Now)
}

// Monitor serves the monitoring API.
type Monitor struct {
	o   Options
	mux func() *http.ServeMux // built at the first request

	hcMu     sync.Mutex
	samples  []hcSample // cumulative totals, oldest first, spanning at least HCPeriod
	cumErr   uint64     // errors since the monitor started, across reloads
	cumFail  uint64
	lastErr  uint64 // the totals at the last reading, to see counters restart
	lastFail uint64
}

type hcSample struct {
	at          time.Time
	errors, rtf uint64
}

// New returns a Monitor.
func New(o Options) *Monitor {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Start.IsZero() {
		o.Start = o.Now()
	}
	if o.Edition == "" {
		o.Edition = "fluentbit-go"
	}
	if o.HCErrorsCount <= 0 {
		o.HCErrorsCount = 5
	}
	if o.HCRetryFailureCount <= 0 {
		o.HCRetryFailureCount = 5
	}
	if o.HCPeriod <= 0 {
		o.HCPeriod = 60 * time.Second
	}
	if o.Hostname == "" {
		o.Hostname = hostname()
	}
	if o.Plugins == nil {
		o.Plugins = pipeline.Plugins
	}
	if o.Flags == nil {
		o.Flags = DefaultFlags
	}
	m := &Monitor{o: o}
	m.samples = []hcSample{{at: o.Now()}}
	m.mux = sync.OnceValue(m.routes)
	return m
}

// routes builds the router. It waits for the first request: registering a pattern
// records its caller (runtime.Caller: the binary's line and name tables), parses it and
// builds the routing tree, code and tables an agent nobody scrapes need not page in
// (with the daemon's own router, made lazy too, the idle daemon's RSS fell ~200 KB).
func (m *Monitor) routes() *http.ServeMux {
	o, mux := m.o, http.NewServeMux()
	get := func(path string, h http.HandlerFunc) { mux.HandleFunc("GET "+path, h) }
	get("/{$}", m.root)
	get("/api/v1/uptime", m.uptime)
	get("/api/v1/metrics", m.metricsJSON)
	get("/api/v1/metrics/prometheus", m.metricsPromV1)
	get("/api/v1/plugins", m.plugins)
	if o.StorageMetrics {
		get("/api/v1/storage", m.storage)
	}
	if o.HealthCheck {
		get("/api/v1/health", m.healthV1)
	}
	get("/api/v2/metrics", m.metricsTextV2)
	get("/api/v2/metrics/prometheus", m.metricsPromV2)
	get("/api/v2/health", m.healthV2)
	return mux
}

// DefaultFlags are the build flags "/" lists: Fluent Bit's names for the features this
// agent has.
var DefaultFlags = []string{"FLB_HAVE_PARSER", "FLB_HAVE_RECORD_ACCESSOR", "FLB_HAVE_TLS",
	"FLB_HAVE_METRICS", "FLB_HAVE_HTTP_SERVER", "FLB_HAVE_LIBYAML"}

// ServeHTTP answers one request (GET or HEAD; unknown paths get 404).
func (m *Monitor) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux().ServeHTTP(w, r) }

// Run samples the output counters every second for the health check until ctx is done.
// Without it, health is computed from the samples requests take, which is as exact when
// requests come at least once per hc_period.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sample()
		}
	}
}

// Health is the state /api/v2/health reports.
type Health struct {
	Status            string `json:"status"` // "ok" or "error"
	Errors            uint64 `json:"errors"` // output errors in the period
	RetriesFailed     uint64 `json:"retries_failed"`
	ErrorLimit        int    `json:"error_limit"`
	RetryFailureLimit int    `json:"retry_failure_limit"`
	PeriodLimit       int    `json:"period_limit"` // seconds
}

// Healthy reports whether Status is "ok".
func (h Health) Healthy() bool { return h.Status == "ok" }

// Sample reads the counters and records them for the health window; it returns the
// health they give.
func (m *Monitor) Sample() Health {
	met := m.o.Metrics()
	var errs, fails uint64
	for _, o := range met.Outputs {
		errs += o.Errors
		fails += o.RetriesFailed
	}
	now := m.o.Now()
	m.hcMu.Lock()
	defer m.hcMu.Unlock()
	// A reload starts a new pipeline whose counters start at 0: count from there.
	if errs >= m.lastErr {
		m.cumErr += errs - m.lastErr
	} else {
		m.cumErr += errs
	}
	if fails >= m.lastFail {
		m.cumFail += fails - m.lastFail
	} else {
		m.cumFail += fails
	}
	m.lastErr, m.lastFail = errs, fails
	// One sample a second is enough for the window, and keeps it small however often
	// the health endpoints are asked.
	if last := m.samples[len(m.samples)-1]; now.Sub(last.at) >= time.Second {
		m.samples = append(m.samples, hcSample{at: now, errors: m.cumErr, rtf: m.cumFail})
	}
	// Keep one sample at or before the window's start as the base.
	from := now.Add(-m.o.HCPeriod)
	drop := 0
	for drop+1 < len(m.samples) && !m.samples[drop+1].at.After(from) {
		drop++
	}
	m.samples = append(m.samples[:0], m.samples[drop:]...)
	base := m.samples[0]
	h := Health{
		Status: "ok", Errors: m.cumErr - base.errors, RetriesFailed: m.cumFail - base.rtf,
		ErrorLimit: m.o.HCErrorsCount, RetryFailureLimit: m.o.HCRetryFailureCount,
		PeriodLimit: int(m.o.HCPeriod / time.Second),
	}
	if h.Errors > uint64(h.ErrorLimit) || h.RetriesFailed > uint64(h.RetryFailureLimit) {
		h.Status = "error"
	}
	return h
}

func (m *Monitor) root(w http.ResponseWriter, _ *http.Request) {
	b := []byte(`{"fluent-bit":{"version":`)
	b = appendStr(b, m.o.Version)
	b = append(b, `,"edition":`...)
	b = appendStr(b, m.o.Edition)
	b = append(b, `,"flags":[`...)
	for i, f := range m.o.Flags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStr(b, f)
	}
	b = append(b, "]}}"...)
	writeJSON(w, 200, b)
}

func (m *Monitor) uptimeSeconds() int64 {
	return int64(m.o.Now().Sub(m.o.Start) / time.Second)
}

// UptimeHR is Fluent Bit's words for an uptime (its spacing and plurals included).
func UptimeHR(sec int64) string {
	d, h, mi, s := sec/86400, sec%86400/3600, sec%3600/60, sec%60
	pl := func(n int64) string {
		if n > 1 {
			return "s"
		}
		return ""
	}
	return fmt.Sprintf("Fluent Bit has been running:  %d day%s, %d hour%s, %d minute%s and %d second%s",
		d, pl(d), h, pl(h), mi, pl(mi), s, pl(s))
}

func (m *Monitor) uptime(w http.ResponseWriter, _ *http.Request) {
	sec := m.uptimeSeconds()
	b := []byte(`{"uptime_sec":`)
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, `,"uptime_hr":`...)
	b = appendStr(b, UptimeHR(sec))
	b = append(b, '}')
	writeJSON(w, 200, b)
}

func (m *Monitor) metricsJSON(w http.ResponseWriter, _ *http.Request) {
	met := m.o.Metrics()
	b := []byte(`{"input":{`)
	for i, in := range met.Inputs {
		b = jsonKey(b, i, in.Name)
		b = jsonFields(b, "records", in.Records, "bytes", in.Bytes)
		b = append(b, '}')
	}
	b = append(b, `},"filter":{`...)
	for i, f := range met.Filters {
		b = jsonKey(b, i, f.Name)
		// The engine does not count filter bytes: 0, as Fluent Bit's grep reports.
		b = jsonFields(b, "drop_records", f.DropRecords, "add_records", f.AddRecords,
			"records", f.Records, "bytes", 0, "drop_bytes", 0)
		b = append(b, '}')
	}
	b = append(b, `},"output":{`...)
	for i, o := range met.Outputs {
		b = jsonKey(b, i, o.Name)
		b = jsonFields(b, "proc_records", o.ProcRecords, "proc_bytes", o.ProcBytes, "errors", o.Errors,
			"retries", o.Retries, "retries_failed", o.RetriesFailed, "dropped_records", o.DroppedRecords,
			"retried_records", o.RetriedRecords)
		b = append(b, '}')
	}
	b = append(b, '}')
	if mm := met.Memory; mm.Limit > 0 {
		// Ours (memory_limit): Fluent Bit has no memory budget.
		b = append(b, `,"memory":{`...)
		b = jsonFields(b, "budget_bytes", uint64(mm.Limit), "used_bytes", uint64(max(mm.Used, 0)),
			"wait_seconds_total", mm.Waited.Seconds(), "waits", uint64(mm.Waits))
		b = append(b, '}')
	}
	b = append(b, '}')
	writeJSON(w, 200, b)
}

func (m *Monitor) plugins(w http.ResponseWriter, _ *http.Request) {
	in, fl, out := m.o.Plugins()
	b := []byte(`{"plugins":{"inputs":`)
	b = jsonStrings(b, in)
	b = append(b, `,"filters":`...)
	b = jsonStrings(b, fl)
	b = append(b, `,"outputs":`...)
	b = jsonStrings(b, out)
	b = append(b, "}}"...)
	writeJSON(w, 200, b)
}

// storage reports the storage layer (every chunk open or owed, memory and filesystem)
// and each input's buffer and chunks.
func (m *Monitor) storage(w http.ResponseWriter, _ *http.Request) {
	met := m.o.Metrics()
	cc := met.Chunks
	b := []byte(`{"storage_layer":{"chunks":{`)
	b = jsonFields(b, "total_chunks", cc.Total, "mem_chunks", cc.Mem, "fs_chunks", cc.FS,
		"fs_chunks_up", cc.FSUp, "fs_chunks_down", cc.FSDown)
	b = append(b, `}},"input_chunks":{`...)
	for i, in := range met.Inputs {
		b = jsonKey(b, i, in.Name)
		b = append(b, `"status":{"overlimit":`...)
		b = strconv.AppendBool(b, in.Paused)
		b = append(b, `,"mem_size":`...)
		b = appendStr(b, HumanSize(in.Buffered))
		b = append(b, `,"mem_limit":`...)
		b = appendStr(b, HumanSize(max(in.Limit, 0)))
		b = append(b, `},"chunks":{`...)
		b = jsonFields(b, "total", in.Chunks, "up", in.ChunksUp, "down", in.ChunksDown, "busy", in.ChunksBusy)
		b = append(b, `,"busy_size":`...)
		b = appendStr(b, HumanSize(max(in.ChunksBusyBytes, 0)))
		b = append(b, "}}"...)
	}
	b = append(b, "}}"...)
	writeJSON(w, 200, b)
}

// HumanSize formats bytes as Fluent Bit does in /api/v1/storage: "700b", "1.5K", "16.0M".
func HumanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "b"
	}
	units := "KMGTPE"
	u := int64(1024)
	i := 0
	for i < len(units)-1 && n/(u*1024) > 0 {
		u *= 1024
		i++
	}
	return strconv.FormatFloat(float64(n)/float64(u), 'f', 1, 32) + units[i:i+1]
}

func (m *Monitor) healthV1(w http.ResponseWriter, _ *http.Request) {
	h := m.Sample()
	w.Header()["Content-Type"] = nil // Fluent Bit sends none
	if h.Healthy() {
		w.WriteHeader(200)
		w.Write([]byte("ok\n"))
		return
	}
	w.WriteHeader(500)
	w.Write([]byte("error\n"))
}

func (m *Monitor) healthV2(w http.ResponseWriter, _ *http.Request) {
	h := m.Sample()
	b := []byte(`{"status":`)
	b = appendStr(b, h.Status)
	b = jsonFields(append(b, ','), "errors", h.Errors, "retries_failed", h.RetriesFailed,
		"error_limit", uint64(h.ErrorLimit), "retry_failure_limit", uint64(h.RetryFailureLimit),
		"period_limit", uint64(h.PeriodLimit))
	b = append(b, '}')
	code := 200
	if !h.Healthy() {
		code = 500
	}
	writeJSON(w, code, b)
}

func writeJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

func jsonKey(b []byte, i int, name string) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = appendStr(b, name)
	return append(b, ":{"...)
}

// jsonFields appends "k":v pairs; kv alternates string keys and uint64 values.
func jsonFields(b []byte, kv ...any) []byte {
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStr(b, kv[i].(string))
		b = append(b, ':')
		switch v := kv[i+1].(type) {
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case float64:
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		}
	}
	return b
}

func jsonStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStr(b, s)
	}
	return append(b, ']')
}

// appendStr appends s as a JSON string.
func appendStr(b []byte, s string) []byte { return event.AppendJSON(b, s) }

func hostname() string {
	h, err := osHostname()
	if err != nil || h == "" {
		return "localhost"
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		return h[:i]
	}
	return h
}

var goos = runtime.GOOS
