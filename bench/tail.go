package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// tail-null: the tail input reading a log file of access-log lines from its head (the
// backlog after a restart, or a file the agent meets for the first time) into the null
// output. The file is written into the run's directory before the agent starts, so the
// timed span runs from starting the agent process to the null output's delivered count
// (the monitoring API's proc_records) reaching every line: the agent's start is inside it,
// for ours and a peer alike, which is a few milliseconds against the hundreds the file
// takes. The configuration is Fluent Bit's classic format (its tail takes the same keys),
// so a fluent-bit peer runs the same file. The note gives the bytes per second and, as a
// ceiling, `cat file > /dev/null` timed in the same run on the same file (from the page
// cache, as the agent reads it).
func init() {
	register(&Scenario{
		Name:    "tail-null",
		Desc:    "tail (read_from_head, db) of a file of ~120-byte access-log lines -> null; ceiling: cat file > /dev/null",
		Records: 2_000_000,
		Peers:   []string{"fluent-bit"},
		Run:     runTailNull,
	})
}

// writeAccessLog writes n access-log lines of about 120 bytes (their fields vary with the
// line number, as a real log's do) to path and returns the file's size.
func writeAccessLog(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	methods := []string{"GET", "GET", "GET", "POST", "PUT"}
	statuses := []int{200, 200, 200, 200, 304, 404, 500}
	var size int64
	for i := range n {
		k, err := fmt.Fprintf(w, "10.%d.%d.%d - - [06/Dec/2026:03:%02d:%02d +0000] \"%s /api/v1/items/%07d HTTP/1.1\" %d %d \"-\" \"Wget/1.21.4 (linux-gnu)\"\n",
			i>>16&0xff, i>>8&0xff, i&0xff, i/60%60, i%60, methods[i%len(methods)], i, statuses[i%len(statuses)], 200+i%9000)
		if err != nil {
			f.Close()
			return 0, err
		}
		size += int64(k)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return size, f.Close()
}

// catCeiling times `cat path > /dev/null` as a process: wall time and its CPU.
func catCeiling(path string) (wall, cpu time.Duration, err error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer null.Close()
	cmd := exec.Command("cat", path)
	cmd.Stdout = null
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("cat %s: %w", path, err)
	}
	wall = time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func runTailNull(env *Env) (Result, error) {
	lines := env.Records
	logPath := filepath.Join(env.Dir, "access.log")
	size, err := writeAccessLog(logPath, lines)
	if err != nil {
		return Result{}, err
	}
	catWall, catCPU, err := catCeiling(logPath)
	if err != nil {
		return Result{}, err
	}
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
    name tail
    tag bench.tail
    path %s
    read_from_head on
    db %s
    refresh_interval 1
    buffer_chunk_size 256k
    buffer_max_size 256k
[OUTPUT]
    name null
    match *
`, apiPort, logPath, filepath.Join(env.Dir, "tail.db"))
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	// The agent reads the file from the moment it starts: the span begins before its start.
	start := time.Now()
	var a *Agent
	if env.Peer != nil {
		a, err = env.StartPeer(cfg, ".conf", apiAddr)
	} else {
		a, err = env.StartAgent(cfg)
	}
	if err != nil {
		return Result{}, err
	}
	if err := waitOutputRecords(apiAddr, "null", lines, 10*time.Minute); err != nil {
		return Result{}, fmt.Errorf("%w\nagent log:\n%s", err, a.Log())
	}
	res := Result{Records: lines, Elapsed: time.Since(start), AgentCPU: a.CPU(), PeakRSS: a.PeakRSS()}
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if env.Peer == nil && (in != lines || out != lines) {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, lines)
	}
	mb := float64(size) / 1e6
	res.Note = fmt.Sprintf("%.0f MB/s (%.1f MB, %d-byte lines); ceiling `cat file > /dev/null` %.0f MB/s, cat CPU s/M lines %.3f; %.1f%% of cat's rate",
		mb/res.Elapsed.Seconds(), mb, size/int64(lines), mb/catWall.Seconds(),
		catCPU.Seconds()/float64(lines)*1e6, catWall.Seconds()/res.Elapsed.Seconds()*100)
	return res, nil
}
