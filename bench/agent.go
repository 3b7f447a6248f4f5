package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is what a scenario run gets: the agent binary, the record count and a scratch
// directory of its own.
type Env struct {
	Agent   string
	Records int
	Dir     string
	Peer    *Peer  // when set, the run drives this peer agent instead of ours
	Profile string // when set, our agent writes a CPU profile of its run here
	// MemProfile, when set, has our agent write its allocations profile here at exit (and
	// the heap at its highest beside it, .peak).
	MemProfile string

	procs []*Agent
}

// Agent is a running agent process.
type Agent struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string
	done   chan struct{}
	usage  *syscall.Rusage
	peer   bool // a peer agent: it logs no totals
}

// StartAgent writes config (YAML, or Fluent Bit's classic format when it starts with a
// section header) into the run's directory and starts the agent on it. The agent's log
// lines can be awaited with WaitLog.
func (e *Env) StartAgent(config string) (*Agent, error) {
	path := filepath.Join(e.Dir, "agent.yaml")
	if strings.HasPrefix(strings.TrimSpace(config), "[") {
		path = filepath.Join(e.Dir, "agent.conf")
	}
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(e.Agent, "-c", path)
	if e.Profile != "" {
		cmd.Env = append(os.Environ(), "FLUENTBIT_CPUPROFILE="+e.Profile)
	}
	if e.MemProfile != "" {
		cmd.Env = append(os.Environ(), "FLUENTBIT_MEMPROFILE="+e.MemProfile)
	}
	a, err := e.start(cmd)
	if err != nil {
		return nil, err
	}
	if err := a.WaitLog("fluentbit-go started", 30*time.Second); err != nil {
		return nil, err
	}
	return a, nil
}

// start starts cmd with its standard output and error captured as its log.
func (e *Env) start(cmd *exec.Cmd) (*Agent, error) {
	a := &Agent{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	pipe, err := a.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	a.cmd.Stdout = a.cmd.Stderr // peers log to standard output
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	e.procs = append(e.procs, a)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			a.mu.Lock()
			a.stderr.WriteString(sc.Text() + "\n")
			if a.stderr.Len() > 4<<20 { // keep the log bounded: the last 2 MB
				tail := append([]byte(nil), a.stderr.Bytes()[a.stderr.Len()-2<<20:]...)
				a.stderr.Reset()
				a.stderr.Write(tail)
			}
			a.mu.Unlock()
			select {
			case a.lines <- sc.Text():
			default:
			}
		}
		_ = a.cmd.Wait()
		if ru, ok := a.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			a.usage = ru
		}
		close(a.done)
	}()
	return a, nil
}

// WaitLog waits for a log line containing s.
func (a *Agent) WaitLog(s string, timeout time.Duration) error {
	deadline := time.After(timeout)
	a.mu.Lock()
	seen := bytes.Contains(a.stderr.Bytes(), []byte(s))
	a.mu.Unlock()
	for !seen {
		select {
		case l := <-a.lines:
			seen = bytes.Contains([]byte(l), []byte(s))
		case <-a.done:
			a.mu.Lock()
			seen = bytes.Contains(a.stderr.Bytes(), []byte(s))
			a.mu.Unlock()
			if !seen {
				return fmt.Errorf("agent exited before logging %q:\n%s", s, a.Log())
			}
		case <-deadline:
			return fmt.Errorf("agent did not log %q within %v", s, timeout)
		}
	}
	return nil
}

// Log returns what the agent logged so far.
func (a *Agent) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.String()
}

// CPU returns the agent's user+system CPU time so far (from /proc while it runs).
func (a *Agent) CPU() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses and may hold spaces).
	i := bytes.LastIndexByte(data, ')')
	f := bytes.Fields(data[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// PeakRSS returns the agent's resident-set high-water mark in bytes (VmHWM).
func (a *Agent) PeakRSS() int64 {
	data, err := a.procStatus()
	if err != nil {
		if a.usage != nil {
			return int64(a.usage.Maxrss) * 1024
		}
		return 0
	}
	return statusBytes(data, "VmHWM")
}

// RSS returns the agent's resident set size now, in bytes (VmRSS), or 0 once it exited.
func (a *Agent) RSS() int64 {
	data, err := a.procStatus()
	if err != nil {
		return 0
	}
	return statusBytes(data, "VmRSS")
}

// procStatus reads the agent's /proc/PID/status.
func (a *Agent) procStatus() ([]byte, error) {
	return os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
}

// statusBytes reads a "Key:   N kB" line of /proc/PID/status, in bytes (0 if absent).
func statusBytes(status []byte, key string) int64 {
	for _, l := range bytes.Split(status, []byte("\n")) {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok || string(k) != key {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		n, _ := strconv.ParseInt(string(f[0]), 10, 64)
		return n * 1024
	}
	return 0
}

var stoppedRE = regexp.MustCompile(`msg=stopped records_in=(\d+) records_out=(\d+) records_dropped=(\d+)`)

// Stop sends SIGTERM, waits for the agent to exit and returns the totals it logged
// (-1, -1 for a peer, which logs none we read).
func (a *Agent) Stop() (in, out int, err error) {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(60 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		return 0, 0, errors.New("agent did not stop within 60s")
	}
	if a.peer {
		return -1, -1, nil
	}
	m := stoppedRE.FindStringSubmatch(a.Log())
	if m == nil {
		return 0, 0, fmt.Errorf("agent logged no totals:\n%s", a.Log())
	}
	in, _ = strconv.Atoi(m[1])
	out, _ = strconv.Atoi(m[2])
	return in, out, nil
}

// TotalCPU is the agent's CPU time after it exited (rusage), or 0 while it runs.
func (a *Agent) TotalCPU() time.Duration {
	if a.usage == nil {
		return 0
	}
	return time.Duration(a.usage.Utime.Nano() + a.usage.Stime.Nano())
}

func (e *Env) cleanup() {
	for _, a := range e.procs {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
