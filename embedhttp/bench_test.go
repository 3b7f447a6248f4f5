package embedhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks serve the same small POST (a JSON record, like the HTTP input gets)
// with the same handler logic on embedhttp and on net/http, side by side in one run:
//
//	go test -run XXX -bench SmallPOST -benchmem ./embedhttp
//
// "inmem" drives one keep-alive connection over an in-memory net.Conn (parser, framing
// and handler only); "loopback" runs real TCP on 127.0.0.1 with 8 keep-alive clients in
// a child process, so its CPU time (server-cpu-ns/op, req/cpu-s) and allocs/op are the
// server's alone; "loopback-pipelined16" has each client send 16 requests per write.
// The "ratio" entries report how many times cheaper a request is on embedhttp than on
// net/http, from the latest runs before them: wall ns/op for inmem (one goroutine),
// server CPU ns/op for loopback.

var smallPOST = []byte("POST /app.log HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n" +
	"Content-Type: application/json\r\nContent-Length: 46\r\n\r\n" +
	`{"message":"dummy","level":"info","temp":21.5}`)

var benchSink atomic.Int64

// ourPOST is the embedhttp handler: check, consume the body, answer 201.
var ourPOST = HandlerFunc(func(w *Response, r *Request) {
	if !r.IsMethod("POST") || len(r.Body()) == 0 {
		w.SetStatus(400)
		return
	}
	benchSink.Add(int64(len(r.Body())))
	w.SetStatus(201)
})

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// stdPOST is the same handler for net/http, reading the body into a pooled buffer
// so the comparison is about the servers, not the handler.
var stdPOST = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.ContentLength <= 0 || r.ContentLength > 4096 {
		w.WriteHeader(400)
		return
	}
	bp := bodyPool.Get().(*[]byte)
	n, _ := io.ReadFull(r.Body, (*bp)[:r.ContentLength])
	bodyPool.Put(bp)
	benchSink.Add(int64(n))
	w.WriteHeader(201)
})

type oneConnListener struct {
	c      net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}
func (l *oneConnListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}
func (l *oneConnListener) Addr() net.Addr { return memAddr }

func BenchmarkSmallPOST(b *testing.B) {
	// cost per request of the latest run of each case: CPU ns where measured
	// (loopback: wall time is at the mercy of other load on the machine), else wall ns.
	cost := map[string]float64{}
	record := func(name string, b *testing.B, elapsed time.Duration) {
		cost[name] = float64(elapsed.Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	}
	ratio := func(b *testing.B, base, ours string) {
		for i := 0; i < b.N; i++ {
		}
		if cost[ours] > 0 {
			b.ReportMetric(cost[base]/cost[ours], "x-nethttp")
		}
	}

	b.Run("inmem/embedhttp", func(b *testing.B) {
		s := memServer(b, &Server{Handler: ourPOST})
		m := &memConn{repeat: smallPOST, n: b.N, discard: true}
		s.serveMem(&memConn{repeat: smallPOST, n: 10, discard: true}) // warm the pools
		b.ReportAllocs()
		b.ResetTimer()
		t0 := time.Now()
		s.serveMem(m)
		record("inmem/embedhttp", b, time.Since(t0))
		if s.Stats().BadRequests != 0 || !bytes.Contains(smallPOST, []byte("dummy")) {
			b.Fatal("bad requests")
		}
	})
	b.Run("inmem/nethttp", func(b *testing.B) {
		srv := &http.Server{Handler: stdPOST}
		m := &memConn{repeat: smallPOST, n: b.N, discard: true, closed: make(chan struct{})}
		ln := &oneConnListener{c: m, closed: make(chan struct{})}
		b.ReportAllocs()
		b.ResetTimer()
		t0 := time.Now()
		go srv.Serve(ln)
		<-m.closed
		record("inmem/nethttp", b, time.Since(t0))
		b.StopTimer()
		srv.Close()
	})
	b.Run("inmem/ratio", func(b *testing.B) { ratio(b, "inmem/nethttp", "inmem/embedhttp") })

	for _, lb := range []struct {
		name  string
		depth int
	}{{"loopback", 1}, {"loopback-pipelined16", 16}} {
		b.Run(lb.name+"/embedhttp", func(b *testing.B) {
			s := start(b, &Server{Handler: ourPOST})
			cost[lb.name+"/embedhttp"] = loopback(b, s.ListenAddr().String(), lb.depth)
		})
		b.Run(lb.name+"/nethttp", func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: stdPOST}
			go srv.Serve(ln)
			defer srv.Shutdown(context.Background())
			cost[lb.name+"/nethttp"] = loopback(b, ln.Addr().String(), lb.depth)
		})
		b.Run(lb.name+"/ratio", func(b *testing.B) { ratio(b, lb.name+"/nethttp", lb.name+"/embedhttp") })
	}
}

