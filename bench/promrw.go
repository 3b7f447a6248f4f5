package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// dummy-prometheus_remote_write: the dummy's numeric fields are samples (temp and
// Mem.used: two series, bench_dummy_temp and bench_dummy_Mem_used) sent by the
// prometheus_remote_write output to a real prometheus with its remote-write receiver on.
// The run ends on the output's delivered count. The dummy stamps generation k at start +
// k × 10 µs (rate 100000) and its 1000 copies alike, and Prometheus keeps one sample per
// series per millisecond (a same-time same-value sample is a no-op), so 500 000 records
// are a few samples per series: the check is that the series hold samples with the right
// values, not one sample per record (dummy-influxdb counts every point). No peer: Fluent Bit's prometheus_remote_write takes metrics
// events only and drops records.
func init() {
	register(&Scenario{
		Name:    "dummy-prometheus_remote_write",
		Desc:    "dummy (numeric fields) -> prometheus_remote_write output -> a real prometheus (remote-write receiver)",
		Records: 500_000,
		Run:     runDummyPromRW,
	})
}

// startPrometheus starts prometheus with the remote-write receiver on and its TSDB in the
// run's directory, and returns it with its port. With scrape (a prometheus.yml scrape_configs
// section) it scrapes what that names; without, nothing.
func startPrometheus(env *Env, scrape string) (*Agent, int, error) {
	bin, err := serverBinary("/usr/bin/prometheus", "prometheus")
	if err != nil {
		return nil, 0, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	path := filepath.Join(env.Dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte("global:\n  scrape_interval: 1m\n"+scrape), 0o644); err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(env.Dir, "prometheus"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--web.enable-remote-write-receiver", "--log.level=warn")
	s, err := startServer(env, "prometheus", cmd, fmt.Sprintf("http://127.0.0.1:%d/-/ready", port))
	if err != nil {
		return nil, 0, err
	}
	return s, port, nil
}

// promQuery runs an instant query and returns the value of each series it answers.
func promQuery(port int, q string) ([]float64, error) {
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?", port) + url.Values{"query": {q}}.Encode())
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", q, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s: %s (%v)", q, resp.Status, b, err)
	}
	var out []float64
	for _, x := range r.Data.Result {
		s, _ := x.Value[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %q: value %v", q, x.Value[1])
		}
		out = append(out, f)
	}
	return out, nil
}

func runDummyPromRW(env *Env) (Result, error) {
	records := max(dummyCopies, env.Records/dummyCopies*dummyCopies)
	srv, port, err := startPrometheus(env, "")
	if err != nil {
		return Result{}, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	cfg := fmt.Sprintf(tsdbDummy, apiPort, dummyCopies, records/dummyCopies) + fmt.Sprintf(`[OUTPUT]
    name prometheus_remote_write
    match *
    host 127.0.0.1
    port %d
    uri /api/v1/write
`, port)
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	a, err := env.StartAgent(cfg)
	if err != nil {
		return Result{}, err
	}
	cpu0, srvCPU0 := a.CPU(), srv.CPU()
	start := time.Now()
	if err := waitOutputRecords(apiAddr, "prometheus_remote_write", records, 10*time.Minute); err != nil {
		return Result{}, fmt.Errorf("%w\nagent log:\n%s", err, a.Log())
	}
	res := Result{Records: records, Elapsed: time.Since(start), AgentCPU: a.CPU() - cpu0, PeakRSS: a.PeakRSS()}
	srvCPU := srv.CPU() - srvCPU0
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if in != records || out != records {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	// One query: the samples of bench_dummy_temp stored over the run, answered only when
	// the last values of both series are the dummy's. Records that share a millisecond are
	// one sample, so the count is at most the records.
	q := `count_over_time(bench_dummy_temp[1h]) and on() last_over_time(bench_dummy_temp[1h]) == 21.5 and on() last_over_time(bench_dummy_Mem_used[1h]) == 1024`
	got, err := promQuery(port, q)
	if err != nil {
		return Result{}, err
	}
	if len(got) != 1 || got[0] < 1 || int(got[0]) > records {
		return Result{}, fmt.Errorf("prometheus answered %v to %s; want one count of 1 to %d samples (temp 21.5, Mem_used 1024)", got, q, records)
	}
	res.Note = fmt.Sprintf("prometheus CPU s/M records %.2f; %.0f samples per series stored (one per millisecond of record time: the dummy stamps a generation per 10 µs tick), last values right",
		srvCPU.Seconds()/float64(records)*1e6, got[0])
	return res, nil
}
