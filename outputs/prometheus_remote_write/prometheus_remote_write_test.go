package prometheus_remote_write_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/tsdbtest"
	"github.com/fluentbit-go/fluentbit-go/outputs/prometheus_remote_write"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { tsdbtest.Main(m) }

func configure(kv ...string) (*prometheus_remote_write.Output, error) {
	p, _ := pipeline.NewOutput("prometheus_remote_write")
	var ps []config.Property
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, config.Property{Key: kv[i], Value: kv[i+1], File: "test.conf", Line: i/2 + 1})
	}
	if err := pipeline.Configure(p, ps); err != nil {
		return nil, err
	}
	return p.(*prometheus_remote_write.Output), nil
}

func newOutput(t *testing.T, kv ...string) *prometheus_remote_write.Output {
	t.Helper()
	o, err := configure(kv...)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := o.Init(context.Background(), pipeline.Env{Name: "prw.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// want is one sample expected back from Prometheus.
type want struct {
	query  string
	labels map[string]string
	value  float64
	at     time.Time
}

func checkBack(t *testing.T, srv *tsdbtest.Server, ws []want) {
	t.Helper()
	for _, w := range ws {
		var pts, tss []tsdbtest.PromPoint
		err := tsdbtest.Eventually(10*time.Second, 50*time.Millisecond, func() (bool, string) {
			var err error
			if pts, err = tsdbtest.PromQuery(t, srv, w.query, time.Time{}); err != nil {
				return false, err.Error()
			}
			if tss, err = tsdbtest.PromQuery(t, srv, "timestamp("+w.query+")", time.Time{}); err != nil {
				return false, err.Error()
			}
			return len(pts) == 1 && len(tss) == 1, fmt.Sprintf("%v %v", pts, tss)
		})
		if err != nil {
			t.Errorf("%s: %v", w.query, err)
			continue
		}
		if pts[0].Value != w.value {
			t.Errorf("%s = %v, want %v", w.query, pts[0].Value, w.value)
		}
		if got := int64(math.Round(tss[0].Value * 1000)); got != w.at.UnixMilli() {
			t.Errorf("%s at %d ms, want %d", w.query, got, w.at.UnixMilli())
		}
		for k, v := range w.labels {
			if pts[0].Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q (all: %v)", w.query, k, pts[0].Labels[k], v, pts[0].Labels)
			}
		}
	}
}

// cpu, mem and a sensor record go to a real Prometheus and come back with their values and
// timestamps under the names and labels docs/prometheus.md promises.
func TestRealPrometheus(t *testing.T) {
	srv := tsdbtest.Prometheus(t)
	o := newOutput(t, "port", fmt.Sprint(srv.Port()), "uri", "/api/v1/write", "metric_prefix", "dev_",
		"label_keys", "room", "add_label", "fleet pi-zero", "header", "X-Scope-OrgID test")
	base := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	cpu := event.Event{Time: base, Record: event.Map{{"cpu_p", 12.5}, {"user_p", 10.25}}}
	mem := event.Event{Time: base.Add(time.Second), Record: event.Map{{"Mem.total", int64(8041472)}, {"Mem", event.Map{{"used", int64(2011136)}}}}}
	sensor := []event.Event{
		{Time: base, Record: event.Map{{"room", "kitchen"}, {"temp", 21.5}, {"ok", true}, {"note", "not a sample"}}},
		{Time: base.Add(2 * time.Second), Record: event.Map{{"room", "kitchen"}, {"temp", 21.75}, {"ok", false}}},
		{Time: base.Add(time.Second), Record: event.Map{{"room", "hall"}, {"temp", 19.0}, {"ok", true}}},
	}
	for _, c := range []*pipeline.Chunk{
		pipelinetest.MakeChunk("cpu.local", cpu),
		pipelinetest.MakeChunk("mem.local", mem),
		pipelinetest.MakeChunk("sensor", sensor...),
	} {
		if err := o.Flush(context.Background(), c); err != nil {
			t.Fatalf("Flush %s: %v", c.Tag, err)
		}
	}
	fleet := map[string]string{"fleet": "pi-zero"}
	checkBack(t, srv, []want{
		{`dev_cpu_local_cpu_p`, fleet, 12.5, base},
		{`dev_cpu_local_user_p`, fleet, 10.25, base},
		{`dev_mem_local_Mem_total`, fleet, 8041472, base.Add(time.Second)},
		{`dev_mem_local_Mem_used`, fleet, 2011136, base.Add(time.Second)},
		{`dev_sensor_temp{room="kitchen"}`, map[string]string{"room": "kitchen", "fleet": "pi-zero"}, 21.75, base.Add(2 * time.Second)},
		{`dev_sensor_ok{room="kitchen"}`, nil, 0, base.Add(2 * time.Second)},
		{`dev_sensor_temp{room="hall"}`, nil, 19, base.Add(time.Second)},
		{`dev_sensor_ok{room="hall"}`, nil, 1, base.Add(time.Second)},
	})
	// The earlier kitchen sample is there too, at its own time.
	pts, err := tsdbtest.PromQuery(t, srv, `dev_sensor_temp{room="kitchen"}`, base.Add(500*time.Millisecond))
	if err != nil || len(pts) != 1 || pts[0].Value != 21.5 {
		t.Errorf("kitchen temp at base: %v %v, want 21.5", pts, err)
	}
	if pts, _ := tsdbtest.PromQuery(t, srv, `{__name__=~"dev_sensor_note.*"}`, time.Time{}); len(pts) != 0 {
		t.Errorf("a string field became a sample: %v", pts)
	}
}

// A refused sample (out of order) is a final error carrying Prometheus' answer; a server
// that is down is a retry, and once it is back the same chunk is delivered.
func TestRealPrometheusRefusalAndDownAndBack(t *testing.T) {
	srv := tsdbtest.Prometheus(t)
	o := newOutput(t, "port", fmt.Sprint(srv.Port()), "uri", "/api/v1/write")
	now := time.Now().Truncate(time.Millisecond)
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("ooo", event.Event{Time: now, Record: event.Map{{"v", 1.0}}})); err != nil {
		t.Fatal(err)
	}
	err := o.Flush(context.Background(), pipelinetest.MakeChunk("ooo", event.Event{Time: now.Add(-time.Second), Record: event.Map{{"v", 2.0}}}))
	if err == nil || pipeline.IsRetry(err) || !strings.Contains(err.Error(), "400") {
		t.Errorf("out-of-order sample: %v, want a final 400", err)
	}
	chunk := pipelinetest.MakeChunk("back", event.Event{Time: now, Record: event.Map{{"v", 3.0}}})
	srv.Stop()
	err = o.Flush(context.Background(), chunk)
	if startErr := srv.Start(); startErr != nil {
		t.Fatal(startErr)
	}
	if !pipeline.IsRetry(err) {
		t.Fatalf("flush with the server down: %v, want a retry", err)
	}
	if err := o.Flush(context.Background(), chunk); err != nil {
		t.Fatalf("flush after restart: %v", err)
	}
	checkBack(t, srv, []want{{`back_v`, nil, 3, now}})
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		kv  []string
		key string
	}{
		{[]string{"add_label", "novalue"}, "add_label"},
		{[]string{"add_label", "__x y"}, "add_label"},
		{[]string{"add_label", "bad-name y"}, "add_label"},
		{[]string{"metric_prefix", "1x"}, "metric_prefix"},
		{[]string{"label_keys", "__meta"}, "label_keys"},
		{[]string{"uri", "write"}, "uri"},
		{[]string{"header", "Bad:Name v"}, "header"},
	} {
		_, err := configure(c.kv...)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: error %v does not name %s", c.kv, err, c.key)
		}
	}
}
