package main

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGrowthParsePromSumsOverLabels(t *testing.T) {
	page := `# HELP fluentbit_input_records_total Number of input records.
# TYPE fluentbit_input_records_total counter
fluentbit_input_records_total{name="dummy.0"} 49172
fluentbit_input_records_total{name="dummy.1"} 8
fluentbit_output_retries_total{name="forward.0"} 3 1700000000000
fluentbit_storage_fs_chunks_up 2
`
	m, err := growthParseProm(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]uint64{"fluentbit_input_records_total": 49180, "fluentbit_output_retries_total": 3, "fluentbit_storage_fs_chunks_up": 2} {
		if m[k] != want {
			t.Errorf("%s = %d, want %d", k, m[k], want)
		}
	}
	if _, err := growthParseProm(strings.NewReader("not a metric line at all {\n")); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func TestGrowthSpreadKeepsFirstAndLast(t *testing.T) {
	idx := growthSpread(91, 10)
	if len(idx) != 10 || idx[0] != 0 || idx[len(idx)-1] != 90 {
		t.Fatalf("growthSpread(91, 10) = %v", idx)
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			t.Fatalf("not increasing: %v", idx)
		}
	}
	if got := growthSpread(3, 10); len(got) != 3 {
		t.Errorf("growthSpread(3, 10) = %v, want every sample", got)
	}
}

func TestStatusBytes(t *testing.T) {
	status := []byte("Name:\tfluentbit\nVmHWM:\t   20000 kB\nVmRSS:\t   17800 kB\n")
	if got := statusBytes(status, "VmRSS"); got != 17800*1024 {
		t.Errorf("VmRSS = %d", got)
	}
	if got := statusBytes(status, "RssAnon"); got != 0 {
		t.Errorf("missing key = %d, want 0", got)
	}
}

// growthSamples builds a run of n samples with RSS from rss(i) and the other fields from set.
func growthSamples(n int, rss func(i int) int64, set func(i int, s *growthSample)) []growthSample {
	s := make([]growthSample, n)
	for i := range s {
		s[i] = growthSample{at: time.Duration(i) * 500 * time.Millisecond, rss: rss(i), buffered: 3 << 20, paused: true}
		if set != nil {
			set(i, &s[i])
		}
	}
	return s
}

func TestGrowthVerdict(t *testing.T) {
	flat := func(i int) int64 { return 18<<20 + int64(i%3)<<18 }
	mem, fs := growthPhases[0], growthPhases[2]
	if v, bad := growthVerdict(mem, growthSamples(90, flat, nil), 11<<20, true); bad != "" || !strings.HasPrefix(v, "**Bounded:**") {
		t.Errorf("flat run: %q, %q", v, bad)
	}
	// A leak of 100 KB a sample: 9 MB over the run.
	leak := func(i int) int64 { return 18<<20 + int64(i)*100<<10 }
	if _, bad := growthVerdict(mem, growthSamples(90, leak, nil), 11<<20, false); bad != "" {
		t.Errorf("a quick run judged RSS: %s", bad)
	}
	if _, bad := growthVerdict(mem, growthSamples(90, leak, nil), 11<<20, true); !strings.Contains(bad, "RSS grew") {
		t.Errorf("leaking run: %q", bad)
	}
	dropped := func(i int, s *growthSample) { s.dropped = 1 }
	if _, bad := growthVerdict(mem, growthSamples(90, flat, dropped), 11<<20, true); !strings.Contains(bad, "dropped with retry_limit no_limits") {
		t.Errorf("retry forever dropping: %q", bad)
	}
	overDisk := func(i int, s *growthSample) {
		s.dropped, s.disk = 100, growthDiskBound()
		if i == 60 {
			s.disk++
		}
	}
	if _, bad := growthVerdict(fs, growthSamples(90, flat, overDisk), 11<<20, true); !strings.Contains(bad, "disk reached") {
		t.Errorf("disk over its bound: %q", bad)
	}
	overBuf := func(i int, s *growthSample) { s.buffered = growthMemBufLimit + dummyMaxBatch + 1 }
	if _, bad := growthVerdict(mem, growthSamples(90, flat, overBuf), 11<<20, true); !strings.Contains(bad, "buffered") {
		t.Errorf("buffer over mem_buf_limit: %q", bad)
	}
}

// The output's destination is a port that refuses connections and that nothing else on
// the machine can take while the run holds it.
func TestGrowthDeadPortRefusesAndIsHeld(t *testing.T) {
	port, closeFn, err := growthDeadPort()
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("connected to the dead port")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want connection refused", err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatal("another listener could take the dead port")
	}
}
