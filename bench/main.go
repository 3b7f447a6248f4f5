// Command bench measures the agent as a user runs it: it builds the daemon, starts it with
// each scenario's configuration, drives it with load generators on 127.0.0.1, and prints
// records per second, agent CPU seconds per million records, peak RSS and, where the
// scenario can tell, ingest latency. Every scenario runs a bounded number of records, is
// repeated (-repeat, default 3) and reports the median run. After the scenarios come the
// reports that are not throughput: the idle footprint (RSS after 10 s on the packaged
// configuration, binary size per target) and the memory-growth run (output down).
//
//	go run ./bench                                   # everything, about 8 minutes
//	go run ./bench -readme README.md -svg docs/bench.svg   # and write the results there
//	go run ./bench -scenario dummy-null,http-null -records 200000
//	go run ./bench -list
//	go run ./bench -peer fluent-bit=/opt/fluent-bit/bin/fluent-bit
//
// A fluent-bit or telegraf binary on PATH (or given by -peer) runs the scenarios it can
// run in the same run, and the table shows our figures against its. None is downloaded.
//
// Scenarios register themselves in init functions (one file each), so adding one is adding
// a file. Run it from the module root.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// Scenario is one benchmark.
type Scenario struct {
	Name string
	Desc string
	// Records is the default number of records per run (-records overrides it).
	Records int
	// Peers lists the peer kinds ("fluent-bit", "telegraf") the scenario can drive: its Run
	// then starts env.Peer instead of our agent when env.Peer is set.
	Peers []string
	// Run drives one run of env.Records records and returns what it measured.
	Run func(env *Env) (Result, error)
}

// Result is one run's figures. Zero fields are printed as "-".
type Result struct {
	Records  int           // records delivered (checked by the scenario)
	Elapsed  time.Duration // from the first record sent to the last delivered
	AgentCPU time.Duration // user + system CPU of the agent process over the run
	PeakRSS  int64         // bytes, the agent's high-water mark
	P50, P99 time.Duration // ingest latency, when the scenario measures it
	Note     string        // anything else worth a column (e.g. duplicates)
}

// RecordsPerSec is the throughput of the run.
func (r Result) RecordsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// CPUPerMillion is the agent's CPU seconds per million records, or 0 when not measured.
func (r Result) CPUPerMillion() float64 {
	if r.AgentCPU <= 0 || r.Records <= 0 {
		return 0
	}
	return r.AgentCPU.Seconds() / float64(r.Records) * 1e6
}

var scenarios = map[string]*Scenario{}

// register adds a scenario; scenario files call it from init.
func register(s *Scenario) {
	if _, dup := scenarios[s.Name]; dup {
		panic("bench: scenario registered twice: " + s.Name)
	}
	if s.Records == 0 {
		s.Records = 300_000
	}
	scenarios[s.Name] = s
}

// Report is a section printed after the scenario table (footprint, memory growth): it
// returns Markdown.
type Report struct {
	Name string
	Desc string
	Run  func(o *Options) (string, error)
}

var reports []*Report

func addReport(r *Report) { reports = append(reports, r) }

// Options are the command's settings, for the reports.
type Options struct {
	Agent   string // the agent binary built for this run
	Dir     string // scratch directory
	Profile string // directory for CPU profiles, or ""
	Quick   bool   // shortened runs (the harness's own test)
}

// row is one line of the results table.
type row struct {
	name   string
	desc   string
	peer   string // "" for our agent
	res    Result
	failed bool
}

type peerFlags []Peer

func (p *peerFlags) String() string { return "" }
func (p *peerFlags) Set(v string) error {
	kind, path, ok := strings.Cut(v, "=")
	if !ok || (kind != "fluent-bit" && kind != "telegraf") {
		return fmt.Errorf("want fluent-bit=PATH or telegraf=PATH, got %q", v)
	}
	*p = append(*p, Peer{Kind: kind, Path: path})
	return nil
}

