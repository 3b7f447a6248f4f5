// Package serial reads lines from a serial port (a UART, a USB serial adapter) as records,
// like Fluent Bit's serial input, and keeps reading when the device is unplugged and comes
// back. It only reads: it sends nothing to the device and sets no modem lines beyond what
// opening the port does (DTR and RTS raised).
//
//	[INPUT]
//	    Name       serial
//	    Tag        sensor
//	    File       /dev/ttyUSB0
//	    Bitrate    115200
//	    Format     json
//
// Keys:
//
//   - file: the device (required), e.g. /dev/ttyUSB0, /dev/ttyAMA0, /dev/serial/by-id/...
//   - bitrate: the baud rate (required), any rate the driver accepts (9600, 115200, 250000
//     ...). A rate the driver refuses is an error at start-up, never a silent fallback.
//   - separator: what ends a line (default \n). Escapes \n, \r, \t, \\ and \xNN are read
//     as such, so "\r\n" or ";" work. With \n, a \r before it is dropped too.
//   - format: none (default): each line becomes {"msg": "<line>"}; json: each line must be
//     a JSON object and becomes {"msg": {...}}, as in Fluent Bit (lift it with a nest filter
//     if you want its keys at the top).
//   - min_bytes: accepted for Fluent Bit configs; no effect (lines are cut at the separator,
//     however the bytes arrive).
//   - data_bits: 5, 6, 7 or 8 (default 8).
//   - parity: none (default), odd, even, mark or space.
//   - stop_bits: 1 (default), 1.5 or 2. Linux serial drivers have no 1.5: it is refused at
//     start-up.
//   - max_line_length: the longest line kept (default 64K, i.e. 64000 bytes). A longer line
//     is reported and skipped up to the next separator; memory stays bounded however long
//     the device talks without a separator.
//
// Lines split over several reads are joined. Empty lines are skipped, and so are (each
// reported, then at most one log line per kind every 10 seconds with a count) lines that
// are not valid UTF-8 (binary garbage, a wrong bitrate) and, with format json, lines that
// are not a JSON object. NUL bytes at the start of a line (some FTDI adapters send one
// when opened) are dropped.
//
// When the device disappears (USB unplugged, a read error) the input logs it once and tries
// to open the file again, first after 0.1s and then backing off to every 2s; when it is
// back, the input logs that and goes on reading. Bytes of an unfinished line read before
// the loss are kept and joined with what comes after, so nothing already read is lost. If
// the device is missing when the agent starts, the input waits for it the same way; any
// other failure to open it (permissions, not a serial port, a setting the driver refuses)
// stops the agent from starting.
//
// Differences from Fluent Bit: it has no default separator (each read becomes a record,
// so lines are cut wherever the UART's reads happen to end); here \n is the default. It
// also reads 8N1 only, ignores an unknown bitrate silently, leaves invalid UTF-8 in
// records, and stops reading for good when the device goes away.
package serial

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.bug.st/serial"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/serialport"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the serial input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	File          string      `conf:"file"`
	Bitrate       int         `conf:"bitrate"`
	Separator     string      `conf:"separator"`
	Format        string      `conf:"format"`
	MinBytes      int         `conf:"min_bytes"`
	DataBits      int         `conf:"data_bits"`
	Parity        string      `conf:"parity"`
	StopBits      string      `conf:"stop_bits"`
	MaxLineLength config.Size `conf:"max_line_length"`

	log   *slog.Logger
	mode  serial.Mode
	sep   []byte
	json  bool
	lines splitter
	rep   reporter

	mu   sync.Mutex
	port serial.Port // the open port, nil while the device is away

	reopenMin, reopenMax time.Duration
	onRead               func(n int) // tests: called after each read is split into lines
	onOpen               func()      // tests: called after the port is (re)opened
}

// DefaultMaxLineLength is max_line_length's default.
const DefaultMaxLineLength = 64000

// New returns an Input with the defaults.
func New() *Input {
	return &Input{
		Separator: `\n`, Format: "none", DataBits: 8, Parity: "none", StopBits: "1",
		MaxLineLength: DefaultMaxLineLength,
		reopenMin:     100 * time.Millisecond, reopenMax: 2 * time.Second,
	}
}

func init() { pipeline.RegisterInput("serial", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects.
func (in *Input) Validate() error {
	if strings.TrimSpace(in.File) == "" {
		return config.KeyErrorf("file", "not set: name the serial device, e.g. /dev/ttyUSB0")
	}
	sep, err := unescape(in.Separator)
	if err != nil || len(sep) == 0 {
		return config.KeyErrorf("separator", "%q: want one or more characters (escapes \\n \\r \\t \\\\ \\xNN)", in.Separator)
	}
	switch strings.ToLower(strings.TrimSpace(in.Format)) {
	case "", "none":
		in.json = false
	case "json":
		in.json = true
	default:
		return config.KeyErrorf("format", "%q: want none or json", in.Format)
	}
	if in.MinBytes < 0 {
		return config.KeyErrorf("min_bytes", "%d: want 0 or more", in.MinBytes)
	}
	mode, err := serialport.Mode(in.Bitrate, in.DataBits, in.Parity, in.StopBits)
	if err != nil {
		return err
	}
	if in.MaxLineLength < 1 || in.MaxLineLength > 1<<30 {
		return config.KeyErrorf("max_line_length", "%d: want 1 to 1G bytes", in.MaxLineLength)
	}
	in.sep = sep
	in.mode = mode
	return nil
}

// unescape reads \n, \r, \t, \\, \0 and \xNN in s; other characters stand for themselves.
func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i++; i == len(s) {
			return nil, errors.New("a lone backslash at the end")
		}
		switch s[i] {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case '0':
			out = append(out, 0)
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, errors.New(`\x needs two hex digits`)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, errors.New(`\x needs two hex digits`)
			}
			out = append(out, byte(n))
			i += 2
		default:
			return nil, fmt.Errorf(`unknown escape \%c`, s[i])
		}
	}
	return out, nil
}

