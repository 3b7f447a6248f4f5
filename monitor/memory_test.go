package monitor

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/monitor/monitortest"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// The memory budget (memory_limit) is in /api/v1/metrics and in the Prometheus sets when
// it is on, and absent (Fluent Bit's shapes exactly) when it is off.
func TestMemoryBudgetMetrics(t *testing.T) {
	met := pipeline.Metrics{Memory: pipeline.MemoryMetrics{Limit: 36_000_000, Used: 4 << 20, Waited: 1500 * time.Millisecond, Waits: 3}}
	m := New(Options{Metrics: func() pipeline.Metrics { return met }, Hostname: "h"})
	get := func(path string) []byte {
		w := httptest.NewRecorder()
		m.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(w.Result().Body)
		return b
	}
	var v1 struct {
		Memory *struct {
			Budget int64   `json:"budget_bytes"`
			Used   int64   `json:"used_bytes"`
			Wait   float64 `json:"wait_seconds_total"`
		} `json:"memory"`
	}
	body := get("/api/v1/metrics")
	if err := json.Unmarshal(body, &v1); err != nil || v1.Memory == nil {
		t.Fatalf("/api/v1/metrics: %v %s", err, body)
	}
	if v1.Memory.Budget != 36_000_000 || v1.Memory.Used != 4<<20 || v1.Memory.Wait != 1.5 {
		t.Fatalf("/api/v1/metrics memory: %+v", *v1.Memory)
	}
	for _, path := range []string{"/api/v1/metrics/prometheus", "/api/v2/metrics/prometheus", "/api/v2/metrics"} {
		body := get(path)
		for _, want := range []string{"fluentbit_memory_budget_bytes", "fluentbit_memory_budget_used_bytes", "fluentbit_memory_budget_wait_seconds_total"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: no %s in\n%s", path, want, body)
			}
		}
		if path != "/api/v2/metrics" {
			if _, err := monitortest.PromFamilies(body); err != nil {
				t.Errorf("%s does not parse: %v", path, err)
			}
		}
	}
	if !strings.Contains(string(get("/api/v2/metrics/prometheus")), `fluentbit_memory_budget_wait_seconds_total{hostname="h"} 1.5`) {
		t.Error("v2: the wait is not in seconds with the hostname label")
	}
	met.Memory = pipeline.MemoryMetrics{}
	if b := get("/api/v1/metrics"); strings.Contains(string(b), "memory") {
		t.Errorf("memory_limit off: %s", b)
	}
}
