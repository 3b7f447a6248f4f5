package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The attack suite (issue 14): the daemon is attacked as a reliability tester would, and
// every record that got a 2xx must arrive at the destination (duplicates are allowed and
// counted; a loss fails). Each attack is bounded in records and time; everything runs on
// 127.0.0.1. Each attack logs one row of the table docs/reliability.md shows (go test -v),
// and with FLUENTBIT_ATTACK_REPORT=file appends it to that file.
//
// The agent under attack takes records over its HTTP input and sends them on with its
// HTTP or forward output; where a receiver process is attacked, the receiver is a second
// daemon (forward input, filesystem storage with sync full, HTTP output) in front of the
// counting destination.

// attackScale multiplies the records (and the kills, flaps and reloads) of every attack:
// FLUENTBIT_ATTACK_SCALE=10 makes a longer run than CI's (which takes about 25 s with
// -race on 2 cores). Not tied to -short: CI runs the suite at scale 1.
func attackScale() int {
	if n, err := strconv.Atoi(os.Getenv("FLUENTBIT_ATTACK_SCALE")); err == nil && n > 1 {
		return n
	}
	return 1
}

// attackRow is one line of the table.
type attackRow struct {
	attack     string
	acked      int   // records answered 2xx
	delivered  int   // of those, how many arrived
	dups       int   // arrivals beyond the first of a record
	connErrs   int64 // requests that got no answer (refused, reset)
	refused    int64 // requests answered 503
	rssPeakKiB int64 // the agent's VmHWM, the highest over its runs
	took       time.Duration
}

func reportRow(t *testing.T, r attackRow) {
	t.Helper()
	line := fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %.1f | %.1f |", r.attack, r.acked, r.delivered, r.dups,
		r.connErrs, r.refused, float64(r.rssPeakKiB)/1024, r.took.Seconds())
	t.Log("attack table row: " + line)
	if path := os.Getenv("FLUENTBIT_ATTACK_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		fmt.Fprintln(f, line)
		f.Close()
	}
}

// peakRSS returns the process's peak resident set (VmHWM) in KiB, 0 when it is gone.
func (p *proc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// kill9 sends SIGKILL and waits for the process to be gone; it returns its peak RSS.
func (p *proc) kill9() int64 {
	p.t.Helper()
	rss := p.peakRSS()
	p.signal(syscall.SIGKILL)
	p.wait()
	return rss
}

// term sends SIGTERM and waits for a clean exit; it returns its peak RSS.
func (p *proc) term() int64 {
	p.t.Helper()
	rss := p.peakRSS()
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		p.t.Errorf("exit code %d after SIGTERM", code)
	}
	return rss
}

// load posts batches of records {"n": i} to an HTTP input, steadily, and goes on through
// refusals and dead agents (counted, then retried after a short pause) until every batch
// is acknowledged or ctx ends. Connections are not kept alive: a refused or reset
// connection is then the agent's doing, not HTTP/1.1's race of a POST on a connection the
// server has just closed idle.
type load struct {
	url   string
	batch int
	pace  time.Duration // pause between requests: a steady stream rather than a flood

	mu        sync.Mutex
	acked     []int
	connErrs  atomic.Int64
	refused   atomic.Int64 // 503
	badStatus atomic.Int64 // anything else that is not 2xx
	lastBad   atomic.Value // string: the last unexpected answer
	ackedC    chan struct{}
	done      chan struct{}
}

func newLoad(url string, batch int, pace time.Duration) *load {
	return &load{url: url, batch: batch, pace: pace, ackedC: make(chan struct{}, 1), done: make(chan struct{})}
}

var loadClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (l *load) start(ctx context.Context, from, upTo int) {
	go func() {
		defer close(l.done)
		for i := from; i < upTo && ctx.Err() == nil; {
			n := min(l.batch, upTo-i)
			var body bytes.Buffer
			body.WriteByte('[')
			for j := 0; j < n; j++ {
				if j > 0 {
					body.WriteByte(',')
				}
				fmt.Fprintf(&body, `{"n":%d,"msg":"a line of log text as a device would send it"}`, i+j)
			}
			body.WriteByte(']')
			resp, err := loadClient.Post(l.url, "application/json", &body)
			pause := l.pace
			switch {
			case err != nil:
				l.connErrs.Add(1)
				pause = max(pause, 20*time.Millisecond)
			case resp.StatusCode/100 == 2:
				l.mu.Lock()
				for j := 0; j < n; j++ {
					l.acked = append(l.acked, i+j)
				}
				l.mu.Unlock()
				select {
				case l.ackedC <- struct{}{}:
				default:
				}
				i += n
			case resp.StatusCode == 503:
				l.refused.Add(1)
				pause = max(pause, 50*time.Millisecond)
			default:
				msg, _ := io.ReadAll(resp.Body)
				l.badStatus.Add(1)
				l.lastBad.Store(fmt.Sprintf("%d %s", resp.StatusCode, msg))
				pause = max(pause, 50*time.Millisecond)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if pause > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}
	}()
}

func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *load) ackedList() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.acked...)
}

// waitAcked waits until at least n records are acknowledged.
func (l *load) waitAcked(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for l.ackedCount() < n {
		select {
		case <-l.ackedC:
		case <-l.done:
			if l.ackedCount() < n {
				t.Fatalf("the sender stopped after %d acknowledged records, want %d", l.ackedCount(), n)
			}
		case <-ctx.Done():
			t.Fatalf("%d acknowledged records, want %d: %v", l.ackedCount(), n, ctx.Err())
		}
	}
}

// finish waits for the sender to have every record acknowledged.
func (l *load) finish(t *testing.T, ctx context.Context, upTo int) {
	t.Helper()
	select {
	case <-l.done:
	case <-ctx.Done():
	}
	if got := l.ackedCount(); got != upTo {
		t.Fatalf("%d of %d records acknowledged (%d connection errors, %d 503s, %d other answers, last %v)",
			got, upTo, l.connErrs.Load(), l.refused.Load(), l.badStatus.Load(), l.lastBad.Load())
	}
	if n := l.badStatus.Load(); n > 0 {
		t.Errorf("%d answers neither 2xx nor 503, the last %v", n, l.lastBad.Load())
	}
}

// tally checks that every acknowledged record reached d and counts the duplicates.
func tally(t *testing.T, d *destination, acked []int) (delivered, dups int) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range acked {
		if d.seen[n] > 0 {
			delivered++
		}
	}
	for _, c := range d.seen {
		dups += c - 1
	}
	if delivered != len(acked) {
		t.Errorf("LOSS: %d of %d acknowledged records arrived", delivered, len(acked))
	}
	return delivered, dups
}

