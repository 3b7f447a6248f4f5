package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Crash tests of filesystem storage: the daemon takes records over its HTTP input (a 2xx
// answer is its acknowledgement) and sends them with its HTTP output to a destination that
// is down, is killed with SIGKILL, restarted, and the destination comes up.

// destination is an HTTP server that counts the records ("n" of each JSON line) it gets.
type destination struct {
	srv   *http.Server
	mu    sync.Mutex
	seen  map[int]int
	reqs  int
	most  int // records in the largest request: one chunk
	poke  chan struct{}
	hold  chan struct{} // when set, the first request is counted, then held until closed
	first chan struct{}
}

func startDestination(t *testing.T, port int, hold bool) *destination {
	t.Helper()
	d := &destination{seen: map[int]int{}, poke: make(chan struct{}, 1)}
	if hold {
		d.hold, d.first = make(chan struct{}), make(chan struct{})
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	d.srv = &http.Server{Handler: http.HandlerFunc(d.handle)}
	go d.srv.Serve(l)
	t.Cleanup(func() {
		if d.hold != nil {
			select {
			case <-d.hold:
			default:
				close(d.hold)
			}
		}
		d.srv.Close()
	})
	return d
}

func (d *destination) handle(w http.ResponseWriter, r *http.Request) {
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var ns []int
	for sc.Scan() {
		var rec struct{ N *int }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.N != nil {
			ns = append(ns, *rec.N)
		}
	}
	if sc.Err() != nil {
		w.WriteHeader(500)
		return
	}
	d.mu.Lock()
	d.reqs++
	for _, n := range ns {
		d.seen[n]++
	}
	d.most = max(d.most, len(ns))
	first := d.reqs == 1
	d.mu.Unlock()
	select {
	case d.poke <- struct{}{}:
	default:
	}
	if first && d.hold != nil {
		close(d.first)
		<-d.hold // the agent is killed meanwhile: this chunk was received but not acknowledged
	}
	w.WriteHeader(200)
}

// waitAll waits until every record in want has arrived.
func (d *destination) waitAll(t *testing.T, want []int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		d.mu.Lock()
		missing := 0
		for _, n := range want {
			if d.seen[n] == 0 {
				missing++
			}
		}
		d.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-d.poke:
		case <-time.After(time.Second): // the agent's retry timer, not an event we can see
		case <-deadline:
			t.Fatalf("%d of %d acknowledged records never arrived", missing, len(want))
		}
	}
}

// sender posts batches of records {"n": i} to the agent's HTTP input and keeps the numbers
// of those that were answered 2xx.
type sender struct {
	url    string
	batch  int
	mu     sync.Mutex
	acked  []int
	ackedC chan struct{}
}

