package main

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The storage scenarios are the http-null load (64 keep-alive clients, one small JSON
// record per request, a 2xx meaning accepted) with the input's buffer in memory, then on
// disk with storage.sync normal, then full: what accepting into durable storage costs, in
// the same run. The note gives fsyncs/s (from the agent's "storage closed fsyncs=N" line)
// and records per fsync (sync full: the group commit of concurrent requests).
func init() {
	for _, s := range []struct{ name, storage, desc string }{
		{"storage-memory", "", "64 clients POST one record per request to the http input, memory buffer -> null (the baseline)"},
		{"storage-fs-normal", "normal", "the same with storage.type filesystem, storage.sync normal"},
		{"storage-fs-full", "full", "the same with storage.sync full (fsync before each 2xx; at most 50000 records)"},
	} {
		mode := s.storage
		register(&Scenario{Name: s.name, Desc: s.desc, Run: func(env *Env) (Result, error) { return runStorage(env, mode) }})
	}
}

var fsyncsRE = regexp.MustCompile(`msg="storage closed" fsyncs=(\d+)`)

func runStorage(env *Env, syncMode string) (Result, error) {
	port, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	records := env.Records
	service, inputStorage := "", ""
	if syncMode != "" {
		service = fmt.Sprintf("  storage.path: %s\n  storage.sync: %s\n", filepath.Join(env.Dir, "storage"), syncMode)
		inputStorage = "      storage.type: filesystem\n"
		if syncMode == "full" {
			records = min(records, 50000)
		}
	}
	a, err := env.StartAgent(fmt.Sprintf(`
service:
  flush: 1
%spipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: %d
      mem_buf_limit: 64M
%s  outputs:
    - name: null
      match: '*'
`, service, port, inputStorage))
	if err != nil {
		return Result{}, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	body := []byte(`{"msg":"GET /api/v1/items 200 12ms","level":"info","host":"web-1","n":42}`)
	req := []byte("POST /app.log HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
	var next, busy atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, httpClients)
	cpu0 := a.CPU()
	start := time.Now()
	for c := 0; c < httpClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpClient(addr, req, int64(records), &next, &busy); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := a.CPU() - cpu0
	rss := a.PeakRSS()
	close(errc)
	if err := <-errc; err != nil {
		log := a.Log()
		return Result{}, fmt.Errorf("%w; agent log (end):\n%s", err, log[max(0, len(log)-3000):])
	}
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if in != records || out != records {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	note := "memory"
	if syncMode != "" {
		m := fsyncsRE.FindStringSubmatch(a.Log())
		if m == nil {
			return Result{}, fmt.Errorf("agent logged no fsync count")
		}
		n, _ := strconv.Atoi(m[1])
		perFsync := "-"
		if n > 0 {
			perFsync = fmt.Sprintf("%.1f", float64(records)/float64(n))
		}
		note = fmt.Sprintf("sync %s; %d fsyncs, %.0f fsyncs/s, %s records per fsync", syncMode, n, float64(n)/elapsed.Seconds(), perFsync)
	}
	return Result{Records: records, Elapsed: elapsed, AgentCPU: cpu, PeakRSS: rss, Note: note}, nil
}
