package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The http scenarios drive the http input with many keep-alive clients, each posting one
// small JSON record per request and waiting for the answer (a 2xx means buffered), on
// embedhttp and on Go's net/http: the same input and handler, the server the only
// difference. Requests/s per agent CPU-second is the ratio the two rows compare. The
// latency columns are per request: from writing it to reading its 2xx, i.e. how long a
// client waits for the agent to have its record buffered, queueing included.
//
// The configuration is Fluent Bit's classic format, so a fluent-bit peer runs the very
// same file; telegraf gets the equivalent http_listener_v2 -> discard.
func init() {
	for _, s := range []struct{ name, server, desc string }{
		{"http-null", "embedhttp", "64 keep-alive clients POST one small JSON record per request to the http input (embedhttp) -> null"},
		{"http-null-nethttp", "net/http", "the same load and handler on Go's net/http server, for the ratio"},
	} {
		server := s.server
		sc := &Scenario{Name: s.name, Desc: s.desc, Records: 300_000, Run: func(env *Env) (Result, error) {
			return runHTTP(env, httpSetup{server: server})
		}}
		if server == "embedhttp" {
			sc.Peers = []string{"fluent-bit", "telegraf"}
		}
		register(sc)
	}
}

const httpClients = 64

// httpBody is the record every request carries.
var httpBody = []byte(`{"msg":"GET /api/v1/items 200 12ms","level":"info","host":"web-1","n":42}`)

// httpSetup is what differs between the http-driven scenarios.
type httpSetup struct {
	server   string // our http input's server key ("" leaves the default)
	storage  string // "" memory; "normal" or "full": filesystem with that storage.sync
	file     bool   // output to a file (and wait for every line) instead of null
	maxCount int    // cap on records (storage.sync full is slow), 0: none
}

// classic returns the agent configuration in Fluent Bit's classic format.
func (s httpSetup) classic(env *Env, port int, ours bool) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "[SERVICE]\n    flush 0.2\n    log_level info\n")
	if s.storage != "" {
		fmt.Fprintf(&b, "    storage.path %s\n    storage.sync %s\n", filepath.Join(env.Dir, "storage"), s.storage)
	}
	fmt.Fprintf(&b, "[INPUT]\n    name http\n    listen 127.0.0.1\n    port %d\n    mem_buf_limit 64M\n", port)
	if s.storage != "" {
		b.WriteString("    storage.type filesystem\n")
	}
	if ours && s.server != "" {
		fmt.Fprintf(&b, "    server %s\n", s.server)
	}
	if s.file {
		fmt.Fprintf(&b, "[OUTPUT]\n    name file\n    match *\n    path %s\n    file out.log\n    format plain\n", env.Dir)
	} else {
		b.WriteString("[OUTPUT]\n    name null\n    match *\n")
	}
	return b.String()
}

func telegrafHTTP(port int) string {
	return fmt.Sprintf(`[agent]
  interval = "10s"
  flush_interval = "1s"
  metric_batch_size = 10000
  metric_buffer_limit = 1000000
  omit_hostname = true
[[inputs.http_listener_v2]]
  service_address = "127.0.0.1:%d"
  paths = ["/app.log"]
  methods = ["POST"]
  data_format = "json"
  json_string_fields = ["msg", "level", "host"]
[[outputs.discard]]
`, port)
}