func main() {
	which := flag.String("scenario", "all", "comma-separated scenario and report names, or all")
	records := flag.Int("records", 0, "records per run (default: each scenario's own)")
	repeat := flag.Int("repeat", 3, "runs per scenario; the median is reported")
	list := flag.Bool("list", false, "list the scenarios and reports and exit")
	readme := flag.String("readme", "", "write the results into this file between <!-- bench:begin --> and <!-- bench:end -->")
	svg := flag.String("svg", "", "write a bar chart of records/s per scenario to this SVG file")
	profile := flag.String("profile", "", "write a CPU profile of every agent run into this directory")
	memProfile := flag.String("memprofile", "", "write the allocations profile of every agent run into this directory (go tool pprof -sample_index=alloc_space; the heap at its peak in .peak)")
	noPeers := flag.Bool("no-peers", false, "do not look for fluent-bit or telegraf on PATH")
	var peers peerFlags
	flag.Var(&peers, "peer", "a peer agent to run side by side: fluent-bit=PATH or telegraf=PATH (repeatable)")
	flag.Parse()

	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	if *list {
		for _, n := range names {
			fmt.Printf("%-28s %s (%d records)\n", n, scenarios[n].Desc, scenarios[n].Records)
		}
		for _, r := range reports {
			fmt.Printf("%-28s %s\n", r.Name, r.Desc)
		}
		return
	}
	var runReports []*Report
	if *which == "all" {
		runReports = reports
	} else {
		var sel []string
		for _, n := range strings.Split(*which, ",") {
			if i := slices.IndexFunc(reports, func(r *Report) bool { return r.Name == n }); i >= 0 {
				runReports = append(runReports, reports[i])
				continue
			}
			if scenarios[n] == nil {
				fmt.Fprintf(os.Stderr, "bench: no scenario or report %q (-list shows them)\n", n)
				os.Exit(2)
			}
			sel = append(sel, n)
		}
		names = sel
	}
	if !*noPeers {
		peers = append(peers, findPeers(peers)...)
	}

	dir, err := os.MkdirTemp("", "fluentbit-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fluentbit")
	// Built as the packages ship it: static (CGO_ENABLED=0), so that its RSS does not
	// count a C library the device's build does not have.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/fluentbit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fatal(fmt.Errorf("building the agent (run from the module root): %w", err))
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			fatal(err)
		}
	}
	opts := &Options{Agent: bin, Dir: dir, Profile: *profile}

	var out strings.Builder
	emit := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		fmt.Print(s)
		out.WriteString(s)
	}
	start := time.Now()
	emit("%s\n\n", machineLine(*repeat, peers))
	failed := false
	var rows []row
	if len(names) > 0 {
		emit("| scenario | records/s | agent CPU s / M records | peak RSS MB | p50 | p99 | note |\n")
		emit("|---|---|---|---|---|---|---|\n")
	}
	for _, n := range names {
		sc := scenarios[n]
		targets := []*Peer{nil}
		for i := range peers {
			if slices.Contains(sc.Peers, peers[i].Kind) {
				targets = append(targets, &peers[i])
			}
		}
		var ours *row
		for _, peer := range targets {
			r := row{name: n, desc: sc.Desc}
			if peer != nil {
				r.peer = peer.label()
			}
			var runs []Result
			var skipped error
			for i := 0; i < *repeat; i++ {
				env := &Env{Agent: bin, Records: sc.Records, Peer: peer,
					Dir: filepath.Join(dir, fmt.Sprintf("%s-%s-%d", n, peerKind(peer), i))}
				if *records > 0 {
					env.Records = *records
				}
				if *profile != "" && peer == nil {
					env.Profile = filepath.Join(*profile, fmt.Sprintf("%s-%d.prof", n, i+1))
				}
				if *memProfile != "" && peer == nil {
					if err := os.MkdirAll(*memProfile, 0o755); err != nil {
						fatal(err)
					}
					env.MemProfile = filepath.Join(*memProfile, fmt.Sprintf("%s-%d.mprof", n, i+1))
				}
				if err := os.MkdirAll(env.Dir, 0o755); err != nil {
					fatal(err)
				}
				res, err := sc.Run(env)
				env.cleanup()
				var absent *absentError
				if errors.As(err, &absent) {
					fmt.Fprintf(os.Stderr, "bench: %s skipped: %v\n", r.label(), err)
					skipped = err
					break
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s run %d: %v\n", r.label(), i+1, err)
					failed = true
					break
				}
				runs = append(runs, res)
			}
			if skipped != nil {
				r.failed = true // no bar in the chart
				emit("| %s | skipped | | | | | %s |\n", r.label(), skipped)
				rows = append(rows, r)
				continue
			}
			if len(runs) == 0 {
				r.failed = true
				emit("| %s | failed | | | | | see the errors above |\n", r.label())
				rows = append(rows, r)
				continue
			}
			slices.SortFunc(runs, func(a, b Result) int {
				switch {
				case a.RecordsPerSec() < b.RecordsPerSec():
					return -1
				case a.RecordsPerSec() > b.RecordsPerSec():
					return 1
				}
				return 0
			})
			r.res = runs[len(runs)/2]
			note := r.res.Note
			if peer == nil {
				ours = &r
			} else if ours != nil && !ours.failed {
				note = strings.TrimPrefix(strings.TrimSpace(note+"; "+ratioNote(ours.res, r.res)), "; ")
			}
			m := r.res
			emit("| %s | %s | %s | %s | %s | %s | %s |\n", r.label(), si(m.RecordsPerSec()), num(m.CPUPerMillion(), 2),
				num(float64(m.PeakRSS)/(1<<20), 1), dur(m.P50), dur(m.P99), note)
			rows = append(rows, r)
		}
	}
	for _, rep := range runReports {
		fmt.Fprintf(os.Stderr, "bench: report %s...\n", rep.Name)
		md, err := rep.Run(opts)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", rep.Name, err)
			emit("\n%s: failed: %v\n", rep.Name, err)
			failed = true
			continue
		}
		emit("\n%s", md)
	}
	emit("\nThe whole run took %s.\n", time.Since(start).Round(time.Second))
	if *svg != "" {
		if err := os.WriteFile(*svg, []byte(chartSVG(rows)), 0o644); err != nil {
			fatal(err)
		}
	}
	if *readme != "" {
		if err := writeReadme(*readme, out.String()); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "bench: results written to %s\n", *readme)
	}
	if failed {
		os.Exit(1)
	}
}

