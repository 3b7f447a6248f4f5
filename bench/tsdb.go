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

// The time-series database scenarios: the dummy input as fast as it goes into an output
// writing to a real server (Debian's influxd 1.x here, prometheus in promrw.go) started for
// the run in its directory on free 127.0.0.1 ports. A run ends when the output's delivered
// count (the monitoring API's proc_records) reaches the records sent; the server is then
// asked what it holds.
//
// dummy-influxdb: every record is a point. The dummy's copies of one generation share a
// timestamp, so the output's sequence_tag (_seq) keeps them apart; a count query must find
// every point. The configuration is Fluent Bit's classic format, so a fluent-bit peer runs
// the same file (its _seq counts on every record, which keeps the points apart too).
func init() {
	register(&Scenario{
		Name:    "dummy-influxdb",
		Desc:    "dummy -> influxdb output (1.x API, line protocol) -> a real influxd; every point counted back",
		Records: 200_000,
		Peers:   []string{"fluent-bit"},
		Run:     runDummyInflux,
	})
}

// tsdbDummy is the dummy input both scenarios use; tag bench.dummy makes the measurement
// "bench.dummy" and the Prometheus names bench_dummy_temp and bench_dummy_Mem_used.
const tsdbDummy = `[SERVICE]
    flush 0.05
    log_level info
    http_server on
    http_listen 127.0.0.1
    http_port %d
[INPUT]
    name dummy
    tag bench.dummy
    dummy {"message":"dummy","level":"info","temp":21.5,"Mem.used":1024}
    rate 100000
    copies %d
    samples %d
`

// startServer starts a server process as one of env's processes (the run's cleanup kills
// it) and waits until ready answers 2xx. An HTTP server offers no other signal: polled
// every 20 ms, for at most a minute.
func startServer(env *Env, name string, cmd *exec.Cmd, ready string) (*Agent, error) {
	cmd.Dir = env.Dir
	s, err := env.start(cmd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.peer = true // logs no totals
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited at start:\n%s", name, s.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %s not ready within a minute (%v):\n%s", name, ready, err, s.Log())
		}
	}
}

// startInfluxd starts influxd 1.x with a configuration of its own (data, meta and WAL in
// the run's directory, reporting and the internal monitor off) and returns it with its HTTP
// port.
func startInfluxd(env *Env) (*Agent, int, error) {
	bin, err := serverBinary("/usr/bin/influxd", "influxdb")
	if err != nil {
		return nil, 0, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	rpc, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	dir := filepath.Join(env.Dir, "influxdb")
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
  logging-enabled = false
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
  trace-logging-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`, rpc, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), port)
	path := filepath.Join(env.Dir, "influxdb.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, 0, err
	}
	s, err := startServer(env, "influxd", exec.Command(bin, "-config", path), fmt.Sprintf("http://127.0.0.1:%d/ping", port))
	if err != nil {
		return nil, 0, err
	}
	return s, port, nil
}

// influxQuery runs an InfluxQL statement through /query (POST) and returns the first
// series' first row.
func influxQuery(port int, db, q string) ([]any, error) {
	v := url.Values{"q": {q}}
	if db != "" {
		v.Set("db", db)
	}
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.PostForm(fmt.Sprintf("http://127.0.0.1:%d/query", port), v)
	if err != nil {
		return nil, fmt.Errorf("influx query %q: %w", q, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("influx query %q: %s: %s (%v)", q, resp.Status, b, err)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("influx query %q: %s", q, res.Error)
		}
		if len(res.Series) > 0 && len(res.Series[0].Values) > 0 {
			return res.Series[0].Values[0], nil
		}
	}
	return nil, nil
}

func runDummyInflux(env *Env) (Result, error) {
	records := max(dummyCopies, env.Records/dummyCopies*dummyCopies)
	srv, port, err := startInfluxd(env)
	if err != nil {
		return Result{}, err
	}
	if _, err := influxQuery(port, "", "CREATE DATABASE bench"); err != nil {
		return Result{}, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	cfg := fmt.Sprintf(tsdbDummy, apiPort, dummyCopies, records/dummyCopies) + fmt.Sprintf(`[OUTPUT]
    name influxdb
    match *
    host 127.0.0.1
    port %d
    database bench
    sequence_tag _seq
`, port)
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	var a *Agent
	if env.Peer != nil {
		a, err = env.StartPeer(cfg, ".conf", apiAddr)
	} else {
		a, err = env.StartAgent(cfg)
	}
	if err != nil {
		return Result{}, err
	}
	cpu0, srvCPU0 := a.CPU(), srv.CPU()
	start := time.Now()
	if err := waitOutputRecords(apiAddr, "influxdb", records, 10*time.Minute); err != nil {
		return Result{}, fmt.Errorf("%w\nagent log:\n%s", err, a.Log())
	}
	res := Result{Records: records, Elapsed: time.Since(start), AgentCPU: a.CPU() - cpu0, PeakRSS: a.PeakRSS()}
	srvCPU := srv.CPU() - srvCPU0
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if env.Peer == nil && (in != records || out != records) {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	// A 2xx from influxd means the points are in its WAL and cache: queryable now.
	row, err := influxQuery(port, "bench", `SELECT count("temp") FROM "bench.dummy"`)
	if err != nil {
		return Result{}, err
	}
	if len(row) < 2 {
		return Result{}, fmt.Errorf("influxd holds no point of bench.dummy, want %d", records)
	}
	if n, _ := row[1].(float64); int(n) != records {
		return Result{}, fmt.Errorf("influxd holds %v points of bench.dummy, want %d (points collapsed or lost)", row[1], records)
	}
	// The series count shows what the sequence tag cost the server.
	row, err = influxQuery(port, "bench", "SHOW SERIES EXACT CARDINALITY")
	if err != nil {
		return Result{}, err
	}
	series := "?"
	if len(row) > 0 {
		if n, ok := row[0].(float64); ok {
			series = strconv.FormatFloat(n, 'f', 0, 64)
		}
	}
	res.Note = fmt.Sprintf("influxd CPU s/M records %.2f; all %d points counted back, in %s series", srvCPU.Seconds()/float64(records)*1e6, records, series)
	return res, nil
}
