// Command fluentbit is the fluentbit-go daemon. Its flags and configuration files follow
// Fluent Bit's: -c for a YAML or classic config, or -i/-F/-o with -p, -m and -t to build a
// pipeline on the command line. With no arguments it runs an embedded default pipeline.
//
// SIGTERM and SIGINT flush what is buffered (within the grace period) and exit; SIGHUP
// reloads the configuration without losing buffered records.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/embedhttp"
	"github.com/fluentbit-go/fluentbit-go/internal/offheap"
	"github.com/fluentbit-go/fluentbit-go/internal/textpages"
	"github.com/fluentbit-go/fluentbit-go/monitor"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	_ "github.com/fluentbit-go/fluentbit-go/plugins/all"
)

//go:embed default.yaml
var defaultConfig []byte

func main() {
	// Nothing can read a heap profile from the daemon, but linking runtime/pprof (for the
	// CPU profile below) keeps the runtime's heap sampling on: every ~512 KB allocated it
	// unwinds and records a stack, paging in more of the binary's tables (steps of 50 to
	// 150 KB in an idle agent's RSS over its first minutes).
	runtime.MemProfileRate = 0
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// FLUENTBIT_CPUPROFILE=file writes a CPU profile of the whole run (go tool pprof), for
	// finding where the agent spends its time under a benchmark's load.
	if path := os.Getenv("FLUENTBIT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args[1:], os.Stdout, os.Stderr, sig)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	// FLUENTBIT_MEMPROFILE=file writes the allocations profile at exit (go tool pprof
	// -sample_index=alloc_space): where the run's memory was allocated.
	if path := os.Getenv("FLUENTBIT_MEMPROFILE"); path != "" {
		runtime.MemProfileRate = 64 << 10
		stop := make(chan struct{})
		go peakHeapProfile(path+".peak", stop)
		code := run(os.Args[1:], os.Stdout, os.Stderr, sig)
		close(stop)
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sig))
}

// peakHeapProfile writes a heap profile to path each time the live heap (after a
// collection) reaches a new high, looking every 50 ms until stop: what was live at the
// run's peak (go tool pprof -sample_index=inuse_space).
func peakHeapProfile(path string, stop <-chan struct{}) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var peak uint64
	var ms runtime.MemStats
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc <= peak+peak/20 {
			continue
		}
		peak = ms.HeapAlloc
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
}

// cli is what the flags say, in order.
type cli struct {
	configFile string
	sections   []*config.Section // from -i/-F/-o, with their -p/-m/-t
	service    []config.Property
	verbosity  int
	quiet      bool
	dryRun     bool
	version    bool
	help       bool
}

const cliFile = "command line"

func parseFlags(args []string, stderr io.Writer) (*cli, *flag.FlagSet, error) {
	c := &cli{}
	fs := flag.NewFlagSet("fluentbit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var last *config.Section
	plugin := func(kind string) func(string) error {
		return func(name string) error {
			last = &config.Section{Kind: kind, Name: name, File: cliFile}
			c.sections = append(c.sections, last)
			return nil
		}
	}
	prop := func(flag, kind, key string) func(string) error {
		return func(v string) error {
			if last == nil || (kind != "" && last.Kind != kind) {
				if flag == "p" {
					return fmt.Errorf("it comes before any -i, -F or -o")
				}
				return fmt.Errorf("-%s %q comes before any %s", flag, v, map[string]string{"": "-i, -F or -o", "input": "-i"}[kind])
			}
			if kind == "" && key == "match" && last.Kind == "input" {
				return fmt.Errorf("-m %q follows an input: match is for -F and -o", v)
			}
			last.Set(key, v)
			return nil
		}
	}
	svc := func(key string) func(string) error {
		return func(v string) error {
			c.service = append(c.service, config.Property{Key: key, Value: v, File: cliFile})
			return nil
		}
	}
	both := func(short, long, usage string, fn func(string) error) {
		fs.Func(short, usage, fn)
		fs.Func(long, usage, fn)
	}
	bothBool := func(short, long, usage string, fn func(string) error) {
		fs.BoolFunc(short, usage, fn)
		fs.BoolFunc(long, usage, fn)
	}
	both("c", "config", "configuration file (YAML or classic)", func(v string) error { c.configFile = v; return nil })
	both("i", "input", "add an input plugin", plugin("input"))
	both("F", "filter", "add a filter plugin", plugin("filter"))
	both("o", "output", "add an output plugin", plugin("output"))
	both("p", "prop", "set a property of the last plugin: -p key=value", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("-p %q: want key=value", v)
		}
		if err := prop("p", "", strings.TrimSpace(k))(val); err != nil {
			return fmt.Errorf("-p %q: %w", v, err)
		}
		return nil
	})
	both("m", "match", "match pattern of the last filter or output", prop("m", "", "match"))
	both("t", "tag", "tag of the last input", prop("t", "input", "tag"))
	both("f", "flush", "flush interval in seconds", svc("flush"))
	both("l", "log_file", "write logs to this file", svc("log_file"))
	both("R", "parser", "parsers file", svc("parsers_file"))
	both("P", "port", "monitoring server port", svc("http_port"))
	bothBool("H", "http", "enable the monitoring server", func(string) error { return svc("http_server")("on") })
	bothBool("Y", "enable-hot-reload", "enable reloading through the monitoring API", func(string) error { return svc("hot_reload")("on") })
	bothBool("v", "verbose", "more logging (-vv for trace)", func(string) error { c.verbosity++; return nil })
	bothBool("q", "quiet", "log errors only", func(string) error { c.quiet = true; return nil })
	fs.BoolFunc("dry-run", "check the configuration and exit", func(string) error { c.dryRun = true; return nil })
	bothBool("V", "version", "print the version and exit", func(string) error { c.version = true; return nil })
	bothBool("h", "help", "print this help and the plugins, and exit", func(string) error { c.help = true; return nil })
	fs.Usage = func() {}

	// Fluent Bit accepts -vv and -vvv: Go's flag package wants them apart.
	var expanded []string
	for _, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] == 'v' && strings.Trim(a[1:], "v") == "" {
			for range a[1:] {
				expanded = append(expanded, "-v")
			}
			continue
		}
		expanded = append(expanded, a)
	}
	if err := fs.Parse(expanded); err != nil {
		return nil, fs, err
	}
	if fs.NArg() > 0 {
		return nil, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, fs, nil
}

