package main

import (
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The harness's own test: every scenario and report runs once, small, against a freshly
// built agent, so the suite cannot rot between the times someone runs it for figures.
// The figures themselves are not asserted (timing is not a test here); what each run
// checks (every record delivered, totals matching) is.

var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bench-test-")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "fluentbit")
	cmd := exec.Command("go", "build", "-o", agentBin, "../cmd/fluentbit")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building the agent: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// inModuleRoot runs the test from the module root, where the harness expects to be run
// (the footprint report reads the packaged configuration and builds ./cmd/fluentbit).
func inModuleRoot(t *testing.T) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(".."); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
}

func runScenario(t *testing.T, name string, records int, peer *Peer) Result {
	t.Helper()
	sc := scenarios[name]
	if sc == nil {
		t.Fatalf("no scenario %s", name)
	}
	env := &Env{Agent: agentBin, Records: records, Dir: t.TempDir(), Peer: peer}
	defer env.cleanup()
	res, err := sc.Run(env)
	var absent *absentError
	if errors.As(err, &absent) {
		t.Skipf("%s: %v", name, err)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.Records <= 0 || res.Elapsed <= 0 {
		t.Fatalf("%s: %+v", name, res)
	}
	return res
}

func TestEveryScenarioRuns(t *testing.T) {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			res := runScenario(t, n, 5000, nil)
			if strings.HasPrefix(n, "http") || strings.HasPrefix(n, "storage") {
				if res.P50 <= 0 || res.P99 < res.P50 {
					t.Errorf("latency p50 %v p99 %v", res.P50, res.P99)
				}
			}
		})
	}
}

// A peer runs the scenario's Fluent Bit classic configuration. Our own daemon reads that
// format too, so it stands in for a fluent-bit binary here: the peer plumbing (readiness
// by port, completion from the monitoring API or the sink, ratios) is exercised without
// one.
func TestPeerPlumbingWithOurBinaryAsFluentBit(t *testing.T) {
	peer := &Peer{Kind: "fluent-bit", Path: agentBin}
	for n, sc := range scenarios {
		if !slices.Contains(sc.Peers, "fluent-bit") {
			continue
		}
		t.Run(n, func(t *testing.T) { runScenario(t, n, 5000, peer) })
	}
	ours := Result{Records: 100, Elapsed: time.Second, AgentCPU: time.Second, PeakRSS: 10 << 20}
	them := Result{Records: 50, Elapsed: time.Second, AgentCPU: time.Second, PeakRSS: 20 << 20}
	if got := ratioNote(ours, them); got != "ours/peer records/s 2.00×, CPU per record 0.50×, peak RSS 0.50×" {
		t.Errorf("ratioNote: %q", got)
	}
}

func TestReports(t *testing.T) {
	inModuleRoot(t)
	for _, r := range reports {
		t.Run(r.Name, func(t *testing.T) {
			md, err := r.Run(&Options{Agent: agentBin, Dir: t.TempDir(), Quick: true})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(md, "|---") {
				t.Errorf("no table in:\n%s", md)
			}
		})
	}
}

func TestWriteReadmeReplacesOnlyTheSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	before := "# x\n\n## Performance\n\nintro\n\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\n\nafter\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReadme(path, "| new |\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# x\n\n## Performance\n\nintro\n\n<!-- bench:begin -->\n<!-- written by go run ./bench -readme; edits here are overwritten -->\n| new |\n<!-- bench:end -->\n\nafter\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if err := os.WriteFile(path, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReadme(path, "x"); err == nil {
		t.Error("a file without markers was accepted")
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	rows := []row{
		{name: "dummy-null", res: Result{Records: 1e6, Elapsed: 100 * time.Millisecond}},
		{name: "http-null", peer: "Fluent Bit v4 <x&y>", res: Result{Records: 1e5, Elapsed: time.Second}},
		{name: "broken", failed: true},
	}
	svg := chartSVG(rows)
	d := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not XML: %v\n%s", err, svg)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects != 3 { // the background and one bar per measured row
		t.Errorf("%d rects, want 3:\n%s", rects, svg)
	}
}