// loopback drives addr with 8 keep-alive clients running in a child process (this
// test binary, see TestLoopbackClientProcess), so the CPU time and allocations
// measured here are the server's alone.
func loopback(b *testing.B, addr string, depth int) (cpuPerReq float64) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cmd := exec.Command(exe, "-test.run=^TestLoopbackClientProcess$")
	cmd.Env = append(os.Environ(), "EMBEDHTTP_BENCH_ADDR="+addr, "EMBEDHTTP_BENCH_N="+strconv.Itoa(b.N), "EMBEDHTTP_BENCH_CONNS=8",
		"EMBEDHTTP_BENCH_PIPELINE="+strconv.Itoa(depth))
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	b.ResetTimer()
	cpu0 := processCPU()
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("client process: %v", err)
	}
	elapsed := time.Since(t0)
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	cpuPerReq = float64(cpu.Nanoseconds()) / float64(b.N)
	b.ReportMetric(cpuPerReq, "server-cpu-ns/op")
	b.ReportMetric(1e9/cpuPerReq, "req/cpu-s")
	return cpuPerReq
}

// TestLoopbackClientProcess is the client side of the loopback benchmark, run in a
// child process; it skips in a normal test run.
func TestLoopbackClientProcess(t *testing.T) {
	addr := os.Getenv("EMBEDHTTP_BENCH_ADDR")
	if addr == "" {
		t.Skip("helper process for BenchmarkSmallPOST/loopback")
	}
	n, _ := strconv.Atoi(os.Getenv("EMBEDHTTP_BENCH_N"))
	conns, _ := strconv.Atoi(os.Getenv("EMBEDHTTP_BENCH_CONNS"))
	depth, _ := strconv.Atoi(os.Getenv("EMBEDHTTP_BENCH_PIPELINE"))
	if depth > 1 {
		pipelinedClients(t, addr, int64(n), conns, depth)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newBenchClient(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.nc.Close()
			for next.Add(1) <= int64(n) {
				if err := c.roundTrip(smallPOST); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// benchClient is a zero-allocation keep-alive client for fixed requests.
type benchClient struct {
	nc         net.Conn
	buf        []byte
	start, end int
}

func newBenchClient(addr string) (*benchClient, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &benchClient{nc: nc, buf: make([]byte, 8192)}, nil
}

var (
	crlfcrlf      = []byte("\r\n\r\n")
	clHeader      = []byte("\r\nContent-Length: ")
	status201     = []byte("HTTP/1.1 201 ")
	errBadBenchRs = errors.New("unexpected response")
)

func (c *benchClient) roundTrip(req []byte) error {
	if _, err := c.nc.Write(req); err != nil {
		return err
	}
	return c.readOne()
}

// readOne reads one 201 response.
func (c *benchClient) readOne() error {
	for {
		data := c.buf[c.start:c.end]
		if i := bytes.Index(data, crlfcrlf); i >= 0 {
			head := data[:i+2]
			if !bytes.HasPrefix(head, status201) {
				return errBadBenchRs
			}
			cl := 0
			if j := bytes.Index(head, clHeader); j >= 0 {
				for _, ch := range head[j+len(clHeader):] {
					if ch < '0' || ch > '9' {
						break
					}
					cl = cl*10 + int(ch-'0')
				}
			}
			total := i + 4 + cl
			if len(data) >= total {
				c.start += total
				if c.start == c.end {
					c.start, c.end = 0, 0
				}
				return nil
			}
		}
		if c.end == len(c.buf) {
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		n, err := c.nc.Read(c.buf[c.end:])
		if err != nil {
			return err
		}
		c.end += n
	}
}

// pipelinedClients sends depth requests per write and then reads their responses.
func pipelinedClients(t *testing.T, addr string, n int64, conns, depth int) {
	batch := bytes.Repeat(smallPOST, depth)
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newBenchClient(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.nc.Close()
			for {
				first := next.Add(int64(depth)) - int64(depth)
				if first >= n {
					return
				}
				k := int(min(int64(depth), n-first))
				if _, err := c.nc.Write(batch[:k*len(smallPOST)]); err != nil {
					t.Error(err)
					return
				}
				for j := 0; j < k; j++ {
					if err := c.readOne(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