// usageFlags lists the options in the order -h prints them, short name first.
var usageFlags = [][2]string{
	{"c", "config"}, {"i", "input"}, {"F", "filter"}, {"o", "output"}, {"p", "prop"}, {"m", "match"},
	{"t", "tag"}, {"f", "flush"}, {"l", "log_file"}, {"R", "parser"}, {"H", "http"}, {"P", "port"},
	{"Y", "enable-hot-reload"}, {"v", "verbose"}, {"q", "quiet"}, {"", "dry-run"}, {"V", "version"}, {"h", "help"},
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: fluentbit [OPTION]\n\nfluentbit-go %s: a Fluent Bit compatible agent.\n\nOptions:\n", fluentbit.Version)
	for _, f := range usageFlags {
		names := "    --" + f[1]
		if f[0] != "" {
			names = "-" + f[0] + ", --" + f[1]
		}
		fmt.Fprintf(w, "  %-26s %s\n", names, fs.Lookup(f[1]).Usage)
	}
	in, fl, out := pipeline.Plugins()
	fmt.Fprintf(w, "\nInputs:  %s\nFilters: %s\nOutputs: %s\n", strings.Join(in, " "), strings.Join(fl, " "), strings.Join(out, " "))
	fmt.Fprintf(w, "\nWith no option it runs an embedded default pipeline (cpu and mem to stdout).\n")
}

// loadConfig builds the configuration the flags describe.
func loadConfig(c *cli) (*config.Config, error) {
	var cfg *config.Config
	var err error
	switch {
	case c.configFile != "":
		cfg, err = config.Load(c.configFile)
	case len(c.sections) == 0:
		cfg, err = config.Parse("(embedded) default.yaml", defaultConfig)
	default:
		cfg = &config.Config{Service: config.Section{Kind: "service", File: cliFile}}
	}
	if err != nil {
		return nil, err
	}
	for _, s := range c.sections {
		cp := *s
		cp.Props = append([]config.Property(nil), s.Props...)
		switch s.Kind {
		case "input":
			cfg.Inputs = append(cfg.Inputs, &cp)
		case "filter", "output":
			// On the command line a plugin with no -m matches everything, as in Fluent Bit.
			if _, ok := cp.Get("match"); !ok {
				if _, ok := cp.Get("match_regex"); !ok {
					cp.Set("match", "*")
				}
			}
			if s.Kind == "filter" {
				cfg.Filters = append(cfg.Filters, &cp)
			} else {
				cfg.Outputs = append(cfg.Outputs, &cp)
			}
		}
	}
	for _, p := range c.service {
		cfg.Service.Set(p.Key, p.Value)
	}
	// The daemon runs on small devices: its memory is bounded unless the configuration
	// says otherwise (memory_limit off).
	if _, ok := cfg.Service.Get("memory_limit"); !ok {
		cfg.Service.Set("memory_limit", fluentbit.DaemonMemoryLimit)
	}
	switch {
	case c.quiet:
		cfg.Service.Set("log_level", "error")
	case c.verbosity > 0:
		cfg.Service.Set("log_level", "debug")
	}
	if len(cfg.Outputs) == 0 && len(cfg.Inputs) > 0 {
		return nil, errors.New("no output: add one with -o (e.g. -o stdout) or in the configuration")
	}
	return cfg, nil
}

