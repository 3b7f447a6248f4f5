package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestTailKill9NoLineLost: the tail input with db and storage.type filesystem, killed
// with SIGKILL several times while a writer appends to the file and the destination is
// down; after the restarts the destination comes up and every line arrives exactly once.
//
// The file's offset after each batch is written in the same chunk frame as the batch's
// lines (pipeline.CheckpointEmitter): a kill anywhere leaves both or neither, and the
// restart resumes from the offset found with the lines, whatever the db says.
func TestTailKill9NoLineLost(t *testing.T) {
	dir := t.TempDir()
	outPort := freePort(t)
	logPath := filepath.Join(dir, "app.log")
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
service:
  flush: 0.2
  grace: 1
  log_level: info
  scheduler.base: 1
  scheduler.cap: 2
  storage.path: %s
  storage.sync: normal
parsers:
  - name: json
    format: json
pipeline:
  inputs:
    - name: tail
      path: %s
      db: %s
      read_from_head: on
      parser: json
      tag: app
      storage.type: filesystem
  outputs:
    - name: http
      match: '*'
      host: 127.0.0.1
      port: %d
      format: json_lines
      net.connect_timeout: 1s
`, filepath.Join(dir, "storage"), logPath, filepath.Join(dir, "tail.db"), outPort)), 0o644)

	const total, batch = 30000, 100
	fh, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	written := make(chan int, total/batch)
	go func() { // the application: appends lines in bursts
		defer close(written)
		for i := 0; i < total; i += batch {
			var b []byte
			for j := i; j < i+batch; j++ {
				b = fmt.Appendf(b, `{"n":%d,"msg":"a line of the application's log"}`+"\n", j)
			}
			if _, err := fh.Write(b); err != nil {
				return
			}
			written <- i + batch
			time.Sleep(time.Millisecond) // a writer's pace, not a wait for anything
		}
	}()
	waitWritten := func(n int) {
		t.Helper()
		for w := range written {
			if w >= n {
				return
			}
		}
	}

	const kills = 5
	for k := 1; k <= kills; k++ {
		p := start(t, "-c", cfg)
		p.waitLog("fluentbit-go started", 1)
		waitWritten(k * total / (kills + 1))
		p.signal(syscall.SIGKILL)
		p.wait()
	}
	p3 := start(t, "-c", cfg)
	p3.waitLog("fluentbit-go started", 1)
	waitWritten(total)

	d := startDestination(t, outPort, false)
	want := make([]int, total)
	for i := range want {
		want[i] = i
	}
	d.waitAll(t, want, 2*time.Minute)
	waitNoChunks(t, d, filepath.Join(dir, "storage"))
	p3.signal(syscall.SIGTERM)
	p3.wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	dups := 0
	for _, c := range d.seen {
		dups += c - 1
	}
	t.Logf("%d lines written, %d distinct arrived, %d duplicates after %d SIGKILLs, %d requests", total, len(d.seen), dups, kills, d.reqs)
	if dups != 0 || len(d.seen) != total {
		t.Errorf("%d duplicates, %d of %d lines: want each line exactly once", dups, len(d.seen), total)
	}
}
