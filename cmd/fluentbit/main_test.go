package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests build the daemon and run it as a user would: flags, files, signals, exit
// codes. Every wait is for something the process prints, bounded by a timeout.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fluentbit-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fluentbit")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const waitLimit = 20 * time.Second

// proc is a running daemon with its output captured line by line.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string // stdout lines
	errs []string // stderr lines
	more chan struct{}
	done chan struct{}
	code int
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(binary, args...), more: make(chan struct{}, 1), done: make(chan struct{})}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.read(stdout, &p.out, &readers)
	go p.read(stderr, &p.errs, &readers)
	go func() {
		readers.Wait()
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code < 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", strings.Join(p.lines(false), "\n"), strings.Join(p.lines(true), "\n"))
		}
	})
	return p
}

func (p *proc) read(r io.Reader, into *[]string, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		*into = append(*into, sc.Text())
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
}

func (p *proc) lines(stderr bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if stderr {
		return append([]string(nil), p.errs...)
	}
	return append([]string(nil), p.out...)
}

// waitFor waits until cond holds on the captured lines.
func (p *proc) waitFor(what string, cond func(out, errs []string) bool) {
	p.t.Helper()
	deadline := time.After(waitLimit)
	for {
		if cond(p.lines(false), p.lines(true)) {
			return
		}
		select {
		case <-p.more:
		case <-p.done:
			if cond(p.lines(false), p.lines(true)) {
				return
			}
			p.t.Fatalf("exited (code %d) before %s", p.code, what)
		case <-deadline:
			p.t.Fatalf("no %s within %v", what, waitLimit)
		}
	}
}

func (p *proc) waitStdout(n int) []string {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%d stdout lines", n), func(out, _ []string) bool { return len(out) >= n })
	return p.lines(false)
}

func (p *proc) waitLog(substr string, times int) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%d log lines with %q", times, substr), func(_, errs []string) bool {
		n := 0
		for _, l := range errs {
			if strings.Contains(l, substr) {
				n++
			}
		}
		return n >= times
	})
}

func (p *proc) signal(s os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitLimit):
		p.t.Fatalf("still running %v after being asked to stop", waitLimit)
		return 0
	}
}

func TestDummyToStdout(t *testing.T) {
	// The README's first command, with a faster flush: Fluent Bit's default msgpack print.
	p := start(t, "-i", "dummy", "-p", "rate=20", "-o", "stdout", "-f", "0.1")
	out := p.waitStdout(3)
	re := regexp.MustCompile(`^\[\d+\] dummy\.0: \[\[\d{10}\.\d{9}, \{\}\], \{"message"=>"dummy"\}\]$`)
	for _, l := range out[:3] {
		if !re.MatchString(l) {
			t.Errorf("stdout line %q does not look like Fluent Bit's", l)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	p.waitLog("msg=stopped", 1)
}

func TestYAMLAndClassicPrintTheSame(t *testing.T) {
	run := func(file string) []string {
		p := start(t, "-c", filepath.Join("testdata", file), "-q")
		p.waitStdout(3)
		p.signal(syscall.SIGINT)
		if code := p.wait(); code != 0 {
			t.Fatalf("%s: exit code %d", file, code)
		}
		return p.lines(false)
	}
	yamlOut, classicOut := run("pipeline.yaml"), run("pipeline.conf")
	want := `{"date":"2023-11-14T22:13:20.000000Z","temperature":21.5,"unit":"C","room":"kitchen","agent":"fluentbit-go"}`
	if len(yamlOut) != 3 {
		t.Fatalf("YAML printed %d lines, want 3 (3 samples, the fault record excluded):\n%s", len(yamlOut), strings.Join(yamlOut, "\n"))
	}
	for _, l := range yamlOut {
		if l != want {
			t.Errorf("YAML line\n got  %s\n want %s", l, want)
		}
	}
	if strings.Join(yamlOut, "\n") != strings.Join(classicOut, "\n") {
		t.Errorf("classic printed:\n%s\nYAML printed:\n%s", strings.Join(classicOut, "\n"), strings.Join(yamlOut, "\n"))
	}
}

func TestConfigErrorsNameFileLineKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, body, want string }{
		{"typo.conf", "[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name   stdout\n    Match  *\n    Formatt json_lines\n",
			`typo.conf:7: key "formatt": unknown key (did you mean "format"?)`},
		{"typo.yaml", "pipeline:\n  inputs:\n    - name: dummy\n      rate: fast\n  outputs:\n    - name: stdout\n      match: '*'\n",
			`typo.yaml:4: key "rate": bad integer "fast"`},
		{"service.yaml", "service:\n  flush: 1\n  flsh: 2\n", `service.yaml:3: key "flsh": unknown key (did you mean "flush"?)`},
		{"nonsense.yaml", "service:\n  flush: 1\n  grace: -5\n", `nonsense.yaml:3: key "grace": bad grace "-5": want more than 0 seconds`},
		{"mach.conf", "[INPUT]\n    Name dummy\n[OUTPUT]\n    Name stdout\n    Mach *\n", `mach.conf:5: key "mach": unknown key (did you mean "match"?)`},
		{"plugin.conf", "[INPUT]\n    Name nosuch\n[OUTPUT]\n    Name null\n    Match *\n", `plugin.conf:1: unknown input plugin "nosuch"`},
		{"value.conf", "[INPUT]\n    Name dummy\n    Dummy {not json\n[OUTPUT]\n    Name stdout\n    Match *\n", `value.conf:3: key "dummy"`},
	} {
		path := filepath.Join(dir, tc.file)
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--dry-run", "-c", path}, {"-c", path}} {
			out, err := exec.Command(binary, args...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Errorf("%v: %v, want exit code 1\n%s", args, err, out)
				continue
			}
			if !strings.Contains(string(out), path+tc.want[len(tc.file):]) {
				t.Errorf("%v:\n got  %s want %s%s", args, out, path, tc.want[len(tc.file):])
			}
		}
	}
}

