package prometheus_exporter

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/tsdbtest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { tsdbtest.Main(m) }

func newOutput(t *testing.T, now func() time.Time, kv ...string) *Output {
	t.Helper()
	p, _ := pipeline.NewOutput("prometheus_exporter")
	var ps []config.Property
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, config.Property{Key: kv[i], Value: kv[i+1], File: "test.conf", Line: i/2 + 1})
	}
	if err := pipeline.Configure(p, ps); err != nil {
		t.Fatalf("configure: %v", err)
	}
	o := p.(*Output)
	o.now = now
	if err := o.Init(context.Background(), pipeline.Env{Name: "pe.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The page holds the last value per series, escapes label values, and drops a series no
// record updated for stale_after.
func TestPageLastValueAndStaleness(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	o := newOutput(t, clk.now, "host", "127.0.0.1", "port", "0", "stale_after", "1m", "label_keys", "room",
		"add_label", "fleet pi", "add_timestamp", "on")
	at := time.Unix(900, 0)
	flush := func(tag string, evs ...event.Event) {
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk(tag, evs...)); err != nil {
			t.Fatal(err)
		}
	}
	flush("sensor",
		event.Event{Time: at, Record: event.Map{{"room", `k"1\` + "\n"}, {"temp", 20.0}}},
		event.Event{Time: at.Add(time.Second), Record: event.Map{{"room", `k"1\` + "\n"}, {"temp", 21.0}}})
	flush("sensor", event.Event{Time: at.Add(-time.Second), Record: event.Map{{"room", `k"1\` + "\n"}, {"temp", 5.0}}}) // older: ignored
	clk.add(30 * time.Second)
	flush("cpu", event.Event{Time: at, Record: event.Map{{"cpu_p", 3.5}}})
	want := "# TYPE cpu_cpu_p gauge\ncpu_cpu_p{fleet=\"pi\"} 3.5 900000\n" +
		"# TYPE sensor_temp gauge\nsensor_temp{fleet=\"pi\",room=\"k\\\"1\\\\\\n\"} 21 901000\n"
	if got := string(scrape(t, o)); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	clk.add(45 * time.Second) // sensor: 75s without a record; cpu: 45s
	want = "# TYPE cpu_cpu_p gauge\ncpu_cpu_p{fleet=\"pi\"} 3.5 900000\n"
	if got := string(scrape(t, o)); got != want {
		t.Errorf("after staleness got %q\nwant %q", got, want)
	}
}

func scrape(t *testing.T, o *Output) []byte {
	t.Helper()
	resp, err := http.Get("http://" + o.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("scrape: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return b
}

// A real Prometheus scrapes the endpoint and has the cpu, mem and sensor values with the
// records' timestamps.
func TestRealPrometheusScrapes(t *testing.T) {
	port := tsdbtest.FreePort(t)
	o := newOutput(t, time.Now, "host", "127.0.0.1", "port", fmt.Sprint(port), "add_timestamp", "on",
		"label_keys", "room", "add_label", "fleet pi-zero")
	srv := tsdbtest.Prometheus(t, fmt.Sprintf("127.0.0.1:%d", port))
	base := time.Now().Add(-5 * time.Second).Truncate(time.Millisecond)
	for _, c := range []*pipeline.Chunk{
		pipelinetest.MakeChunk("cpu.local", event.Event{Time: base, Record: event.Map{{"cpu_p", 12.5}}}),
		pipelinetest.MakeChunk("mem.local", event.Event{Time: base, Record: event.Map{{"Mem.used", int64(2011136)}}}),
		pipelinetest.MakeChunk("sensor", event.Event{Time: base.Add(time.Second), Record: event.Map{{"room", "hall"}, {"temp", 19.25}, {"ok", true}}}),
	} {
		if err := o.Flush(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []struct {
		q  string
		v  float64
		at time.Time
	}{
		{`cpu_local_cpu_p{fleet="pi-zero"}`, 12.5, base},
		{`mem_local_Mem_used`, 2011136, base},
		{`sensor_temp{room="hall",job="agent"}`, 19.25, base.Add(time.Second)},
		{`sensor_ok{room="hall"}`, 1, base.Add(time.Second)},
	} {
		var v, ts []tsdbtest.PromPoint
		err := tsdbtest.Eventually(20*time.Second, 100*time.Millisecond, func() (bool, string) {
			var err error
			if v, err = tsdbtest.PromQuery(t, srv, w.q, time.Time{}); err != nil {
				return false, err.Error()
			}
			if ts, err = tsdbtest.PromQuery(t, srv, "timestamp("+w.q+")", time.Time{}); err != nil {
				return false, err.Error()
			}
			return len(v) == 1 && len(ts) == 1, fmt.Sprint(v, ts)
		})
		if err != nil {
			t.Errorf("%s: %v", w.q, err)
			continue
		}
		if v[0].Value != w.v {
			t.Errorf("%s = %v, want %v", w.q, v[0].Value, w.v)
		}
		if got := int64(math.Round(ts[0].Value * 1000)); got != w.at.UnixMilli() {
			t.Errorf("%s at %d ms, want %d", w.q, got, w.at.UnixMilli())
		}
	}
}