func runHTTP(env *Env, s httpSetup) (Result, error) {
	port, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	records := env.Records
	if s.maxCount > 0 {
		records = min(records, s.maxCount)
	}
	var a *Agent
	switch {
	case env.Peer == nil:
		a, err = env.StartAgent(s.classic(env, port, true))
	case env.Peer.Kind == "telegraf":
		a, err = env.StartPeer(telegrafHTTP(port), ".toml", addr)
	default:
		a, err = env.StartPeer(s.classic(env, port, false), ".conf", addr)
	}
	if err != nil {
		return Result{}, err
	}
	req := []byte("POST /app.log HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(httpBody)) + "\r\n\r\n" + string(httpBody))

	cpu0 := a.CPU()
	start := time.Now()
	lat, busy, err := driveHTTP(addr, req, records)
	if err != nil {
		log := a.Log()
		return Result{}, fmt.Errorf("client: %w; agent log ends with:\n%s", err, log[max(0, len(log)-3000):])
	}
	if s.file {
		if err := waitFileLines(filepath.Join(env.Dir, "out.log"), records, 2*time.Minute); err != nil {
			return Result{}, err
		}
	}
	elapsed := time.Since(start)
	cpu := a.CPU() - cpu0
	rss := a.PeakRSS()
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if env.Peer == nil && (in != records || out != records) {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	res := Result{Records: records, Elapsed: elapsed, AgentCPU: cpu, PeakRSS: rss}
	res.P50, res.P99 = percentiles(lat)
	res.Note = fmt.Sprintf("%.0f req per agent CPU-s; %d retried 503s", float64(records)/cpu.Seconds(), busy)
	if env.Peer == nil && s.server != "" {
		res.Note = s.server + "; " + res.Note
	}
	if s.storage != "" {
		m := fsyncsRE.FindStringSubmatch(a.Log())
		if env.Peer == nil && m != nil {
			n, _ := strconv.Atoi(m[1])
			perFsync := "-"
			if n > 0 {
				perFsync = fmt.Sprintf("%.1f", float64(records)/float64(n))
			}
			res.Note += fmt.Sprintf("; sync %s: %d fsyncs, %.0f/s, %s records per fsync", s.storage, n, float64(n)/elapsed.Seconds(), perFsync)
		}
	}
	return res, nil
}

// driveHTTP sends records requests from httpClients keep-alive connections and returns
// each request's latency and how many 503s were retried.
func driveHTTP(addr string, req []byte, records int) ([]time.Duration, int64, error) {
	var next atomic.Int64 // requests handed out
	var busy atomic.Int64 // 503 answers (retried)
	var wg sync.WaitGroup
	errc := make(chan error, httpClients)
	lats := make([][]time.Duration, httpClients)
	for c := 0; c < httpClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := httpClient(addr, req, int64(records), &next, &busy)
			lats[c] = l
			if err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, 0, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, busy.Load(), nil
}

// httpClient sends requests on one keep-alive connection until total have been handed
// out, and reads each answer before sending the next. A 503 is sent again after 10 ms
// (what a client told Retry-After would do, shortened). It returns the latency of every
// accepted request, from its first write to its 2xx.
func httpClient(addr string, req []byte, total int64, next, busy *atomic.Int64) ([]time.Duration, error) {
	var conn net.Conn
	var r *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var lat []time.Duration
	for next.Add(1) <= total {
		t0 := time.Now()
		for attempt := 0; ; attempt++ {
			if conn == nil {
				var err error
				if conn, err = net.Dial("tcp", addr); err != nil {
					return lat, err
				}
				r = bufio.NewReaderSize(conn, 4096)
			}
			if _, err := conn.Write(req); err != nil {
				return lat, err
			}
			code, closing, err := readResponse(r)
			if err != nil {
				return lat, err
			}
			if closing { // the server said Connection: close
				conn.Close()
				conn = nil
			}
			if code >= 200 && code < 300 {
				lat = append(lat, time.Since(t0))
				break
			}
			if code != 503 || attempt > 1000 {
				return lat, fmt.Errorf("status %d", code)
			}
			busy.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	}
	return lat, nil
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

// waitFileLines waits until path holds n lines. Every record renders to the same line, so
// the size tells: n times the first line's length. Polled: a file offers no signal.
func waitFileLines(path string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	lineLen := int64(0)
	var size int64
	for time.Now().Before(deadline) {
		if lineLen == 0 {
			if f, err := os.Open(path); err == nil {
				l, _ := bufio.NewReader(f).ReadSlice('\n')
				f.Close()
				if len(l) > 0 && l[len(l)-1] == '\n' {
					lineLen = int64(len(l))
				}
			}
		}
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
			if lineLen > 0 && size >= int64(n)*lineLen {
				if size != int64(n)*lineLen {
					return fmt.Errorf("%s: %d bytes, want %d lines of %d bytes", path, size, n, lineLen)
				}
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: %d bytes after %v; want %d lines of %d bytes", path, size, timeout, n, lineLen)
}