func TestDryRunHelpVersion(t *testing.T) {
	out, err := exec.Command(binary, "--dry-run", "-c", "testdata/pipeline.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration test is successful") {
		t.Errorf("--dry-run of a good config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-c, --config", "--dry-run", "dummy", "cpu", "mem", "grep", "modify", "record_modifier", "stdout", "null", "file"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-h output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(binary, "-V").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "fluentbit-go v") {
		t.Errorf("-V: %v %q", err, out)
	}
	out, err = exec.Command(binary, "-p", "rate=1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `-p "rate=1": it comes before any -i, -F or -o`) {
		t.Errorf("-p first: %v %q", err, out)
	}
	out, err = exec.Command(binary, "-i", "dummy").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no output") {
		t.Errorf("no output: %v %q", err, out)
	}
}

func TestDefaultConfigPrintsMetrics(t *testing.T) {
	p := start(t)
	p.waitFor("cpu and mem records", func(out, _ []string) bool {
		cpu, mem := false, false
		for _, l := range out {
			cpu = cpu || strings.Contains(l, `"cpu_p":`)
			mem = mem || strings.Contains(l, `"Mem.total":`)
		}
		return cpu && mem
	})
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestSIGTERMFlushesBufferedRecords(t *testing.T) {
	dir := t.TempDir()
	// flush is an hour: every record is still buffered when SIGTERM comes.
	p := start(t, "-v", "-f", "3600",
		"-i", "dummy", "-p", "samples=500", "-p", "rate=100000",
		"-o", "file", "-p", "path="+dir, "-p", "file=out.log", "-p", "format=plain")
	p.waitLog(`msg="input finished"`, 1)
	if st, err := os.Stat(filepath.Join(dir, "out.log")); err == nil && st.Size() > 0 {
		t.Fatalf("output written before shutdown (flush is 3600s): %d bytes", st.Size())
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if n := countLines(t, filepath.Join(dir, "out.log")); n != 500 {
		t.Fatalf("%d records written at shutdown, want 500", n)
	}
	p.waitLog("records_in=500 records_out=500 records_dropped=0", 1)
}

func TestSIGHUPReloadsWithoutLoss(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	write := func(stage string) {
		body := fmt.Sprintf(`service:
  flush: 3600
pipeline:
  inputs:
    - name: dummy
      samples: 200
      rate: 100000
  filters:
    - name: modify
      match: '*'
      set: stage %s
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.log
      format: plain
`, stage, dir)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	p := start(t, "-v", "-c", cfg)
	p.waitLog(`msg="input finished"`, 1)
	write("two")
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg="configuration reloaded"`, 1)
	p.waitLog(`msg="input finished"`, 2)

	// A broken file on the next SIGHUP keeps the running pipeline.
	if err := os.WriteFile(cfg, []byte("service:\n  flush: never\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog("the running configuration goes on", 1)

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	// The last line counts the whole run, both configurations.
	if errs := p.lines(true); !strings.Contains(errs[len(errs)-1], "records_in=400 records_out=400 records_dropped=0") {
		t.Errorf("last log line %q, want the whole run's records_in=400 records_out=400", errs[len(errs)-1])
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	one, two := strings.Count(string(data), `"stage":"one"`), strings.Count(string(data), `"stage":"two"`)
	if one != 200 || two != 200 {
		t.Fatalf("records: %d from the first config, %d from the second; want 200 and 200", one, two)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}
