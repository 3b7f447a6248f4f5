package main

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// dummy-prometheus_exporter: the dummy's numeric fields (temp 21.5 and Mem.used 1024, with
// its level "info" as a label through label_keys) are the last values on the
// prometheus_exporter output's page, served on a free 127.0.0.1 port and scraped by a real
// prometheus every 200 ms, from before the agent starts (the run waits for prometheus'
// first scrape), so the page is read while records come in. The throughput is the
// output's: the run's time ends when its delivered count (the monitoring API's
// proc_records) reaches every record, as in the other dummy scenarios. Then, outside the
// timed span, the run waits (bounded) until prometheus has scraped the page after that
// moment and a query answers both series with the dummy's values. No peer: Fluent Bit's
// prometheus_exporter takes metrics events only and drops records, so its page would stay
// empty.
func init() {
	register(&Scenario{
		Name:    "dummy-prometheus_exporter",
		Desc:    "dummy (numeric fields) -> prometheus_exporter output <- a real prometheus scraping it every 200ms",
		Records: 500_000,
		Run:     runDummyPromExporter,
	})
}

// promScrapeInterval is the scrape job's interval and timeout; Prometheus accepts
// sub-second durations (the output's tests scrape every 250ms).
const promScrapeInterval = "200ms"

func runDummyPromExporter(env *Env) (Result, error) {
	records := max(dummyCopies, env.Records/dummyCopies*dummyCopies)
	expPort, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(expPort))
	// Prometheus first: its scrape loop starts while the agent comes up, so the first
	// scrape after the run's end is one interval away, not the discovery's start-up.
	srv, port, err := startPrometheus(env, fmt.Sprintf(`scrape_configs:
  - job_name: agent
    scrape_interval: %s
    scrape_timeout: %s
    static_configs:
      - targets: [%q]
`, promScrapeInterval, promScrapeInterval, target))
	if err != nil {
		return Result{}, err
	}
	// Prometheus' discovery hands it the target a few seconds after start: wait for the
	// first scrape (up 0, nothing listens yet), so that the page is scraped every interval
	// through the timed run. No signal for a scrape: polled every 50 ms, at most 30 s.
	if err := waitPromQuery(port, `up{job="agent"}`, 30*time.Second, func(v []float64) bool { return len(v) == 1 }); err != nil {
		return Result{}, fmt.Errorf("%w\nprometheus log:\n%s", err, srv.Log())
	}
	apiPort, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	cfg := fmt.Sprintf(tsdbDummy, apiPort, dummyCopies, records/dummyCopies) + fmt.Sprintf(`[OUTPUT]
    name prometheus_exporter
    match *
    host 127.0.0.1
    port %d
    label_keys level
`, expPort)
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	a, err := env.StartAgent(cfg)
	if err != nil {
		return Result{}, err
	}
	cpu0 := a.CPU()
	start := time.Now()
	if err := waitOutputRecords(apiAddr, "prometheus_exporter", records, 10*time.Minute); err != nil {
		return Result{}, fmt.Errorf("%w\nagent log:\n%s", err, a.Log())
	}
	done := time.Now()
	res := Result{Records: records, Elapsed: done.Sub(start), AgentCPU: a.CPU() - cpu0, PeakRSS: a.PeakRSS()}

	// A scrape after done saw the page with every record in: the time of the newest
	// sample of both series, answered only when their values are the dummy's.
	q := `timestamp(bench_dummy_temp{job="agent",level="info"} == 21.5 and on() bench_dummy_Mem_used{job="agent",level="info"} == 1024)`
	after := float64(done.UnixMilli()) / 1000
	if err := waitPromQuery(port, q, 30*time.Second, func(v []float64) bool { return len(v) == 1 && v[0] >= after }); err != nil {
		return Result{}, fmt.Errorf("%w (want one sample scraped after the run's end at %.3f: temp 21.5, Mem_used 1024)\nagent log:\n%s\nprometheus log:\n%s",
			err, after, a.Log(), srv.Log())
	}
	// The page's successful scrapes and the longest one, from Prometheus' own series.
	scrapes, err := promQuery(port, `sum_over_time(up{job="agent"}[1h])`)
	if err != nil {
		return Result{}, err
	}
	dur, err := promQuery(port, `max_over_time(scrape_duration_seconds{job="agent"}[1h])`)
	if err != nil {
		return Result{}, err
	}
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if in != records || out != records {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	res.Note = "last values scraped right"
	if len(scrapes) == 1 && len(dur) == 1 {
		res.Note = fmt.Sprintf("prometheus: %.0f scrapes of the page (every %s, from the agent's start to the check), longest %.1f ms; last values right",
			scrapes[0], promScrapeInterval, dur[0]*1000)
	}
	return res, nil
}

// waitPromQuery runs q until ok accepts its answer, every 50 ms for at most timeout:
// Prometheus offers no signal for a scrape.
func waitPromQuery(port int, q string, timeout time.Duration, ok func([]float64) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := promQuery(port, q)
		if err != nil {
			return err
		}
		if ok(got) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus answered %v to %s for %v", got, q, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
