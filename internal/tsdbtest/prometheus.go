package tsdbtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PrometheusBinary is where Debian installs Prometheus.
const PrometheusBinary = "/usr/bin/prometheus"

// Prometheus returns the package's Prometheus server, started on first use with the
// remote-write receiver on and, when scrapeTargets are given ("127.0.0.1:PORT"), a scrape
// job "agent" of them every 250ms (the first call's targets hold for the package). It
// skips the test when prometheus is not installed.
func Prometheus(t testing.TB, scrapeTargets ...string) *Server {
	t.Helper()
	bin := lookBinary(t, PrometheusBinary, "prometheus")
	return shared(t, "prometheus", func(dir string) (*Server, error) {
		port := FreePort(t)
		conf := "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n"
		if len(scrapeTargets) > 0 {
			b, _ := json.Marshal(scrapeTargets)
			conf += "scrape_configs:\n  - job_name: agent\n    static_configs:\n      - targets: " + string(b) + "\n"
		}
		path := filepath.Join(dir, "prometheus.yml")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		return &Server{name: "prometheus", bin: bin, dir: dir, port: port,
			args: []string{"--config.file=" + path, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
				"--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--web.enable-remote-write-receiver",
				"--log.level=warn"},
			ready: "http://127.0.0.1:" + strconv.Itoa(port) + "/-/ready"}, nil
	})
}

// PromPoint is one instant-query result: its labels, value and timestamp.
type PromPoint struct {
	Labels map[string]string
	Value  float64
	Time   time.Time
}

// PromQuery runs an instant query (/api/v1/query) at time at (zero: now).
func PromQuery(t testing.TB, s *Server, q string, at time.Time) ([]PromPoint, error) {
	t.Helper()
	v := url.Values{"query": {q}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.URL() + "/api/v1/query?" + v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s %s (%v)", q, resp.Status, b, err)
	}
	var out []PromPoint
	for _, x := range r.Data.Result {
		ts, _ := x.Value[0].(float64)
		vs, _ := x.Value[1].(string)
		f, _ := strconv.ParseFloat(vs, 64)
		out = append(out, PromPoint{Labels: x.Metric, Value: f, Time: time.UnixMilli(int64(ts*1000 + 0.5))})
	}
	return out, nil
}
