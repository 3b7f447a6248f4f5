package tsdbtest

import (
	"bytes"
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

// InfluxBinary is where Debian installs InfluxDB 1.x.
const InfluxBinary = "/usr/bin/influxd"

// Influx returns the package's InfluxDB 1.x server, starting it on first use (skips the
// test when influxd is not installed).
func Influx(t testing.TB) *Server {
	t.Helper()
	bin := lookBinary(t, InfluxBinary, "influxdb")
	return shared(t, "influxdb", func(dir string) (*Server, error) {
		port, rpc := FreePort(t), FreePort(t)
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
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`, rpc, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), port)
		path := filepath.Join(dir, "influxdb.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		return &Server{name: "influxd", bin: bin, args: []string{"-config", path}, dir: dir, port: port,
			ready: "http://127.0.0.1:" + strconv.Itoa(port) + "/ping"}, nil
	})
}

// InfluxQuery runs an InfluxQL statement through the /query API (POST, so it may change
// things) and returns the decoded JSON answer.
func InfluxQuery(t testing.TB, s *Server, db, q string) InfluxResult {
	t.Helper()
	v := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		v.Set("db", db)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm(s.URL()+"/query", v)
	if err != nil {
		t.Fatalf("tsdbtest: influx query %q: %v", q, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r InfluxResult
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // nanosecond timestamps do not fit a float64
	if err := dec.Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("tsdbtest: influx query %q: %s: %s (%v)", q, resp.Status, b, err)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			t.Fatalf("tsdbtest: influx query %q: %s", q, res.Error)
		}
	}
	return r
}

// InfluxResult is the /query API's answer.
type InfluxResult struct {
	Results []struct {
		Error  string `json:"error"`
		Series []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
	} `json:"results"`
}

// Rows returns every row of every series as column -> value maps (series tags included
// under their names), in the server's order.
func (r InfluxResult) Rows() []map[string]any {
	var out []map[string]any
	for _, res := range r.Results {
		for _, s := range res.Series {
			for _, vals := range s.Values {
				row := map[string]any{}
				for k, v := range s.Tags {
					row[k] = v
				}
				for i, c := range s.Columns {
					if i < len(vals) {
						row[c] = vals[i]
					}
				}
				out = append(out, row)
			}
		}
	}
	return out
}
