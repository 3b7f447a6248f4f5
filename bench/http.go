package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The http scenarios drive the http input with many keep-alive clients, each posting one
// small JSON record per request and waiting for the answer (a 2xx means buffered), on
// embedhttp and on Go's net/http: the same input and handler, the server the only
// difference. Requests/s per agent CPU-second is the ratio the two rows compare.
func init() {
	for _, s := range []struct{ name, server, desc string }{
		{"http-null", "embedhttp", "64 keep-alive clients POST one small JSON record per request to the http input (embedhttp) -> null"},
		{"http-null-nethttp", "net/http", "the same load and handler on Go's net/http server, for the ratio"},
	} {
		server := s.server
		register(&Scenario{Name: s.name, Desc: s.desc, Run: func(env *Env) (Result, error) { return runHTTPNull(env, server) }})
	}
}

const httpClients = 64

func runHTTPNull(env *Env, server string) (Result, error) {
	port, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	a, err := env.StartAgent(fmt.Sprintf(`
service:
  flush: 0.2
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: %d
      server: %s
      mem_buf_limit: 64M
  outputs:
    - name: null
      match: '*'
`, port, server))
	if err != nil {
		return Result{}, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	body := []byte(`{"msg":"GET /api/v1/items 200 12ms","level":"info","host":"web-1","n":42}`)
	req := []byte("POST /app.log HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))

	var next atomic.Int64 // requests handed out
	var busy atomic.Int64 // 503 answers (retried)
	var wg sync.WaitGroup
	errc := make(chan error, httpClients)
	cpu0 := a.CPU()
	start := time.Now()
	for c := 0; c < httpClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpClient(addr, req, int64(env.Records), &next, &busy); err != nil {
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
		if len(log) > 2000 {
			log = log[len(log)-2000:]
		}
		return Result{}, fmt.Errorf("client: %w; agent log ends with:\n%s", err, log)
	}
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if in != env.Records || out != env.Records {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, env.Records)
	}
	return Result{Records: env.Records, Elapsed: elapsed, AgentCPU: cpu, PeakRSS: rss,
		Note: fmt.Sprintf("%s; %d clients; %.0f req per agent CPU-s; %d retried 503s", server, httpClients,
			float64(env.Records)/cpu.Seconds(), busy.Load())}, nil
}

// httpClient sends requests on one keep-alive connection until total have been handed
// out, and reads each answer before sending the next. A 503 is sent again.
func httpClient(addr string, req []byte, total int64, next, busy *atomic.Int64) error {
	var conn net.Conn
	var r *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for next.Add(1) <= total {
		for attempt := 0; ; attempt++ {
			if conn == nil {
				var err error
				if conn, err = net.Dial("tcp", addr); err != nil {
					return err
				}
				r = bufio.NewReaderSize(conn, 4096)
			}
			if _, err := conn.Write(req); err != nil {
				return err
			}
			code, closing, err := readResponse(r)
			if err != nil {
				return err
			}
			if closing { // the server said Connection: close
				conn.Close()
				conn = nil
			}
			if code == 201 {
				break
			}
			if code != 503 || attempt > 1000 {
				return fmt.Errorf("status %d", code)
			}
			busy.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// readResponse reads one response's head and body and returns its status and whether
// the server closes the connection after it.
func readResponse(r *bufio.Reader) (code int, closing bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if code, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, err
	}
	length := 0
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(h) <= 2 {
			break
		}
		switch {
		case len(h) > 16 && bytes.EqualFold(h[:15], []byte("content-length:")):
			if length, err = strconv.Atoi(string(bytes.TrimSpace(h[15:]))); err != nil {
				return 0, false, err
			}
		case len(h) > 11 && bytes.EqualFold(h[:11], []byte("connection:")):
			closing = bytes.EqualFold(bytes.TrimSpace(h[11:]), []byte("close"))
		case bytes.HasPrefix(bytes.ToLower(h), []byte("transfer-encoding:")):
			return 0, false, errors.New("chunked response: not expected here")
		}
	}
	if _, err := r.Discard(length); err != nil {
		return 0, false, err
	}
	return code, closing, nil
}