func (r row) label() string {
	if r.peer == "" {
		return r.name
	}
	return r.name + " (" + r.peer + ")"
}

// ratioNote compares our run with a peer's run of the same scenario.
func ratioNote(ours, peer Result) string {
	var parts []string
	if p := peer.RecordsPerSec(); p > 0 {
		parts = append(parts, fmt.Sprintf("ours/peer records/s %.2f×", ours.RecordsPerSec()/p))
	}
	if p := peer.CPUPerMillion(); p > 0 && ours.CPUPerMillion() > 0 {
		parts = append(parts, fmt.Sprintf("CPU per record %.2f×", ours.CPUPerMillion()/p))
	}
	if peer.PeakRSS > 0 && ours.PeakRSS > 0 {
		parts = append(parts, fmt.Sprintf("peak RSS %.2f×", float64(ours.PeakRSS)/float64(peer.PeakRSS)))
	}
	return strings.Join(parts, ", ")
}

// machineLine describes where and when the figures were taken.
func machineLine(repeat int, peers []Peer) string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(data))
	}
	load := "?"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			load = f[0]
		}
	}
	ps := "no peer agent (none on PATH; -peer names one)"
	if len(peers) > 0 {
		var l []string
		for _, p := range peers {
			l = append(l, p.label()+" at "+p.Path)
		}
		ps = "peers: " + strings.Join(l, ", ")
	}
	return fmt.Sprintf("`go run ./bench` on %s: %s, %d CPUs, Linux %s, %s %s/%s, load average %s at the start; median of %d runs; %s.",
		time.Now().UTC().Format("2006-01-02"), cpu, runtime.NumCPU(), kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, load, repeat, ps)
}

// writeReadme replaces what is between the bench markers in path with md.
func writeReadme(path, md string) error {
	const begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s section to write into", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n<!-- written by go run ./bench -readme; edits here are overwritten -->\n" + md + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	default:
		return d.Round(100 * time.Microsecond).String()
	}
}

// si prints a rate with a k / M suffix.
func si(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func num(v float64, prec int) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// percentiles returns the 50th and 99th percentiles of lat (sorted in place).
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