// agentConfig writes the agent's configuration: an HTTP input (filesystem storage when
// storagePath is set) and either an HTTP output to port out, or with forward, a forward
// output (acks per ack) to port out.
func agentConfig(t *testing.T, dir, name, storagePath string, in, out int, forward, ack bool) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "service:\n  flush: 0.2\n  grace: 2\n  log_level: info\n  scheduler.base: 0.2\n  scheduler.cap: 1\n")
	if storagePath != "" {
		fmt.Fprintf(&b, "  storage.path: %s\n  storage.sync: normal\n", storagePath)
	}
	fmt.Fprintf(&b, "pipeline:\n  inputs:\n    - name: http\n      listen: 127.0.0.1\n      port: %d\n      tag: attack\n", in)
	if storagePath != "" {
		b.WriteString("      storage.type: filesystem\n")
	} else {
		b.WriteString("      mem_buf_limit: 4M\n")
	}
	b.WriteString("  outputs:\n")
	if forward {
		fmt.Fprintf(&b, "    - name: forward\n      match: '*'\n      host: 127.0.0.1\n      port: %d\n      require_ack_response: %v\n      net.connect_timeout: 1s\n", out, ack)
	} else {
		fmt.Fprintf(&b, "    - name: http\n      match: '*'\n      host: 127.0.0.1\n      port: %d\n      format: json_lines\n      net.connect_timeout: 1s\n", out)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// receiverConfig writes a receiver's configuration: a forward input with filesystem
// storage synced per record (an ack means on disk), an HTTP output to port out.
func receiverConfig(t *testing.T, dir string, in, out int) string {
	t.Helper()
	cfg := fmt.Sprintf(`service:
  flush: 0.2
  grace: 2
  scheduler.base: 0.2
  scheduler.cap: 1
  storage.path: %s
  storage.sync: full
pipeline:
  inputs:
    - name: forward
      listen: 127.0.0.1
      port: %d
      storage.type: filesystem
  outputs:
    - name: http
      match: '*'
      host: 127.0.0.1
      port: %d
      format: json_lines
      net.connect_timeout: 1s
`, filepath.Join(dir, "receiver-storage"), in, out)
	path := filepath.Join(dir, "receiver.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitSeen waits until d has received at least n records (any).
func (d *destination) waitSeen(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		d.mu.Lock()
		got := len(d.seen)
		d.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-d.poke:
		case <-deadline:
			t.Fatalf("destination saw %d records, want %d", got, n)
		}
	}
}

// TestAttackKill9 kills the agent with SIGKILL while the receiver is down, restarts it
// and kills it again as it loads its backlog, restarts it, brings the receiver up and kills the agent again while it replays its backlog; a last
// restart delivers everything. With a forward output, acks on and off; with the HTTP
// output (a 2xx is its ack).
func TestAttackKill9(t *testing.T) {
	for _, tc := range []struct {
		name    string
		forward bool
		ack     bool
		records int
		killAt  int
	}{
		{"forward-ack", true, true, 20000, 8000},
		{"forward-noack", true, false, 20000, 8000},
		{"http", false, false, 20000, 8000},
	} {
		tc.records *= attackScale()
		tc.killAt *= attackScale()
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(attackScale())*90*time.Second)
			defer cancel()
			dir := t.TempDir()
			inPort, recvPort, destPort := freePort(t), freePort(t), freePort(t)
			out := destPort
			if tc.forward {
				out = recvPort
			}
			cfg := agentConfig(t, dir, "agent.yaml", filepath.Join(dir, "storage"), inPort, out, tc.forward, tc.ack)

			// 1: receiver down; the agent takes a stream; SIGKILL in the middle of it.
			a := start(t, "-c", cfg)
			a.waitLog("fluentbit-go started", 1)
			l := newLoad(fmt.Sprintf("http://127.0.0.1:%d/attack", inPort), 50, 0)
			l.start(ctx, 0, tc.records)
			l.waitAcked(t, ctx, tc.killAt)
			rss := a.kill9()

			// 2: restart and SIGKILL at once, while the backlog is being loaded.
			a = start(t, "-c", cfg)
			a.waitLog("storage: backlog loaded", 1)
			rss = max(rss, a.kill9())

			// 3: restart; the receiver comes up; SIGKILL while the backlog is replayed.
			a = start(t, "-c", cfg)
			d := startDestination(t, destPort, false)
			var recv *proc
			if tc.forward {
				recv = start(t, "-c", receiverConfig(t, dir, recvPort, destPort))
				recv.waitLog("fluentbit-go started", 1)
			}
			d.waitSeen(t, 1, waitLimit)
			rss = max(rss, a.kill9())

			// 4: restart; everything acknowledged arrives.
			a = start(t, "-c", cfg)
			a.waitLog("fluentbit-go started", 1)
			l.finish(t, ctx, tc.records)
			acked := l.ackedList()
			d.waitAll(t, acked, time.Minute)
			rss = max(rss, a.term())
			if recv != nil {
				recv.term()
			}
			delivered, dups := tally(t, d, acked)
			reportRow(t, attackRow{attack: "kill -9 agent, receiver down then up (" + tc.name + ")", acked: len(acked), delivered: delivered,
				dups: dups, connErrs: l.connErrs.Load(), refused: l.refused.Load(), rssPeakKiB: rss, took: time.Since(began)})
		})
	}
}