func (s *sender) run(ctx context.Context, from, upTo int) {
	client := &http.Client{Timeout: 10 * time.Second}
	connected := false
	for i := from; i < upTo && ctx.Err() == nil; {
		var body bytes.Buffer
		body.WriteByte('[')
		for j := 0; j < s.batch; j++ {
			if j > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"n":%d,"msg":"a line of log text as a device would send it"}`, i+j)
		}
		body.WriteByte(']')
		resp, err := client.Post(s.url, "application/json", &body)
		if err != nil {
			if !connected {
				// The input may not listen yet: try again, a bounded number of times.
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			return // the agent is gone
		}
		connected = true
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			s.mu.Lock()
			for j := 0; j < s.batch; j++ {
				s.acked = append(s.acked, i+j)
			}
			s.mu.Unlock()
			select {
			case s.ackedC <- struct{}{}:
			default:
			}
			i += s.batch
		}
	}
}

func (s *sender) ackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

func storageConfig(t *testing.T, dir string, inPort, outPort int, sync string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
service:
  flush: 0.2
  grace: 1
  log_level: info
  scheduler.base: 1
  scheduler.cap: 2
  storage.path: %s
  storage.sync: %s
  storage.checksum: on
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: %d
      tag: crash
      storage.type: filesystem
  outputs:
    - name: http
      alias: dest
      match: '*'
      host: 127.0.0.1
      port: %d
      format: json_lines
      net.connect_timeout: 1s
`, filepath.Join(dir, "storage"), sync, inPort, outPort)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCrashKeepsAcknowledgedRecords is the crash test: the destination is down
// while the agent takes a stream; SIGKILL mid-stream; restart; the destination comes up
// and holds its first request while the agent is killed once more (so one chunk is
// received but never acknowledged); a last restart delivers the rest. Every acknowledged
// record arrives; duplicates are at most one chunk's records.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	for _, tc := range []struct {
		sync        string
		killAfter   int // acknowledged records before SIGKILL
		batch, most int
	}{
		{"normal", 20000, 20, 200000},
		{"full", 400, 5, 5000},
	} {
		t.Run(tc.sync, func(t *testing.T) {
			dir := t.TempDir()
			inPort, outPort := freePort(t), freePort(t)
			cfg := storageConfig(t, dir, inPort, outPort, tc.sync)

			// 1: destination down; ingest; SIGKILL while the sender is still sending.
			p := start(t, "-c", cfg)
			p.waitLog("fluentbit-go started", 1)
			s := &sender{url: fmt.Sprintf("http://127.0.0.1:%d/crash", inPort), batch: tc.batch, ackedC: make(chan struct{}, 1)}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			sent := make(chan struct{})
			go func() { defer close(sent); s.run(ctx, 0, tc.most) }()
			for s.ackedCount() < tc.killAfter {
				select {
				case <-s.ackedC:
				case <-sent:
					t.Fatalf("sender stopped after %d acknowledged records", s.ackedCount())
				case <-ctx.Done():
					t.Fatal("timed out")
				}
			}
			p.signal(syscall.SIGKILL)
			p.wait()
			<-sent
			acked := append([]int(nil), s.acked...)
			t.Logf("%d records acknowledged before SIGKILL", len(acked))

			// 2: destination up but holding its first request; restart; kill again while
			// that chunk is in flight.
			d := startDestination(t, outPort, true)
			p2 := start(t, "-c", cfg)
			p2.waitLog("backlog loaded", 1)
			select {
			case <-d.first:
			case <-time.After(waitLimit):
				t.Fatal("the backlog was not sent after the restart")
			}
			p2.signal(syscall.SIGKILL)
			p2.wait()
			close(d.hold)

			// 3: restart; everything acknowledged arrives, and the agent learns it was
			// delivered (its chunk files go).
			p3 := start(t, "-c", cfg)
			d.waitAll(t, acked, time.Minute)
			waitNoChunks(t, d, filepath.Join(dir, "storage"))
			p3.signal(syscall.SIGTERM)
			p3.wait()

			d.mu.Lock()
			defer d.mu.Unlock()
			dups := 0
			for _, c := range d.seen {
				dups += c - 1
			}
			t.Logf("sync %s: %d acknowledged, %d distinct arrived, %d duplicates, largest chunk %d records",
				tc.sync, len(acked), len(d.seen), dups, d.most)
			if dups > d.most {
				t.Fatalf("%d duplicates: more than one chunk (%d records)", dups, d.most)
			}
			if dups == 0 {
				t.Fatal("the chunk held by the destination at the second kill was not sent again")
			}
		})
	}
}

// waitNoChunks waits until the agent has removed every chunk file: it got every answer.
func waitNoChunks(t *testing.T, d *destination, dir string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for len(chunkFiles(t, dir)) > 0 {
		select {
		case <-d.poke:
		case <-time.After(100 * time.Millisecond): // the agent's removal is not visible to us otherwise
		case <-deadline:
			t.Fatalf("chunk files still there: %v", chunkFiles(t, dir))
		}
	}
}

