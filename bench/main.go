// Command bench measures the agent as a user runs it: it builds the daemon, starts it with
// each scenario's configuration, drives it with load generators on 127.0.0.1, and prints
// records per second, agent CPU seconds per million records, peak RSS and, where the
// scenario can tell, ingest latency. Every scenario runs a bounded number of records, is
// repeated (-repeat, default 3) and reports the median run.
//
//	go run ./bench -scenario all            # every scenario
//	go run ./bench -scenario dummy-null -records 2000000
//	go run ./bench -list
//
// Scenarios register themselves in init functions (one file each), so adding one is adding
// a file. Run it from the module root.
package main

import (
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

var scenarios = map[string]*Scenario{}

// register adds a scenario; scenario files call it from init.
func register(s *Scenario) {
	if _, dup := scenarios[s.Name]; dup {
		panic("bench: scenario registered twice: " + s.Name)
	}
	scenarios[s.Name] = s
}

func main() {
	which := flag.String("scenario", "all", "comma-separated scenario names, or all")
	records := flag.Int("records", 1_000_000, "records per run")
	repeat := flag.Int("repeat", 3, "runs per scenario; the median is reported")
	list := flag.Bool("list", false, "list the scenarios and exit")
	flag.Parse()

	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	if *list {
		for _, n := range names {
			fmt.Printf("%-28s %s\n", n, scenarios[n].Desc)
		}
		return
	}
	if *which != "all" {
		names = strings.Split(*which, ",")
		for _, n := range names {
			if scenarios[n] == nil {
				fmt.Fprintf(os.Stderr, "bench: no scenario %q (-list shows them)\n", n)
				os.Exit(2)
			}
		}
	}
	dir, err := os.MkdirTemp("", "fluentbit-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fluentbit")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/fluentbit")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fatal(fmt.Errorf("building the agent (run from the module root): %w", err))
	}

	fmt.Printf("fluentbit-go bench, %s, %s %s/%s, %d CPUs, %d records per run, median of %d\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), *records, *repeat)
	fmt.Println("| scenario | records/s | agent CPU s / M records | peak RSS MB | p50 | p99 | note |")
	fmt.Println("|---|---|---|---|---|---|---|")
	failed := false
	for _, n := range names {
		var runs []Result
		for i := 0; i < *repeat; i++ {
			env := &Env{Agent: bin, Records: *records, Dir: filepath.Join(dir, fmt.Sprintf("%s-%d", n, i))}
			if err := os.MkdirAll(env.Dir, 0o755); err != nil {
				fatal(err)
			}
			r, err := scenarios[n].Run(env)
			env.cleanup()
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s run %d: %v\n", n, i+1, err)
				failed = true
				break
			}
			runs = append(runs, r)
		}
		if len(runs) == 0 {
			fmt.Printf("| %s | failed | | | | | |\n", n)
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
		m := runs[len(runs)/2]
		cpu := "-"
		if m.AgentCPU > 0 && m.Records > 0 {
			cpu = fmt.Sprintf("%.2f", m.AgentCPU.Seconds()/float64(m.Records)*1e6)
		}
		rss := "-"
		if m.PeakRSS > 0 {
			rss = fmt.Sprintf("%.1f", float64(m.PeakRSS)/(1<<20))
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s |\n", n, m.RecordsPerSec(), cpu, rss, dur(m.P50), dur(m.P99), m.Note)
	}
	if failed {
		os.Exit(1)
	}
}

func dur(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
