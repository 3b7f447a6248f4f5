package fluentbit_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	_ "github.com/fluentbit-go/fluentbit-go/filters/grep"
	_ "github.com/fluentbit-go/fluentbit-go/filters/record_modifier"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/dummy"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/null"
)

// BenchmarkPipeline measures records per second through a whole agent, built from a
// configuration as the daemon builds it, next to a baseline in the same run: encoding the
// same record into a buffer, the one step no pipeline can skip. Compare the records/s of
// each case with the baseline's rather than with figures from another machine or run:
//
//	go test -run XXX -bench Pipeline -benchmem .
func BenchmarkPipeline(b *testing.B) {
	const record = `{"message":"dummy","level":"info","temp":21.5}`
	b.Run("baseline-encode", func(b *testing.B) {
		rec, err := event.RecordFromJSON([]byte(record))
		if err != nil {
			b.Fatal(err)
		}
		ev := event.Event{Time: time.Now(), Record: rec}
		buf := make([]byte, 0, 2<<20)
		b.ReportAllocs()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if len(buf) > 2<<20-256 {
				buf = buf[:0]
			}
			if buf, err = event.AppendEntry(buf, &ev); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
	dummy := func(filters string) string {
		return fmt.Sprintf(`
service:
  flush: 0.05
pipeline:
  inputs:
    - name: dummy
      tag: bench
      dummy: '%s'
      rate: 1000000000
      samples: SAMPLES
      mem_buf_limit: 64M
  filters:%s
  outputs:
    - name: null
      match: '*'
`, record, filters)
	}
	b.Run("dummy-null", func(b *testing.B) { runAgent(b, dummy(" []"), nil) })
	b.Run("dummy-3filters-null", func(b *testing.B) {
		runAgent(b, dummy(`
    - name: grep
      match: '*'
      regex: level ^info$
    - name: modify
      match: '*'
      rename: temp temperature
    - name: record_modifier
      match: '*'
      record: host gateway-1`), nil)
	})
	b.Run("push-null", func(b *testing.B) {
		rec, _ := event.RecordFromJSON([]byte(record))
		runAgent(b, `
service:
  flush: 0.05
pipeline:
  outputs:
    - name: null
      match: '*'
`, func(a *fluentbit.Agent, n int) {
			for i := 0; i < n; i++ {
				if err := a.Push("bench", rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// runAgent runs b.N records through an agent built from yaml (SAMPLES replaced by b.N)
// and stops it once the output has them all.
func runAgent(b *testing.B, yaml string, push func(*fluentbit.Agent, int)) {
	cfg, err := config.Parse("bench.yaml", []byte(strings.ReplaceAll(yaml, "SAMPLES", strconv.Itoa(b.N))))
	if err != nil {
		b.Fatal(err)
	}
	opts := []fluentbit.Option{fluentbit.WithLogger(discard()), fluentbit.WithPushLimit(64 << 20)}
	if push == nil {
		opts = append(opts, fluentbit.WithoutPush())
	}
	agent, err := fluentbit.New(cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := agent.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if push != nil {
		push(agent, b.N)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for agent.Metrics().Outputs[0].ProcRecords < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Microsecond)
	}
	elapsed := time.Since(start)
	if err := agent.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	if got := agent.Metrics().Outputs[0].ProcRecords; got != uint64(b.N) {
		b.Fatalf("delivered %d records, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}
