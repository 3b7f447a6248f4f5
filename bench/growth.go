package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// The memory-growth report is an outage compressed into a bounded run: a dummy input
// offers records far faster than a device would, the forward output points at a port that
// refuses connections, and the retry scheduler runs 25 times faster than its defaults. Every
// half second it samples the agent's RSS, the monitoring API's counters and the bytes under
// storage.path. Three phases:
//
//   - memory, retry forever (the default retry_limit): the input must pause at
//     mem_buf_limit and stay there, RSS flat while every chunk is retried over and over;
//   - memory, retry_limit 1 (Fluent Bit's default): chunks are dropped after one retry, so
//     records keep flowing through the buffer; RSS must stay flat under that churn;
//   - filesystem: the input is never paused, the disk must stay under
//     storage.total_limit_size plus the chunks the engine documents it may not drop
//     (docs/storage.md), and RSS flat while the disk fills and the oldest chunks rotate out.
//
// A broken bound is an error with the numbers, so the harness fails rather than prints a
// table that looks fine.
func init() {
	addReport(&Report{
		Name: "memory-growth",
		Desc: "output down: RSS flat at mem_buf_limit, disk bounded at storage.total_limit_size (about 5 minutes)",
		Run:  runGrowth,
	})
}

const (
	growthMemBufLimit = 4 << 20
	growthTotalLimit  = 16 << 20
	growthRate        = 50_000 // records per second offered
	growthDeviceRate  = 1_000  // records per second of the device the run stands for
	// dummyMaxBatch is inputs/dummy's maxBatchBytes: a chunk is sealed at the first batch
	// that takes it to pipeline.DefaultChunkLimit, so it can exceed that by one batch.
	dummyMaxBatch = 128 << 10
	// growthRecord is a typical device log line.
	growthRecord = `{"message":"GET /api/v1/items 200 12ms","level":"info","host":"gw-1","temp":21.5}`
)

// growthPhase is one configuration of the run.
type growthPhase struct {
	name       string
	retryLimit string // retry_limit of the output
	fs         bool   // storage.type filesystem and storage.total_limit_size
	// minDur is the least the phase runs outside Quick runs. With the input paused nothing
	// flows: the heap grows only by the garbage of retries and of the sampler's requests,
	// some tens of KB/s, so the first GC cycle after the buffer fills can be two minutes
	// away and RSS creeps until then (10 MB goal reached at 111 s in one run). Go forces a
	// cycle every 2 minutes: running 20 s past that shows RSS level off instead of a creep
	// that a shorter table cannot tell from a leak (and keeps the whole bench command
	// within its 10 minutes).
	minDur time.Duration
}

var growthPhases = []growthPhase{
	{name: "memory buffer, retry forever", retryLimit: "no_limits", minDur: 140 * time.Second},
	{name: "memory buffer, retry_limit 1", retryLimit: "1"},
	{name: "filesystem buffer, retry forever", retryLimit: "no_limits", fs: true},
}

// growthSample is what one tick of the sampler read.
type growthSample struct {
	at         time.Duration // since the agent logged it started
	rss        int64         // bytes (VmRSS)
	recordsIn  uint64        // records the input handed to the engine
	buffered   uint64        // bytes the input holds in memory (the mem_buf_limit count)
	paused     bool          // the input is over its mem_buf_limit
	retries    uint64        // output retries scheduled
	dropped    uint64        // records the output gave up (retry_limit, total_limit_size)
	disk       int64         // bytes of files under storage.path
	chunksUp   uint64        // sealed filesystem chunks held in memory
	chunksDown uint64        // sealed filesystem chunks on disk only
}

