package serial

import (
	"context"
	"errors"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// harness runs a serial input on a socat pty and lets the test wait on what it read.
type harness struct {
	in     *Input
	run    *pipelinetest.Running
	logs   pipelinetest.Logs
	read   atomic.Int64 // bytes read so far
	maxBuf atomic.Int64 // most bytes held for an unfinished line
	kick   chan struct{}
	opened chan struct{}
}

func start(t *testing.T, dev string, props ...string) *harness {
	t.Helper()
	in := pipelinetest.Input[*Input](t, "serial", append([]string{"file", dev, "bitrate", "115200"}, props...)...)
	h := &harness{in: in, kick: make(chan struct{}, 1), opened: make(chan struct{}, 4)}
	in.reopenMin, in.reopenMax = 10*time.Millisecond, 50*time.Millisecond
	in.onRead = func(n int) {
		h.read.Add(int64(n))
		if p := int64(in.lines.pending()); p > h.maxBuf.Load() {
			h.maxBuf.Store(p)
		}
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
	in.onOpen = func() { h.opened <- struct{}{} }
	h.run = pipelinetest.StartInput(t, in, h.logs.Env("serial.0"), nil)
	return h
}

// stop stops the input (and closes it); a second stop returns at once.
func (h *harness) stop(t *testing.T) {
	if err := h.run.Stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

// waitRead waits until the input has read n bytes in all.
func (h *harness) waitRead(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for h.read.Load() < n {
		select {
		case <-h.kick:
		case <-deadline:
			t.Fatalf("read %d bytes, want %d", h.read.Load(), n)
		}
	}
}

// records waits for n records and returns their msg fields.
func (h *harness) records(t *testing.T, n int) []any {
	t.Helper()
	if !h.run.Rec.Wait(n, 20*time.Second) {
		t.Fatalf("%d records, want %d: %v", h.run.Rec.Len(), n, h.msgs())
	}
	return h.msgs()
}

func (h *harness) msgs() []any {
	var out []any
	for _, r := range h.run.Rec.Records() {
		out = append(out, r.Event.Record.Value("msg"))
	}
	return out
}

func (h *harness) warnings() []string {
	var out []string
	for _, r := range h.logs.Records() {
		if r.Level >= slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

func TestLinesWithSeparators(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props []string
		send  string
		want  []string
	}{
		{"newline", nil, "one\ntwo\r\n\n\nthree\n", []string{"one", "two", "three"}},
		{"semicolon", []string{"separator", ";"}, "a=1;b=2;;c=3;", []string{"a=1", "b=2", "c=3"}},
		{"crlf", []string{"separator", `\r\n`}, "x\ny\r\nz\r\n", []string{"x\ny", "z"}},
		{"ftdi nul", nil, "\x00hello\n", []string{"hello"}},
		{"utf-8", nil, "température 21,5 °C\n", []string{"température 21,5 °C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPTY(t, t.TempDir())
			h := start(t, p.Dev, tc.props...)
			write(t, p.writer(t), tc.send)
			got := h.records(t, len(tc.want))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("records %q, want %q", got, tc.want)
			}
			h.waitRead(t, int64(len(tc.send)))
			h.stop(t)
			if h.run.Rec.Len() != len(tc.want) {
				t.Errorf("records %q, want %q", h.msgs(), tc.want)
			}
			if w := h.warnings(); len(w) != 0 {
				t.Errorf("warnings %q", w)
			}
		})
	}
}

func TestJSONLines(t *testing.T) {
	p := startPTY(t, t.TempDir())
	h := start(t, p.Dev, "format", "json")
	w := p.writer(t)
	send := `{"temp":21.5,"id":"s1","n":3}` + "\n" +
		"not json\n" +
		"[1,2]\n" +
		"\xff\xfe\x00garbage\x80\n" +
		`{"temp":22}` + "\n"
	write(t, w, send)
	got := h.records(t, 2)
	h.waitRead(t, int64(len(send)))
	h.stop(t)
	first, _ := got[0].(event.Map)
	if first.Value("temp") != 21.5 || first.Value("id") != "s1" || first.Value("n") != int64(3) {
		t.Errorf("first record msg %#v", got[0])
	}
	if second, _ := got[1].(event.Map); second.Value("temp") != int64(22) || h.run.Rec.Len() != 2 {
		t.Errorf("records %v", h.msgs())
	}
	warned := strings.Join(h.warnings(), "\n")
	if !strings.Contains(warned, "not a JSON object") || !strings.Contains(warned, "UTF-8") {
		t.Errorf("warnings %q, want the bad JSON and the binary garbage reported", warned)
	}
	// Two bad JSON lines, but one report: the second is counted for the next one.
	if n := strings.Count(warned, "not a JSON object"); n != 1 {
		t.Errorf("%d reports of bad JSON within 10s, want 1", n)
	}
}

// A line written a byte at a time, each byte read before the next is sent.
func TestLineSplitOverManyReads(t *testing.T) {
	p := startPTY(t, t.TempDir())
	h := start(t, p.Dev, "format", "json")
	w := p.writer(t)
	line := `{"msg_id":42,"text":"split across many reads"}` + "\n"
	for i := range len(line) {
		write(t, w, line[i:i+1])
		h.waitRead(t, int64(i+1))
	}
	got := h.records(t, 1)
	if m, _ := got[0].(event.Map); m.Value("msg_id") != int64(42) || m.Value("text") != "split across many reads" {
		t.Errorf("record msg %#v", got[0])
	}
}

// A line over max_line_length is reported and skipped up to its separator, and the input
// never holds much more than the limit for it.
func TestOverLongLine(t *testing.T) {
	p := startPTY(t, t.TempDir())
	h := start(t, p.Dev, "max_line_length", "100")
	w := p.writer(t)
	write(t, w, "before\n")
	long := strings.Repeat("x", 50_000)
	for i := 0; i < len(long); i += 1000 {
		write(t, w, long[i:i+1000])
	}
	write(t, w, "\nafter\n"+strings.Repeat("y", 101)+"\nlast\n")
	got := h.records(t, 3)
	h.waitRead(t, int64(7+len(long)+7+102+5))
	h.stop(t)
	if fmt.Sprint(got) != "[before after last]" || h.run.Rec.Len() != 3 {
		t.Errorf("records %q, want [before after last]", h.msgs())
	}
	if m := h.maxBuf.Load(); m > 100+4096 {
		t.Errorf("held %d bytes for an unfinished line, limit 100 (+ one read)", m)
	}
	warned := strings.Join(h.warnings(), "\n")
	if !strings.Contains(warned, "longer than max_line_length") {
		t.Errorf("warnings %q", warned)
	}
}

// The device disappears (socat killed: its ptys and links vanish) and comes back under the
// same name: reading resumes, and the unfinished line read before the loss is kept.
func TestDeviceGoneAndBack(t *testing.T) {
	dir := t.TempDir()
	p := startPTY(t, dir)
	h := start(t, p.Dev)
	waitFor(t, h.opened, "the first open")
	w := p.writer(t)
	write(t, w, "line1\nline2\npart")
	h.records(t, 2)
	h.waitRead(t, int64(len("line1\nline2\npart")))

	p.stop()
	w.Close()
	p2 := startPTY(t, dir) // the same link names
	waitFor(t, h.opened, "the port reopened")
	w2 := p2.writer(t)
	write(t, w2, "ial\nline3\n")
	got := h.records(t, 4)
	if fmt.Sprint(got) != "[line1 line2 partial line3]" {
		t.Errorf("records %q, want [line1 line2 partial line3]", got)
	}
	warned := h.warnings()
	if len(warned) != 1 || !strings.Contains(warned[0], "device gone") {
		t.Errorf("warnings %q, want one saying the device is gone", warned)
	}
	// And again, to see the backoff does not stay long.
	p2.stop()
	p3 := startPTY(t, dir)
	waitFor(t, h.opened, "the port reopened a second time")
	write(t, p3.writer(t), "line4\n")
	if got := h.records(t, 5); got[4] != "line4" {
		t.Errorf("records %q", got)
	}
}

// A device that is missing at start-up is waited for, not an error.
func TestDeviceMissingAtStart(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir+"/dev")
	if w := h.warnings(); len(w) != 1 || !strings.Contains(w[0], "waiting") {
		t.Errorf("warnings %q", w)
	}
	p := startPTY(t, dir)
	waitFor(t, h.opened, "the device opened once it appeared")
	write(t, p.writer(t), "hello\n")
	if got := h.records(t, 1); got[0] != "hello" {
		t.Errorf("records %q", got)
	}
}

func TestSettingsAccepted(t *testing.T) {
	p := startPTY(t, t.TempDir())
	for _, props := range [][]string{
		{"bitrate", "9600", "data_bits", "7", "parity", "even", "stop_bits", "2"},
		{"bitrate", "250000", "parity", "odd"}, // not a POSIX rate: set through BOTHER
		{"bitrate", "1200", "data_bits", "5", "parity", "mark"},
		{"bitrate", "57600", "parity", "space", "min_bytes", "4"},
	} {
		in := pipelinetest.Input[*Input](t, "serial", append([]string{"file", p.Dev}, props...)...)
		if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
			t.Errorf("%q: Init = %v", props, err)
		}
		in.Close(context.Background())
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	p := startPTY(t, t.TempDir())
	for _, tc := range []struct {
		key   string
		props []string
	}{
		{"file", []string{"bitrate", "9600"}},
		{"bitrate", []string{"file", p.Dev}},
		{"bitrate", []string{"file", p.Dev, "bitrate", "fast"}},
		{"bitrate", []string{"file", p.Dev, "bitrate", "-9600"}},
		{"separator", []string{"file", p.Dev, "bitrate", "9600", "separator", ""}},
		{"separator", []string{"file", p.Dev, "bitrate", "9600", "separator", `\q`}},
		{"separator", []string{"file", p.Dev, "bitrate", "9600", "separator", `\x4`}},
		{"format", []string{"file", p.Dev, "bitrate", "9600", "format", "msgpack"}},
		{"min_bytes", []string{"file", p.Dev, "bitrate", "9600", "min_bytes", "-1"}},
		{"data_bits", []string{"file", p.Dev, "bitrate", "9600", "data_bits", "9"}},
		{"parity", []string{"file", p.Dev, "bitrate", "9600", "parity", "yes"}},
		{"stop_bits", []string{"file", p.Dev, "bitrate", "9600", "stop_bits", "3"}},
		{"stop_bits", []string{"file", p.Dev, "bitrate", "9600", "stop_bits", "1.5"}},
		{"max_line_length", []string{"file", p.Dev, "bitrate", "9600", "max_line_length", "0"}},
		{"file", []string{"file", "/etc/hostname", "bitrate", "9600"}}, // not a serial port
	} {
		in, err := pipelinetest.As[*Input](pipelinetest.NewInput("serial", tc.props...))
		if err == nil {
			err = in.Init(context.Background(), pipeline.Env{})
			in.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v, want one naming %s", tc.props, err, tc.key)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`\n`: "\n", `\r\n`: "\r\n", `;`: ";", `\t|\\`: "\t|\\", `\x1e`: "\x1e", `\0`: "\x00", `END`: "END"} {
		if got, err := unescape(in); err != nil || string(got) != want {
			t.Errorf("unescape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`\`, `\x`, `\x1`, `\xzz`, `\u0041`} {
		if _, err := unescape(bad); err == nil {
			t.Errorf("unescape(%q): no error", bad)
		}
	}
}

// Ptys accept every rate, so the driver's refusal is checked with the error go.bug.st/serial
// gives for it (a wrapped ioctl EINVAL).
func TestDriverRefusalNamesTheKey(t *testing.T) {
	refused := fmt.Errorf("Invalid serial port: error configuring port: %w", errors.New("invalid argument"))
	for _, tc := range []struct {
		parity, key string
	}{{"none", "bitrate"}, {"mark", "parity"}} {
		in := pipelinetest.Input[*Input](t, "serial", "file", "/dev/ttyUSB9", "bitrate", "3000000", "parity", tc.parity)
		if err := in.openError(refused); !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "3000000") {
			t.Errorf("parity %s: %v, want an error naming %s and the rate", tc.parity, err, tc.key)
		}
	}
	if _, err := pipelinetest.NewInput("serial", "file", "/dev/ttyUSB9", "bitrate", "5000000000"); err == nil || !strings.Contains(err.Error(), "bitrate") {
		t.Errorf("bitrate beyond 32 bits: %v", err)
	}
}
