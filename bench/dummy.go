package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The dummy scenarios: the dummy input as fast as it goes into the null output, alone (the
// engine's own ceiling) and through filter chains (those of filters/chain_test.go): read
// each chain against dummy-null from the same run. The configuration is Fluent Bit's
// classic format, so a fluent-bit peer runs the same file.
func init() {
	for _, sc := range []struct{ name, desc, filters string }{
		{"dummy-null", "the dummy input as fast as it goes into the null output: the engine's own ceiling", ""},
		{"dummy-5filters-null", "dummy-null through grep, modify, record_modifier, nest and throttle", `
[FILTER]
    name grep
    match *
    regex level ^info$
[FILTER]
    name modify
    match *
    rename temp temperature
[FILTER]
    name record_modifier
    match *
    record host gateway-1
[FILTER]
    name nest
    match *
    operation nest
    wildcard Mem.*
    nest_under mem
[FILTER]
    name throttle
    match *
    rate 1000000000000
`},
		{"dummy-lua-rewrite_tag-null", "dummy-null through lua (adds a key) and rewrite_tag (re-emits every record)", `
[FILTER]
    name lua
    match *
    call cb
    code function cb(tag, ts, r) r["tag"] = tag return 2, ts, r end
[FILTER]
    name rewrite_tag
    match dummy.0
    rule $level ^(info)$ out.$1 false
`},
	} {
		sc := sc
		records := 5_000_000 // about half a second here: shorter and the flush interval weighs
		if sc.filters != "" {
			records = 500_000
		}
		register(&Scenario{Name: sc.name, Desc: sc.desc, Records: records, Peers: []string{"fluent-bit"},
			Run: func(env *Env) (Result, error) { return runDummy(env, sc.filters) }})
	}
}

// dummyCopies is how many records one generation of the dummy input makes: the input's
// rate paces generations, so a generation of many copies keeps pacing out of the figure.
const dummyCopies = 1000

func runDummy(env *Env, filters string) (Result, error) {
	records := max(dummyCopies, env.Records/dummyCopies*dummyCopies)
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
%s
[OUTPUT]
    name null
    match *
`, apiPort, dummyCopies, records/dummyCopies, filters)
	// Ours and a peer are measured alike: from the monitoring API answering to the null
	// output having processed every record, CPU and elapsed time over that span.
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
	if err := waitOutputRecords(apiAddr, "null", records, 10*time.Minute); err != nil {
		return Result{}, err
	}
	res := Result{Records: records, Elapsed: time.Since(start), AgentCPU: a.CPU() - cpu0, PeakRSS: a.PeakRSS()}
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	wantIn := records
	if strings.Contains(filters, "rewrite_tag") {
		wantIn = 2 * records // rewrite_tag's emitter input takes every record in once more
	}
	if env.Peer == nil && (out != records || in != wantIn) {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d in, %d out", in, out, wantIn, records)
	}
	return res, nil
}

// waitOutputRecords polls a monitoring API (Fluent Bit's /api/v1/metrics, which ours
// serves too) until the outputs whose instance name starts with prefix have processed n
// records. Polled every 10 ms: a peer agent offers no other signal.
func waitOutputRecords(addr, prefix string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	got := uint64(0)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/api/v1/metrics")
		if err == nil {
			var m struct {
				Output map[string]struct {
					ProcRecords uint64 `json:"proc_records"`
				} `json:"output"`
			}
			err = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if err == nil {
				got = 0
				for name, o := range m.Output {
					if strings.HasPrefix(name, prefix) {
						got += o.ProcRecords
					}
				}
				if got >= uint64(n) {
					return nil
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("outputs %s* processed %d of %d records within %v", prefix, got, n, timeout)
}
