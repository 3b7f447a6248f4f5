package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The log-store scenarios: the dummy input as fast as it goes into the loki or the
// opentelemetry output, posting to a sink on 127.0.0.1 that reads each request and answers
// 204 (Loki) or 200 with an empty ExportLogsServiceResponse (OTLP). The sink does not
// decode (the outputs' tests check the bodies); the figures are the agent's: records/s and
// CPU per record, with the bytes sent per record in the note. The configuration is Fluent
// Bit's classic format, so a fluent-bit peer runs the same file (its loki output sends JSON,
// ours protobuf + snappy; both send OTLP protobuf).
func init() {
	for _, sc := range []struct{ name, desc, output string }{
		{"dummy-loki", "dummy into the loki output (Loki push protobuf + snappy; the peer sends JSON) to a 127.0.0.1 sink", `
[OUTPUT]
    name loki
    match *
    host 127.0.0.1
    port %d
    labels job=bench, $level
`},
		{"dummy-opentelemetry", "dummy into the opentelemetry output (OTLP/HTTP protobuf logs) to a 127.0.0.1 sink", `
[OUTPUT]
    name opentelemetry
    match *
    host 127.0.0.1
    port %d
    logs_body_key $message
    logs_body_key_attributes on
`},
	} {
		sc := sc
		register(&Scenario{Name: sc.name, Desc: sc.desc, Records: 1_000_000, Peers: []string{"fluent-bit"},
			Run: func(env *Env) (Result, error) { return runLogsOut(env, sc.output) }})
	}
}

func runLogsOut(env *Env, output string) (Result, error) {
	records := max(dummyCopies, env.Records/dummyCopies*dummyCopies)
	var bytes, requests atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		bytes.Add(n)
		requests.Add(1)
		if r.URL.Path == "/v1/logs" {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(l)
	defer srv.Close()
	sinkPort := l.Addr().(*net.TCPAddr).Port
	apiPort, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	cfg := fmt.Sprintf(`[SERVICE]
    flush 0.05
    log_level info
    http_server on
    http_listen 127.0.0.1
    http_port %d
[INPUT]
    name dummy
    dummy {"message":"dummy","level":"info","temp":21.5,"Mem.used":1024}
    rate 100000
    copies %d
    samples %d
`, apiPort, dummyCopies, records/dummyCopies) + fmt.Sprintf(output, sinkPort)
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
	cpu0 := a.CPU()
	start := time.Now()
	prefix := "loki"
	if requestsPath(output) {
		prefix = "opentelemetry"
	}
	if err := waitOutputRecords(apiAddr, prefix, records, 10*time.Minute); err != nil {
		a.Stop()
		return Result{}, err
	}
	res := Result{Records: records, Elapsed: time.Since(start), AgentCPU: a.CPU() - cpu0, PeakRSS: a.PeakRSS(),
		Note: fmt.Sprintf("%.0f B/record sent, %d requests", float64(bytes.Load())/float64(records), requests.Load())}
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if env.Peer == nil && (out != records || in != records) {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	return res, nil
}

func requestsPath(output string) bool {
	return strings.Contains(output, "opentelemetry")
}