// TestAttackReceiverFlapping stops and kills the receiver (SIGTERM, SIGKILL, twice each)
// under a steady input; the agent's forward output waits for acks. The receiver acks only
// what it has synced to disk, so nothing acknowledged to the agent's client may be lost.
func TestAttackReceiverFlapping(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(attackScale())*90*time.Second)
	defer cancel()
	dir := t.TempDir()
	inPort, recvPort, destPort := freePort(t), freePort(t), freePort(t)
	records := 20000 * attackScale()
	d := startDestination(t, destPort, false)
	rcfg := receiverConfig(t, dir, recvPort, destPort)
	recv := start(t, "-c", rcfg)
	recv.waitLog("fluentbit-go started", 1)
	a := start(t, "-c", agentConfig(t, dir, "agent.yaml", filepath.Join(dir, "storage"), inPort, recvPort, true, true))
	a.waitLog("fluentbit-go started", 1)
	l := newLoad(fmt.Sprintf("http://127.0.0.1:%d/attack", inPort), 20, 2*time.Millisecond)
	l.start(ctx, 0, records)
	flaps := 4 * attackScale()
	for i := 0; i < flaps; i++ {
		sig := []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}[i%2]
		l.waitAcked(t, ctx, (i+1)*records/(flaps+2))
		recv.signal(sig)
		recv.wait()
		select {
		case <-time.After(300 * time.Millisecond): // the receiver stays down a while: the agent's retries meet a closed port
		case <-ctx.Done():
		}
		recv = start(t, "-c", rcfg)
		recv.waitLog("fluentbit-go started", 1)
	}
	l.finish(t, ctx, records)
	acked := l.ackedList()
	d.waitAll(t, acked, time.Minute)
	rss := a.term()
	recv.term()
	delivered, dups := tally(t, d, acked)
	reportRow(t, attackRow{attack: fmt.Sprintf("receiver flapping: SIGTERM and SIGKILL ×%d (forward, acks)", flaps/2), acked: len(acked), delivered: delivered,
		dups: dups, connErrs: l.connErrs.Load(), refused: l.refused.Load(), rssPeakKiB: rss, took: time.Since(began)})
	if n := l.connErrs.Load(); n > 0 {
		t.Errorf("%d connection errors at the agent's input while only the receiver flapped", n)
	}
}

// TestAttackSIGHUPStorm reloads the agent ten times under a steady input, the first five
// with the destination down (the reloads find undelivered chunks), the last five with it
// up. The input must keep accepting throughout: no connection is refused.
func TestAttackSIGHUPStorm(t *testing.T) {
	for _, fs := range []bool{false, true} {
		name := "memory"
		if fs {
			name = "filesystem"
		}
		t.Run(name, func(t *testing.T) {
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(attackScale())*90*time.Second)
			defer cancel()
			dir := t.TempDir()
			inPort, destPort := freePort(t), freePort(t)
			storagePath := ""
			if fs {
				storagePath = filepath.Join(dir, "storage")
			}
			records, reloads := 6000*attackScale(), 10*attackScale()
			a := start(t, "-c", agentConfig(t, dir, "agent.yaml", storagePath, inPort, destPort, false, false))
			a.waitLog("fluentbit-go started", 1)
			l := newLoad(fmt.Sprintf("http://127.0.0.1:%d/attack", inPort), 20, 2*time.Millisecond)
			l.start(ctx, 0, records)
			var d *destination
			for i := 0; i < reloads; i++ {
				if i == reloads/2 {
					d = startDestination(t, destPort, false)
				}
				l.waitAcked(t, ctx, (i+1)*records/(reloads+2))
				a.signal(syscall.SIGHUP)
				a.waitLog("reloading configuration", i+1)
			}
			l.finish(t, ctx, records)
			acked := l.ackedList()
			d.waitAll(t, acked, time.Minute)
			rss := a.term()
			delivered, dups := tally(t, d, acked)
			reportRow(t, attackRow{attack: fmt.Sprintf("SIGHUP ×%d under load, destination down for the first half (%s)", reloads, name), acked: len(acked), delivered: delivered,
				dups: dups, connErrs: l.connErrs.Load(), refused: l.refused.Load(), rssPeakKiB: rss, took: time.Since(began)})
			if n := l.connErrs.Load(); n > 0 {
				t.Errorf("%d requests found the input closed during reloads: it must keep accepting", n)
			}
		})
	}
}

