package systemd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// sink is an HTTP destination counting the MESSAGE values m<i> it receives.
type sink struct {
	mu   sync.Mutex
	seen map[int]int
	more chan struct{}
}

func startSink(t *testing.T, l net.Listener) *sink {
	s := &sink{seen: map[int]int{}, more: make(chan struct{}, 1)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		var ns []int
		for sc.Scan() {
			var rec struct{ MESSAGE string }
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				w.WriteHeader(400)
				return
			}
			n, err := strconv.Atoi(strings.TrimPrefix(rec.MESSAGE, "m"))
			if err != nil {
				w.WriteHeader(400)
				return
			}
			ns = append(ns, n)
		}
		s.mu.Lock()
		for _, n := range ns {
			s.seen[n]++
		}
		s.mu.Unlock()
		select {
		case s.more <- struct{}{}:
		default:
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// buildDaemon builds cmd/fluentbit into dir.
func buildDaemon(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fluentbit")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/fluentbit").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The daemon reading a journal with db and storage.type filesystem is killed with
// SIGKILL several times in the middle of the stream while its output cannot deliver
// (nothing listens yet), and started again with the destination up: every entry arrives
// exactly once. The cursor of a batch's last entry is written in the same chunk frame as
// the batch (pipeline.CheckpointEmitter), so a kill between the chunk write and the db
// save repeats nothing: the restart resumes from the cursor found with the entries.
func TestKill9DaemonLosesNoEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	const n, maxEntries = 20000, 100
	j := newJournal(t)
	j.messages(n, "app.service")
	dir := t.TempDir()
	bin := buildDaemon(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens: the output retries, records stay in the buffer
	db := filepath.Join(dir, "cursor")
	cfg := filepath.Join(dir, "fluent-bit.conf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[SERVICE]
    Flush          0.2
    Grace          2
    Storage.Path   %s
    Storage.Sync   normal
    Scheduler.Base 0.2
    Scheduler.Cap  0.5

[INPUT]
    Name         systemd
    Tag          journal.*
    Path         %s
    DB           %s
    DB.Sync      normal
    Max_Entries  %d
    Storage.Type filesystem

[OUTPUT]
    Name   http
    Match  journal.*
    Host   127.0.0.1
    Port   %d
    Format json_lines
`, filepath.Join(dir, "storage"), j.dir, db, maxEntries, port)), 0o644)

	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "-c", cfg)
		cmd.Stderr = &lockedLog{t: t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cursorAt := func() int {
		b, _ := os.ReadFile(db)
		// The cursor's i= is the entry's sequence number in the journal.
		for _, part := range strings.Split(strings.TrimSpace(string(b)), ";") {
			if v, ok := strings.CutPrefix(part, "i="); ok {
				i, _ := strconv.ParseInt(v, 16, 64)
				return int(i)
			}
		}
		return 0
	}
	const kills = 4
	var killedAt int
	for k := 1; k <= kills; k++ {
		a := run()
		// Killed once a few more batches are in; the first time well before the whole
		// journal is.
		want := min(killedAt+5*maxEntries, n)
		if !pipelinetest.Eventually(30*time.Second, func() bool { return cursorAt() >= want }) {
			a.Process.Kill()
			a.Wait()
			t.Fatalf("the cursor did not pass %d entries (db holds entry %d)", want, cursorAt())
		}
		a.Process.Signal(syscall.SIGKILL)
		a.Wait()
		killedAt = cursorAt()
		t.Logf("kill %d: cursor at entry %d", k, killedAt)
	}
	if killedAt >= n {
		t.Logf("the whole journal was read before the kill (cursor at %d): the kill tested the backlog only", killedAt)
	}

	l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	s := startSink(t, l)
	a := run()
	defer func() {
		a.Process.Signal(syscall.SIGTERM)
		a.Wait()
	}()
	deadline := time.After(60 * time.Second)
	for s.distinct() < n {
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("LOSS: %d of %d entries arrived (killed with the cursor at entry %d)", s.distinct(), n, killedAt)
		}
	}
	s.mu.Lock()
	dups := 0
	for i := 1; i <= n; i++ {
		if s.seen[i-1] == 0 {
			t.Errorf("LOSS: entry m%d never arrived", i-1)
		}
		dups += max(0, s.seen[i-1]-1)
	}
	s.mu.Unlock()
	t.Logf("%d kills, the last with the cursor at entry %d of %d; after the restart all %d arrived, %d duplicated", kills, killedAt, n, n, dups)
	if dups != 0 {
		t.Errorf("%d entries duplicated: want each exactly once", dups)
	}
}

// lockedLog passes the daemon's stderr to the test log.
type lockedLog struct {
	mu sync.Mutex
	t  *testing.T
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "journalctl") {
			l.t.Log("daemon: " + line)
		}
	}
	return len(p), nil
}