func newLogger(svc fluentbit.Service, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	level, err := fluentbit.ParseLogLevel(svc.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	w, closer := stderr, io.Closer(nil)
	if svc.LogFile != "" {
		f, err := os.OpenFile(svc.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		w, closer = f, f
	}
	return slog.New(logCounts.Wrap(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))), closer, nil
}

// logCounts counts the daemon's log lines by level for the monitoring API
// (fluentbit_logger_logs_total).
var logCounts = &monitor.LogCounter{}

func run(args []string, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	c, fs, err := parseFlags(args, io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "fluentbit: %v\n(-h lists the options)\n", err)
		return 1
	}
	if c.help {
		usage(stdout, fs)
		return 0
	}
	if c.version {
		fmt.Fprintf(stdout, "fluentbit-go v%s (%s %s/%s)\n", fluentbit.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	cfg, err := loadConfig(c)
	if err != nil {
		fmt.Fprintf(stderr, "fluentbit: %v\n", err)
		return 1
	}
	if c.dryRun {
		err := fluentbit.Check(cfg)
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "fluentbit: warning: %v\n", w)
		}
		if err != nil {
			fmt.Fprintf(stderr, "fluentbit: %v\n", err)
			return 1
		}
		// What parsers accept the way Fluent Bit does (Types entries) is worth a look.
		if ps, err := parser.Load(cfg); err == nil {
			for _, w := range ps.Warnings() {
				fmt.Fprintf(stderr, "fluentbit: warning: %v\n", w)
			}
		}
		fmt.Fprintln(stdout, "configuration test is successful")
		return 0
	}
	svc, err := fluentbit.ParseService(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "fluentbit: %v\n", err)
		return 1
	}
	log, closer, err := newLogger(svc, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "fluentbit: %v\n", err)
		return 1
	}
	if closer != nil {
		defer closer.Close()
	}
	agent, err := fluentbit.New(cfg, fluentbit.WithLogger(log), fluentbit.WithoutPush())
	// After New: building the pipeline adds the warnings about keys (Fluent Bit's keys
	// that have no effect here).
	for _, w := range cfg.Warnings {
		log.Warn(w.Error())
	}
	if err != nil {
		fmt.Fprintf(stderr, "fluentbit: %v\n", err)
		return 1
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "fluentbit: %v\n", err)
		return 1
	}
	reloadReq := make(chan chan error)
	if svc.HTTPServer {
		stop, err := startMonitor(ctx, agent, svc, log, reloadReq)
		if err != nil {
			fmt.Fprintf(stderr, "fluentbit: monitoring API: %v\n", err)
			if err := agent.Stop(ctx); err != nil {
				fmt.Fprintf(stderr, "fluentbit: %v\n", err)
			}
			return 1
		}
		defer stop()
	}
	// Start-up code (configuration, every plugin's registration, Init) is not needed again:
	// its pages go back (see internal/textpages), as after each reload.
	textpages.Release()
	offheap.Refresh() // Go's share of memory_limit grows by what was given back
	reload := func(why string) error {
		log.Info(why + ": reloading configuration")
		next, err := loadConfig(c)
		if err == nil {
			err = agent.Reload(next)
			for _, w := range next.Warnings {
				log.Warn(w.Error())
			}
		}
		if err != nil {
			// The error says what runs now: the same configuration, the previous one
			// started again, or (both failing) no input until the next reload.
			log.Error("reload failed", "err", err)
			return err
		}
		if nsvc := agent.Service(); nsvc.HTTPServer != svc.HTTPServer || nsvc.HTTPListen != svc.HTTPListen || nsvc.HTTPPort != svc.HTTPPort {
			log.Warn("reload: http_server, http_listen and http_port changes take effect at the next start")
		}
		textpages.Release()
		offheap.Refresh()
		return nil
	}
	log.Info("fluentbit-go started", "version", fluentbit.Version, "pid", os.Getpid())
	var pending os.Signal // read while merging SIGHUPs, handled next
	for {
		s := pending
		pending = nil
		exitCode := -1
		if s == nil {
			select {
			case s = <-sig:
			case done := <-reloadReq:
				done <- reload("monitoring API")
				continue
			case exitCode = <-agent.ExitRequested():
				log.Info("an input asked the agent to exit", "code", exitCode)
				s = syscall.SIGTERM
			}
		}
		if s == nil {
			return 0
		}
		if s == syscall.SIGHUP {
			reload("SIGHUP")
			// SIGHUPs that arrived during that reload are merged into one more: the
			// configuration file is read again once, whatever their number.
			merged := 0
		drain:
			for {
				select {
				case s2 := <-sig:
					if s2 != syscall.SIGHUP {
						pending = s2
						break drain
					}
					merged++
				default:
					break drain
				}
			}
			if merged > 0 && pending == nil {
				log.Info("SIGHUPs during the reload merged", "signals", merged)
				pending = syscall.SIGHUP
			}
			continue
		}
		if exitCode >= 0 {
			log.Info("shutting down", "exit_code", exitCode, "grace", agent.Service().Grace)
		} else {
			log.Info("shutting down", "signal", s.String(), "grace", agent.Service().Grace)
		}
		done := make(chan error, 1)
		go func() { done <- agent.Stop(ctx) }()
		select {
		case err := <-done:
			logTotals(log, agent.Totals())
			if err != nil {
				log.Error("shutdown", "err", err)
				if exitCode < 0 {
					return 1
				}
			}
			return max(exitCode, 0)
		case s2 := <-sig:
			log.Error("second signal: exiting without waiting for the flush", "signal", s2.String())
			return 1
		}
	}
}