// TestAttackDiskFull puts the agent's storage on a 1 MiB tmpfs with the destination
// down: the disk fills, the input answers 503 (never 500, never showing a path), nothing
// acknowledged is lost, and once the destination is up and space returns everything is
// delivered. It needs root and mount (skipped with the reason otherwise).
func TestAttackDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	began := time.Now()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "tmpfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(attackScale())*90*time.Second)
	defer cancel()
	inPort, destPort := freePort(t), freePort(t)
	records := 30000 * attackScale() // about 3 MB of chunks per 30000: three times the disk
	a := start(t, "-c", agentConfig(t, dir, "agent.yaml", filepath.Join(mnt, "storage"), inPort, destPort, false, false))
	a.waitLog("fluentbit-go started", 1)
	url := fmt.Sprintf("http://127.0.0.1:%d/attack", inPort)
	l := newLoad(url, 100, 0)
	l.start(ctx, 0, records)
	deadline := time.Now().Add(30 * time.Second)
	for l.refused.Load() < 5 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("no 503 from a full disk: %d acknowledged, %d other answers (last %v)", l.ackedCount(), l.badStatus.Load(), l.lastBad.Load())
		}
		select {
		case <-l.ackedC:
		case <-time.After(50 * time.Millisecond):
		}
	}
	// What a client sees while the disk is full.
	resp, err := loadClient.Post(url, "application/json", strings.NewReader(`{"n":-1}`))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && (bytes.Contains(body, []byte(mnt)) || bytes.Contains(body, []byte(".flb"))) {
			t.Errorf("the 503 shows the agent's files: %q", body)
		}
	}
	d := startDestination(t, destPort, false)
	l.finish(t, ctx, records)
	acked := l.ackedList()
	d.waitAll(t, acked, time.Minute)
	rss := a.term()
	delivered, dups := tally(t, d, acked)
	reportRow(t, attackRow{attack: "disk full (1 MiB tmpfs), destination down then up", acked: len(acked), delivered: delivered,
		dups: dups, connErrs: l.connErrs.Load(), refused: l.refused.Load(), rssPeakKiB: rss, took: time.Since(began)})
	if l.badStatus.Load() > 0 {
		t.Errorf("answers other than 2xx and 503 while the disk was full: last %v", l.lastBad.Load())
	}
}