// Init validates the keys and opens the port. A device that is not there yet is waited
// for by Run; any other failure to open it is an error naming the key at fault when
// there is one.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if err := in.Validate(); err != nil {
		return err
	}
	in.closePort() // Init again (a reload): start afresh
	in.lines = splitter{sep: in.sep, max: int(in.MaxLineLength)}
	in.rep = reporter{log: in.log, every: 10 * time.Second}
	if in.reopenMin <= 0 {
		in.reopenMin, in.reopenMax = 100*time.Millisecond, 2*time.Second
	}
	p, err := serial.Open(in.File, &in.mode)
	switch {
	case err == nil:
		in.setPort(p)
	case errors.Is(err, fs.ErrNotExist):
		in.log.Warn("serial: device not present; waiting for it", "file", in.File)
	default:
		return in.openError(err)
	}
	return nil
}

// openError names the key a refused open is about.
func (in *Input) openError(err error) error {
	return serialport.OpenError(in.File, in.mode, in.Parity, err)
}

func (in *Input) setPort(p serial.Port) {
	in.mu.Lock()
	in.port = p
	in.mu.Unlock()
	if in.onOpen != nil {
		in.onOpen()
	}
}

// closePort closes the open port, if any.
func (in *Input) closePort() {
	in.mu.Lock()
	p := in.port
	in.port = nil
	in.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// Close releases the port.
func (in *Input) Close(context.Context) error {
	in.closePort()
	return nil
}

// Run reads lines until ctx is done or the engine stops, reopening the device when it goes
// away.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	// Closing the port is what wakes a blocked Read when ctx is done.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			in.closePort()
		case <-stop:
		}
	}()
	defer in.closePort()

	buf := make([]byte, 4096)
	var emitErr error
	for ctx.Err() == nil {
		in.mu.Lock()
		p := in.port
		in.mu.Unlock()
		if p == nil {
			if !in.reopen(ctx) {
				return nil
			}
			continue
		}
		n, err := p.Read(buf)
		if n > 0 {
			in.lines.feed(buf[:n], func(l []byte) {
				if emitErr == nil {
					emitErr = in.line(emit, l)
				}
			}, func(size int) {
				in.rep.report("long", "serial: line longer than max_line_length; skipped", "file", in.File, "max_line_length", int64(in.MaxLineLength), "bytes_so_far", size)
			})
			if in.onRead != nil {
				in.onRead(n)
			}
			if emitErr != nil {
				if errors.Is(emitErr, pipeline.ErrStopped) {
					return nil
				}
				return fmt.Errorf("serial: emit: %w", emitErr)
			}
		}
		if err != nil || n == 0 {
			if ctx.Err() != nil {
				return nil
			}
			in.log.Warn("serial: device gone; will reopen it when it is back", "file", in.File, "err", err, "pending_bytes", in.lines.pending())
			in.closePort()
		}
	}
	return nil
}

// reopen tries to open the device with backoff until it succeeds (true) or ctx is done.
func (in *Input) reopen(ctx context.Context) bool {
	wait := in.reopenMin
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		p, err := serial.Open(in.File, &in.mode)
		if err == nil {
			if ctx.Err() != nil {
				p.Close()
				return false
			}
			in.log.Info("serial: device opened", "file", in.File)
			in.setPort(p)
			return true
		}
		wait = min(2*wait, in.reopenMax)
		t.Reset(wait)
	}
}

// line turns one line into a record, or reports and skips it.
func (in *Input) line(emit pipeline.Emitter, l []byte) error {
	if len(in.sep) == 1 && in.sep[0] == '\n' && len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	for len(l) > 0 && l[0] == 0 {
		l = l[1:]
	}
	if len(l) == 0 {
		return nil
	}
	if !utf8.Valid(l) {
		in.rep.report("binary", "serial: line is not valid UTF-8 (binary data or a wrong bitrate?); skipped", "file", in.File, "bytes", len(l))
		return nil
	}
	var msg any = string(l)
	if in.json {
		m, err := event.RecordFromJSON(l)
		if err != nil {
			in.rep.report("json", "serial: line is not a JSON object; skipped", "file", in.File, "bytes", len(l), "err", err)
			return nil
		}
		msg = m
	}
	return emit.Emit("", event.Event{Time: time.Now(), Record: event.Map{{"msg", msg}}})
}

// reporter logs a kind of trouble at once, then at most once per interval with how many
// more there were, so a device babbling garbage cannot flood the log.
type reporter struct {
	log        *slog.Logger
	every      time.Duration
	last       map[string]time.Time
	suppressed map[string]int
}

func (r *reporter) report(kind, msg string, args ...any) {
	if r.last == nil {
		r.last, r.suppressed = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if t, ok := r.last[kind]; ok && now.Sub(t) < r.every {
		r.suppressed[kind]++
		return
	}
	if n := r.suppressed[kind]; n > 0 {
		args = append(args, "also_skipped_since_last_report", n)
	}
	r.last[kind], r.suppressed[kind] = now, 0
	r.log.Warn(msg, args...)
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
)