func runGrowth(o *Options) (string, error) {
	dur, idleWait := 35*time.Second, 2*time.Second
	if o.Quick {
		dur, idleWait = 4*time.Second, 500*time.Millisecond
	}
	idle, err := growthIdleRSS(o, idleWait)
	if err != nil {
		return "", fmt.Errorf("idle run: %w", err)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "**Memory growth with the output down.** An outage compressed into a bounded run: a dummy input offers "+
		"%s records/s (`%s`, %d bytes as a forward entry) for %v per phase, %s records, what a device logging %d records/s "+
		"produces in %.0f minutes. The forward output points at a 127.0.0.1 port bound but not listening (connections refused). "+
		"`scheduler.base 0.2`, `scheduler.cap 1` retry each chunk every 0.2 to 1 s (the defaults, 5 s and 2000 s, make about 6 "+
		"retries in 10 minutes). `mem_buf_limit %s`, `flush 1`. The same agent with the input at 1 record/s has an RSS of %.1f MB "+
		"(idle below). Sampled every 0.5 s: VmRSS from /proc, the counters of the monitoring API (`/api/v2/metrics/prometheus`), "+
		"the bytes of the files under `storage.path`.\n",
		si(growthRate), growthRecord, growthEntrySize(), dur, si(growthRate*dur.Seconds()), growthDeviceRate,
		growthRate*dur.Seconds()/growthDeviceRate/60, growthMB(growthMemBufLimit), growthMBf(idle))
	var failures []string
	for i, ph := range growthPhases {
		dir := filepath.Join(o.Dir, fmt.Sprintf("memory-growth-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		d := dur
		if !o.Quick {
			d = max(d, ph.minDur)
		}
		samples, log, err := growthRun(o, dir, ph, growthRate, d)
		if err != nil {
			return "", fmt.Errorf("%s: %w", ph.name, err)
		}
		verdict, bad := growthVerdict(ph, samples, idle, !o.Quick)
		fmt.Fprintf(&md, "\n*%s, %v.* %s\n\n%s\n%s\n", ph.name, d, growthSetup(ph), growthTable(ph, samples, 12), verdict)
		if bad != "" {
			failures = append(failures, ph.name+": "+bad)
			fmt.Fprintf(os.Stderr, "bench: memory-growth: %s: %s; agent log (end):\n%s\n", ph.name, bad, growthTail(log, 3000))
		}
	}
	if len(failures) > 0 {
		// The harness prints only the error of a failed report: the tables go to stderr.
		fmt.Fprint(os.Stderr, md.String())
		return md.String(), fmt.Errorf("bound broken: %s", strings.Join(failures, "; "))
	}
	return md.String(), nil
}

// growthConfig is the agent's configuration for a phase.
func growthConfig(dir string, ph growthPhase, rate, apiPort, deadPort int) string {
	service, input, output := "", "", ""
	if ph.fs {
		service = fmt.Sprintf("  storage.path: %s\n  storage.metrics: on\n", filepath.Join(dir, "storage"))
		input = "      storage.type: filesystem\n"
		output = fmt.Sprintf("      storage.total_limit_size: %dM\n", growthTotalLimit>>20)
	}
	return fmt.Sprintf(`
service:
  flush: 1
  grace: 1
  log_level: info
  scheduler.base: 0.2
  scheduler.cap: 1
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
%spipeline:
  inputs:
    - name: dummy
      tag: device.log
      dummy: '%s'
      rate: %d
      mem_buf_limit: %dM
%s  outputs:
    - name: forward
      match: '*'
      host: 127.0.0.1
      port: %d
      retry_limit: %s
%s`, apiPort, service, growthRecord, rate, growthMemBufLimit>>20, input, deadPort, ph.retryLimit, output)
}

// growthSetup says what is particular to a phase.
func growthSetup(ph growthPhase) string {
	s := fmt.Sprintf("`retry_limit %s`, memory buffer.", ph.retryLimit)
	if ph.retryLimit == "1" {
		s += " Chunks are dropped after one retry, so records keep flowing through the buffer."
	} else if !ph.fs {
		s += " Nothing may be dropped: the input must pause at `mem_buf_limit` and stay paused. Nothing flows, so the heap " +
			"grows only by the garbage of retries and of the sampling until the first GC cycle: the phase runs past Go's " +
			"forced GC (at most 2 minutes apart) to show where RSS levels off."
	}
	if ph.fs {
		s = fmt.Sprintf("`storage.type filesystem`, `storage.total_limit_size %dM`, `retry_limit %s`: the input is never paused; "+
			"past the limit the output's oldest chunks are dropped. Disk bound (docs/storage.md): the limit + the open chunk + "+
			"the chunk being flushed, each at most %s (chunk size %s + one dummy batch) = %s.",
			growthTotalLimit>>20, ph.retryLimit, growthMB(growthChunkMax()), growthMB(pipeline.DefaultChunkLimit), growthMB(growthDiskBound()))
	}
	return s
}

// growthChunkMax is the most one chunk file can hold: sealed at the batch that takes it
// past the chunk limit, plus its header and frame headers (small; a page covers them).
func growthChunkMax() int64 { return pipeline.DefaultChunkLimit + dummyMaxBatch + 4096 }

// growthDiskBound is storage.total_limit_size plus the chunks docs/storage.md says are
// not counted or not dropped: the open chunk of the one tag and the one being flushed
// (one worker).
func growthDiskBound() int64 { return growthTotalLimit + 2*growthChunkMax() }

// growthIdleRSS is the RSS of the memory-buffer configuration with the input at one
// record per second: the agent's own footprint, before any buffer.
func growthIdleRSS(o *Options, wait time.Duration) (int64, error) {
	dir := filepath.Join(o.Dir, "memory-growth-idle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	samples, _, err := growthRun(o, dir, growthPhases[0], 1, wait)
	if err != nil {
		return 0, err
	}
	return samples[len(samples)-1].rss, nil
}

// growthRun runs one phase for dur and returns its samples and the agent's log.
func growthRun(o *Options, dir string, ph growthPhase, rate int, dur time.Duration) ([]growthSample, string, error) {
	apiPort, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	deadPort, closeDead, err := growthDeadPort()
	if err != nil {
		return nil, "", err
	}
	defer closeDead()
	env := &Env{Agent: o.Agent, Dir: dir}
	defer env.cleanup()
	a, err := env.StartAgent(growthConfig(dir, ph, rate, apiPort, deadPort))
	if err != nil {
		return nil, "", err
	}
	storageDir := ""
	if ph.fs {
		storageDir = filepath.Join(dir, "storage")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/api/v2/metrics/prometheus", apiPort)
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var samples []growthSample
	for {
		s := growthSample{at: time.Since(start), rss: a.RSS()}
		m, err := growthScrape(client, url)
		if err != nil {
			return nil, a.Log(), fmt.Errorf("monitoring API: %w", err)
		}
		s.recordsIn = m["fluentbit_input_records_total"]
		s.buffered = m["fluentbit_input_storage_memory_bytes"]
		s.paused = m["fluentbit_input_ingestion_paused"] > 0
		s.retries = m["fluentbit_output_retries_total"]
		s.dropped = m["fluentbit_output_dropped_records_total"]
		if out := m["fluentbit_output_proc_records_total"]; out != 0 {
			return nil, a.Log(), fmt.Errorf("the output delivered %d records to a port nothing should listen on", out)
		}
		s.chunksUp = m["fluentbit_storage_fs_chunks_up"]
		s.chunksDown = m["fluentbit_storage_fs_chunks_down"]
		if storageDir != "" {
			if s.disk, err = growthDirSize(storageDir); err != nil {
				return nil, a.Log(), err
			}
		}
		if s.rss == 0 {
			return nil, a.Log(), fmt.Errorf("cannot read the agent's RSS (exited?):\n%s", growthTail(a.Log(), 3000))
		}
		samples = append(samples, s)
		if s.at >= dur {
			break
		}
		<-tick.C
	}
	if _, _, err := a.Stop(); err != nil {
		return nil, a.Log(), err
	}
	return samples, a.Log(), nil
}

// growthDeadPort binds a TCP port on 127.0.0.1 without listening on it: connecting to it
// is refused, and until closeFn no other process can bind it. (A port that was merely free
// a moment ago can be taken by another program's server on a shared machine, and then the
// output that should be down delivers.)
func growthDeadPort() (port int, closeFn func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("dead port: %w", err)
	}
	syscall.CloseOnExec(fd) // the agent must not inherit it
	closeFn = func() { _ = syscall.Close(fd) }
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		closeFn()
		return 0, nil, fmt.Errorf("dead port: bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		closeFn()
		return 0, nil, fmt.Errorf("dead port: %w", err)
	}
	return sa.(*syscall.SockaddrInet4).Port, closeFn, nil
}

// growthVerdict checks a phase's bounds. It returns the verdict line for the report and,
// when a bound is broken, what broke it. judgeRSS is false for quick runs: a few seconds
// are too short for the GC's pacing to settle, so their halves cannot show flatness.
func growthVerdict(ph growthPhase, s []growthSample, idle int64, judgeRSS bool) (verdict, broken string) {
	half := len(s) / 2
	first, second := growthMax(s[:half], func(x growthSample) int64 { return x.rss }), growthMax(s[half:], func(x growthSample) int64 { return x.rss })
	peak := max(first, second)
	var ok, bad []string
	// Flat: the second half of the run holds no more than the first (which includes the
	// ramp to the plateau), give or take what the GC's pacing moves.
	switch {
	case !judgeRSS:
		ok = append(ok, fmt.Sprintf("RSS not judged in a quick run: max %.1f MB in the first half, %.1f MB in the second", growthMBf(first), growthMBf(second)))
	case float64(second) <= 1.15*float64(first)+(1<<20):
		ok = append(ok, fmt.Sprintf("RSS flat: max %.1f MB in the second half against %.1f MB in the first (bound 1.15× + 1 MB)", growthMBf(second), growthMBf(first)))
	default:
		bad = append(bad, fmt.Sprintf("RSS grew: max %.1f MB in the first half, %.1f MB in the second (> 1.15× + 1 MB)", growthMBf(first), growthMBf(second)))
	}
	ok = append(ok, fmt.Sprintf("peak %.1f MB = idle %.1f MB + %.1f MB for a %s mem_buf_limit", growthMBf(peak), growthMBf(idle), growthMBf(peak-idle), growthMB(growthMemBufLimit)))
	last := s[len(s)-1]
	maxBuf := growthMax(s, func(x growthSample) int64 { return int64(x.buffered) })
	// The memory buffer pauses before a batch once it is at the limit: it may overshoot by
	// one batch. The filesystem buffer seals and puts chunks down past it, so by up to a
	// chunk (the open one) before the next seal.
	bufBound := int64(growthMemBufLimit + dummyMaxBatch)
	if ph.fs {
		bufBound = growthMemBufLimit + growthChunkMax()
	}
	if maxBuf <= bufBound {
		ok = append(ok, fmt.Sprintf("buffered at most %.2f MB (bound %.2f MB)", growthMBf(maxBuf), growthMBf(bufBound)))
	} else {
		bad = append(bad, fmt.Sprintf("buffered %.2f MB, over the %.2f MB bound", growthMBf(maxBuf), growthMBf(bufBound)))
	}
	switch {
	case ph.fs:
		maxDisk := growthMax(s, func(x growthSample) int64 { return x.disk })
		if maxDisk <= growthDiskBound() {
			ok = append(ok, fmt.Sprintf("disk at most %.1f MB (bound %.1f MB)", growthMBf(maxDisk), growthMBf(growthDiskBound())))
		} else {
			bad = append(bad, fmt.Sprintf("disk reached %.1f MB, over the %.1f MB bound", growthMBf(maxDisk), growthMBf(growthDiskBound())))
		}
		if last.dropped == 0 && maxDisk >= growthTotalLimit {
			bad = append(bad, "the disk passed storage.total_limit_size but no record was dropped")
		}
	case ph.retryLimit == "no_limits":
		if last.dropped != 0 {
			bad = append(bad, fmt.Sprintf("%d records dropped with retry_limit no_limits", last.dropped))
		}
		if len(s) > 4 && !last.paused {
			bad = append(bad, "the input is not paused at the end")
		} else {
			ok = append(ok, fmt.Sprintf("input paused, %s records taken in and held (the dummy skips what falls due while it is paused, as Fluent Bit's does), none dropped",
				si(float64(last.recordsIn))))
		}
	default:
		ok = append(ok, fmt.Sprintf("%s records taken in, %s dropped after their retry", si(float64(last.recordsIn)), si(float64(last.dropped))))
	}
	if len(bad) > 0 {
		return "**Bound broken:** " + strings.Join(bad, "; ") + ". (" + strings.Join(ok, "; ") + ".)", strings.Join(bad, "; ")
	}
	return "**Bounded:** " + strings.Join(ok, "; ") + ".", ""
}

// growthTable prints about rows of the samples, evenly spaced, first and last included.
func growthTable(ph growthPhase, s []growthSample, rows int) string {
	var b strings.Builder
	b.WriteString("| t (s) | records in | input buffered MB | paused | RSS MB | retries | dropped |")
	sep := "|---|---|---|---|---|---|---|"
	if ph.fs {
		b.WriteString(" storage MB | chunks up / down |")
		sep += "---|---|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, i := range growthSpread(len(s), rows) {
		x := s[i]
		paused := "no"
		if x.paused {
			paused = "yes"
		}
		fmt.Fprintf(&b, "| %.1f | %d | %.2f | %s | %.1f | %d | %d |", x.at.Seconds(), x.recordsIn, growthMBf(int64(x.buffered)),
			paused, growthMBf(x.rss), x.retries, x.dropped)
		if ph.fs {
			fmt.Fprintf(&b, " %.1f | %d / %d |", growthMBf(x.disk), x.chunksUp, x.chunksDown)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// spread returns about k indexes of n, evenly spaced, including 0 and n-1.
func growthSpread(n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := make([]int, 0, k)
	for i := 0; i < k; i++ {
		j := i * (n - 1) / (k - 1)
		if len(idx) == 0 || idx[len(idx)-1] != j {
			idx = append(idx, j)
		}
	}
	return idx
}

// scrapeProm reads a Prometheus text page and sums each metric's samples over their
// labels (the runs have one input and one output, so the sums are their values).
func growthScrape(c *http.Client, url string) (map[string]uint64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return growthParseProm(io.LimitReader(resp.Body, 1<<20))
}

var growthPromLineRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)`)

func growthParseProm(r io.Reader) (map[string]uint64, error) {
	m := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		sub := growthPromLineRE.FindStringSubmatch(l)
		if sub == nil {
			return nil, fmt.Errorf("prometheus text: cannot read %q", l)
		}
		v, err := strconv.ParseFloat(sub[3], 64)
		if err != nil {
			return nil, fmt.Errorf("prometheus text: %q: %w", l, err)
		}
		m[sub[1]] += uint64(v)
	}
	return m, sc.Err()
}

// dirSize is the bytes of the regular files under dir (their length, which is what
// storage.total_limit_size counts), 0 when dir does not exist yet. Files removed while it
// walks are skipped.
func growthDirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}

func growthMax(s []growthSample, f func(growthSample) int64) int64 {
	var m int64
	for _, x := range s {
		m = max(m, f(x))
	}
	return m
}

// growthEntrySize is the bytes of one dummy record as a forward entry ([time, record]).
func growthEntrySize() int {
	rec, err := event.RecordFromJSON([]byte(growthRecord))
	if err != nil {
		return 0
	}
	b, err := event.AppendEntry(nil, &event.Event{Time: time.Now(), Record: rec})
	if err != nil {
		return 0
	}
	return len(b)
}

func growthMBf(n int64) float64 { return float64(n) / (1 << 20) }

// mb formats a byte count as Fluent Bit sizes are written in configs when whole ("4M").
func growthMB(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%.2f MB", growthMBf(n))
}

func growthTail(s string, n int) string { return s[max(0, len(s)-n):] }