func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() && strings.HasSuffix(p, ".flb") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestTornChunkRecoveredByDaemon: a chunk file whose tail was torn (as by a power loss
// mid-write) costs only the torn frame: the restarted daemon logs what it cut and delivers
// every whole record before it.
func TestTornChunkRecoveredByDaemon(t *testing.T) {
	dir := t.TempDir()
	inPort, outPort := freePort(t), freePort(t)
	cfg := storageConfig(t, dir, inPort, outPort, "normal")
	p := start(t, "-c", cfg)
	p.waitLog("fluentbit-go started", 1)
	const batch, n = 10, 500
	s := &sender{url: fmt.Sprintf("http://127.0.0.1:%d/crash", inPort), batch: batch, ackedC: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.run(ctx, 0, n)
	if s.ackedCount() != n {
		t.Fatalf("%d acknowledged, want %d", s.ackedCount(), n)
	}
	p.signal(syscall.SIGKILL)
	p.wait()

	files := chunkFiles(t, filepath.Join(dir, "storage"))
	if len(files) == 0 {
		t.Fatal("no chunk file")
	}
	newest := files[len(files)-1]
	st, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(newest, st.Size()-7); err != nil { // tear the last frame
		t.Fatal(err)
	}

	d := startDestination(t, outPort, false)
	p2 := start(t, "-c", cfg)
	p2.waitLog("bytes_cut=", 1)
	want := s.acked[:n-batch] // the torn frame held the last request's records
	d.waitAll(t, want, time.Minute)
	p2.signal(syscall.SIGTERM)
	p2.wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) != n-batch {
		t.Fatalf("%d distinct records arrived, want %d (all but the torn frame's)", len(d.seen), n-batch)
	}
}

// TestTotalLimitSizeUnderLongOutage: the destination stays down while far more than
// storage.total_limit_size is ingested; the chunk files stay under the limit (plus the
// chunks being written and flushed) and the agent logs the drops.
func TestTotalLimitSizeUnderLongOutage(t *testing.T) {
	dir := t.TempDir()
	inPort, outPort := freePort(t), freePort(t)
	cfgPath := storageConfig(t, dir, inPort, outPort, "normal")
	b, _ := os.ReadFile(cfgPath)
	cfg := strings.Replace(string(b), "      net.connect_timeout: 1s\n", "      net.connect_timeout: 1s\n      storage.total_limit_size: 1M\n", 1)
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	p := start(t, "-c", cfgPath)
	p.waitLog("fluentbit-go started", 1)
	const total = 150000 // about 11 MB of chunks
	s := &sender{url: fmt.Sprintf("http://127.0.0.1:%d/crash", inPort), batch: 100, ackedC: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var maxDisk int64
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx, 0, total) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
		}
		var total int64
		for _, f := range chunkFiles(t, filepath.Join(dir, "storage")) {
			if st, err := os.Stat(f); err == nil {
				total += st.Size()
			}
		}
		maxDisk = max(maxDisk, total)
	}
	if s.ackedCount() != total {
		t.Fatalf("%d acknowledged: the input refused records although the limit drops old ones", s.ackedCount())
	}
	p.waitLog("storage.total_limit_size reached", 1)
	// Over the limit by at most the open chunk and the chunk in the worker's hands, each
	// at most the 2 MB chunk size (and a batch).
	if bound := int64(1000000 + 2*(2<<20+20<<10)); maxDisk > bound {
		t.Fatalf("chunk files reached %d bytes, limit 1M", maxDisk)
	}
	t.Logf("chunk files peaked at %d bytes under a 1M limit, with %d records ingested", maxDisk, total)
	p.signal(syscall.SIGTERM)
	p.wait()
}

// TestStorageConfigErrors: storage mistakes are configuration errors with file, line and
// key, found by --dry-run.
func TestStorageConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"service:\n  storage.path: /tmp/x\n  storage.sync: sometimes\npipeline:\n  outputs:\n    - name: null\n      match: '*'\n",
			`c.yaml:3: key "storage.sync": bad storage.sync "sometimes": want normal or full`},
		{"pipeline:\n  inputs:\n    - name: dummy\n      storage.type: filesystem\n  outputs:\n    - name: null\n      match: '*'\n",
			`c.yaml:4: key "storage.type": storage.type filesystem needs storage.path`},
		{"service:\n  storage.path: /tmp/x\npipeline:\n  inputs:\n    - name: dummy\n      storage.type: memrb\n  outputs:\n    - name: null\n      match: '*'\n",
			`c.yaml:6: key "storage.type": bad storage.type "memrb"`},
		{"service:\n  storage.path: /tmp/x\npipeline:\n  outputs:\n    - name: http\n      match: '*'\n      storage.total_limit_size: lots\n",
			`c.yaml:7: key "storage.total_limit_size": bad size "lots"`},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary, "--dry-run", "-c", path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("got %v: %s\nwant %s", err, out, tc.want)
		}
	}
}