// logTotals logs what the agent took in and delivered over its whole run (every
// configuration a reload replaced included), so a shutdown says whether anything was lost.
func logTotals(log *slog.Logger, t fluentbit.RunTotals) {
	log.Info("stopped", "records_in", t.RecordsIn, "records_out", t.RecordsOut, "records_dropped", t.RecordsDropped)
}

// processStart is when the daemon started: the monitoring API's uptime.
var processStart = time.Now()

// startMonitor serves the monitoring API on http_listen:http_port (embedhttp, with the
// monitor mounted as a net/http Handler) until the returned stop is called. It serves
// the agent's current pipeline, so it carries on across reloads. POST or PUT
// /api/v2/reload asks the main loop for a reload (with hot_reload on), as Fluent Bit's
// does; GET tells how many reloads were done.
func startMonitor(ctx context.Context, agent *fluentbit.Agent, svc fluentbit.Service, log *slog.Logger,
	reloadReq chan<- chan error) (stop func(), err error) {
	mon := monitor.New(monitor.Options{
		Metrics: agent.Metrics, Start: processStart, Version: fluentbit.Version,
		Reloads:     agent.Reloads,
		HealthCheck: svc.HealthCheck, HCErrorsCount: svc.HCErrorsCount,
		HCRetryFailureCount: svc.HCRetryFailureCount, HCPeriod: time.Duration(svc.HCPeriod) * time.Second,
		StorageMetrics: svc.StorageMetrics, Logs: logCounts,
	})
	// Like the monitor's own router, this one is built at the first request: registering
	// patterns at start would cost an agent nobody scrapes resident memory (see monitor.New).
	mux := sync.OnceValue(func() *http.ServeMux { return monitorMux(mon, agent, reloadReq) })
	srv := &embedhttp.Server{
		Addr:    net.JoinHostPort(svc.HTTPListen, strconv.Itoa(svc.HTTPPort)),
		Handler: embedhttp.FromHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux().ServeHTTP(w, r) })),
		Workers: 1, // a few scrapes a minute: one accept loop is plenty
		Logger:  log,
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); mon.Run(runCtx) }()
	log.Info("monitoring API listening", "addr", srv.ListenAddr().String())
	return func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	}, nil
}

// monitorMux routes the monitoring API: the monitor, and /api/v2/reload, which asks the
// main loop for a reload.
func monitorMux(mon *monitor.Monitor, agent *fluentbit.Agent, reloadReq chan<- chan error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", mon)
	mux.HandleFunc("/api/v2/reload", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case "GET", "HEAD":
			fmt.Fprintf(w, `{"hot_reload_count":%d}`, agent.Reloads())
		case "POST", "PUT":
			if !agent.Service().HotReload {
				w.WriteHeader(400)
				io.WriteString(w, `{"reload":"not enabled","status":-1}`)
				return
			}
			done := make(chan error, 1)
			select {
			case reloadReq <- done:
			case <-r.Context().Done():
				return
			}
			if err := <-done; err != nil {
				w.WriteHeader(500)
				io.WriteString(w, `{"reload":"failed","status":-1}`)
				return
			}
			io.WriteString(w, `{"reload":"done","status":0}`)
		default:
			w.Header().Set("Allow", "GET, POST, PUT")
			w.WriteHeader(405)
		}
	})
	return mux
}
