package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	fwd "github.com/fluentbit-go/fluentbit-go/forward"
)

// gzipFloodMessage is one valid CompressedPackedForward message of about 150 KB that
// inflates to about 46 MB (under the forward input's 8 × buffer_max_size), acked as id.
func gzipFloodMessage(t *testing.T, id string) (wire []byte, inflated int) {
	t.Helper()
	pad := strings.Repeat("x", 6000) // compresses about 300:1, as the flood of issue 16
	var entries []byte
	for i := 0; len(entries) < 46<<20; i++ {
		ev := event.Event{Time: time.Unix(1700000000, int64(i)), Record: event.Map{{"n", int64(i)}, {"log", pad}}}
		var err error
		if entries, err = event.AppendEntry(entries, &ev); err != nil {
			t.Fatal(err)
		}
	}
	return fwd.AppendCompressedPackedForward(nil, "flood", entries, fwd.Options{Chunk: id}), len(entries)
}

// vmKiB reads a VmXXX: line of /proc/pid/status, in KiB.
func vmKiB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// TestMemoryLimitHoldsUnderGzipFlood: the daemon with memory_limit 48M takes eight
// concurrent gzip forward messages of ~150 KB each inflating to ~46 MB (368 MB in all),
// and its peak RSS stays within the limit plus its idle RSS; a well-behaved HTTP client
// beside it has every acknowledged record delivered. Not timed: it measures bytes.
func TestMemoryLimitHoldsUnderGzipFlood(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/PID/status (Linux) to read the peak RSS")
	}
	const limitBytes = 48_000_000
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	inPort, fwdPort, destPort := freePort(t), freePort(t), freePort(t)
	d := startDestination(t, destPort, false)
	cfg := fmt.Sprintf(`service:
  flush: 0.2
  grace: 2
  memory_limit: 48M
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: %d
      tag: good
    - name: forward
      listen: 127.0.0.1
      port: %d
  outputs:
    - name: http
      match: good
      host: 127.0.0.1
      port: %d
      format: json_lines
    - name: null
      match: flood
`, inPort, fwdPort, destPort)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	wire, inflated := gzipFloodMessage(t, "flood")
	a := start(t, "-c", path)
	a.waitLog("fluentbit-go started", 1)
	idle := vmKiB(t, a.cmd.Process.Pid, "VmHWM")

	records := 2000
	l := newLoad(fmt.Sprintf("http://127.0.0.1:%d/good", inPort), 10, 2*time.Millisecond)
	l.start(ctx, 0, records)

	const conns = 8
	var wg sync.WaitGroup
	acks := make([]string, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", fwdPort), 5*time.Second)
			if err != nil {
				acks[i] = err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Minute))
			if _, err := c.Write(wire); err != nil {
				acks[i] = err.Error()
				return
			}
			raw, err := fwd.NewDecoder(c, fwd.Limits{}).ReadRaw()
			if err != nil {
				acks[i] = "no ack: " + err.Error()
				return
			}
			if acks[i], err = fwd.ParseAck(raw); err != nil {
				acks[i] = err.Error()
			}
		}()
	}
	wg.Wait()
	l.finish(t, ctx, records)
	acked := l.ackedList()
	d.waitAll(t, acked, time.Minute)
	peak := vmKiB(t, a.cmd.Process.Pid, "VmHWM")
	a.term()
	delivered, _ := tally(t, d, acked)
	t.Logf("gzip flood: %d connections × %d KB on the wire, %d MB inflated each; idle RSS %.1f MB, peak RSS %.1f MB (limit %d MB + idle)",
		conns, len(wire)>>10, inflated>>20, float64(idle)/1024, float64(peak)/1024, limitBytes/1_000_000)
	for i, ack := range acks {
		if ack != "flood" {
			t.Errorf("connection %d: %s, want its message acked (it fits the per-message limit)", i, ack)
		}
	}
	if delivered != len(acked) || len(acked) != records {
		t.Errorf("well-behaved client: %d acked of %d, %d delivered", len(acked), records, delivered)
	}
	if peak*1024 > limitBytes+idle*1024 {
		t.Errorf("peak RSS %.1f MB passed memory_limit (%d MB) + idle RSS (%.1f MB)", float64(peak)/1024, limitBytes/1_000_000, float64(idle)/1024)
	}
}