// hostileForward are payloads a broken or malicious forward client may send.
var hostileForward = [][]byte{
	[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	{0x93, 0x01, 0x02, 0x03},                                                 // [1,2,3]: no tag
	{0x92, 0xa1, 't', 0xdd, 0xff, 0xff, 0xff, 0xff},                          // an array claiming 4 G entries
	{0x92, 0xa1, 't', 0xdb, 0x7f, 0xff, 0xff, 0xff},                          // a string claiming 2 GB
	{0x92, 0xa1, 't', 0xdf, 0xff, 0xff, 0xff, 0xff},                          // a map claiming 4 G pairs
	append([]byte{0x92, 0xa1, 't'}, bytes.Repeat([]byte{0x91}, 100000)...),   // nested 100 000 deep
	{0x93, 0xa1, 't', 0xd7, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x80},              // Message mode, [tag, EventTime, {}] : fine
	{0x94, 0xa1, 't', 0x01, 0x80, 0x81, 0xa5, 'c', 'h', 'u', 'n', 'k', 0xc0}, // an ack asked for with a nil chunk id
	{0x92, 0xa1, 't', 0xc6, 0x7f, 0xff, 0xff, 0xff},                          // PackedForward claiming 2 GB
	{0x93, 0xa1, 't', 0xc4, 0x04, 0x1f, 0x8b, 0x08, 0x00, 0x81, 0xaa, 'c', 'o', 'm', 'p', 'r', 'e', 's', 's', 'e', 'd', 0xa4, 'g', 'z', 'i', 'p'}, // gzip claimed, not gzip
	bytes.Repeat([]byte{0xc1}, 4096), // never-used byte
}

// hostileHTTP are requests a broken or malicious HTTP client may send, with the status the
// input must answer (0: any answer or a close, as long as the agent lives).
var hostileHTTP = []struct {
	req    string
	status int
}{
	{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	{"POST /x HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n", 431},
	{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413},
	{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\":1e4", 400},
	{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":1e400}", 201},
	{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n" + strings.Repeat("[", 400), 400},
	{"DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n", 405},
	{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
	{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}", 415},
	{"\x00\x01\x02garbage\r\n\r\n", 400},
}

// TestAttackHostilePayloads sends hostile forward and HTTP payloads, slowloris
// connections and silent connections beside a normal client: the agent lives, answers
// each hostile request as documented, and the normal client's records all arrive.
func TestAttackHostilePayloads(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(attackScale())*90*time.Second)
	defer cancel()
	dir := t.TempDir()
	inPort, fwdPort, destPort := freePort(t), freePort(t), freePort(t)
	d := startDestination(t, destPort, false)
	cfg := fmt.Sprintf(`service:
  flush: 0.2
  grace: 2
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: %d
      tag: attack
    - name: forward
      listen: 127.0.0.1
      port: %d
      tag: hostile
  outputs:
    - name: http
      match: attack
      host: 127.0.0.1
      port: %d
      format: json_lines
    - name: null
      match: hostile
`, inPort, fwdPort, destPort)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a := start(t, "-c", path)
	a.waitLog("fluentbit-go started", 1)
	records := 3000 * attackScale()
	l := newLoad(fmt.Sprintf("http://127.0.0.1:%d/attack", inPort), 10, 2*time.Millisecond)
	l.start(ctx, 0, records)

	var wg sync.WaitGroup
	// Slowloris: a header byte every 100 ms, on 20 connections, for at most 3 s each.
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", inPort), 5*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			head := "POST /attack HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
			for j := 0; j < 30 && j < len(head); j++ {
				if _, err := c.Write([]byte{head[j]}); err != nil {
					return // cut off: what should happen
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	// Silent connections: 100 that never send a byte.
	var silent []net.Conn
	for i := 0; i < 100; i++ {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", inPort), 5*time.Second); err == nil {
			silent = append(silent, c)
		}
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	// Hostile forward payloads, each on its own connection: the agent may close it, must
	// not die, and must not ack anything.
	for i, p := range hostileForward {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", fwdPort), 5*time.Second)
		if err != nil {
			t.Fatalf("forward payload %d: %v", i, err)
		}
		c.Write(p)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	// Hostile HTTP requests, each on its own connection.
	for i, h := range hostileHTTP {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", inPort), 5*time.Second)
		if err != nil {
			t.Fatalf("http request %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte(h.req))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		switch {
		case err != nil && h.status != 0:
			t.Errorf("http request %d (%.40q): no answer (%v), want %d", i, h.req, err, h.status)
		case err == nil && h.status != 0 && resp.StatusCode != h.status:
			t.Errorf("http request %d (%.40q): %d, want %d", i, h.req, resp.StatusCode, h.status)
		}
		c.Close()
	}
	wg.Wait()
	l.finish(t, ctx, records)
	acked := l.ackedList()
	d.waitAll(t, acked, time.Minute)
	select {
	case <-a.done:
		t.Fatalf("the agent died (exit code %d)", a.code)
	default:
	}
	rss := a.term()
	delivered, dups := tally(t, d, acked)
	reportRow(t, attackRow{attack: "hostile forward and HTTP payloads, 20 slowloris, 100 silent connections", acked: len(acked),
		delivered: delivered, dups: dups, connErrs: l.connErrs.Load(), refused: l.refused.Load(), rssPeakKiB: rss, took: time.Since(began)})
	if n := l.connErrs.Load(); n > 0 {
		t.Errorf("the normal client had %d connection errors beside the attack", n)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("the attack ran out of time")
	}
}
