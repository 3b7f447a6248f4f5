// Package kmsg reads the kernel's log buffer from /dev/kmsg, like Fluent Bit's kmsg input:
// every kernel message becomes a record {"priority", "sequence", "sec", "usec", "msg"},
// timed at the boot time plus the message's monotonic timestamp.
//
//	[INPUT]
//	    Name        kmsg
//	    Tag         kernel
//	    Prio_Level  4
//	    DB          /var/lib/fluentbit/kmsg.seq
//
// Keys (docs/kmsg.md has every difference from Fluent Bit):
//
//   - prio_level (default 8): messages of a priority above it (less urgent: 0 is emerg,
//     7 debug) are dropped.
//   - db (an addition): a file keeping the boot id and the last sequence number emitted,
//     so a restart of the agent in the same boot does not emit the kernel's messages
//     again; without it, as Fluent Bit, every start reads the whole buffer.
//   - db.sync off|normal|full|extra (default full): how db is written.
//
// The message's dictionary lines (" SUBSYSTEM=...", " DEVICE=...") are not part of the
// record, as in Fluent Bit. Reading needs root or CAP_SYSLOG (kernel.dmesg_restrict).
package kmsg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/statefile"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the kmsg input. New returns it with Fluent Bit's defaults.
type Input struct {
	PrioLevel int    `conf:"prio_level"`
	DB        string `conf:"db"`
	DBSync    string `conf:"db.sync"`

	log    *slog.Logger
	sync   statefile.Sync
	boot   time.Time // the boot time, whole seconds, as Fluent Bit takes it
	bootID string    // /proc/sys/kernel/random/boot_id
	after  uint64    // messages up to this sequence number were emitted (with haveSeq)
	have   bool
	ckpts  bool // the position also goes into the chunks (db and storage.type filesystem)

	// open opens the kernel log (tests: a pipe fed with fixtures); bootIDPath is read for
	// the boot id.
	open       func() (io.ReadCloser, error)
	bootIDPath string
}

// Device is the kernel log's character device.
const Device = "/dev/kmsg"

// New returns a kmsg input with Fluent Bit's defaults.
func New() *Input {
	return &Input{PrioLevel: 8, DBSync: "full", bootIDPath: "/proc/sys/kernel/random/boot_id"}
}

func init() {
	pipeline.RegisterInput("kmsg", func() pipeline.Input { return New() })
}

// Validate checks the keys.
func (in *Input) Validate() error {
	if in.PrioLevel < 0 || in.PrioLevel > 8 {
		return config.KeyErrorf("prio_level", "want 0 (emerg) to 8 (everything), got %d", in.PrioLevel)
	}
	s, err := statefile.ParseSync(in.DBSync)
	if err != nil {
		return config.KeyErrorf("db.sync", "%v", err)
	}
	in.sync = s
	return nil
}

// Init takes the boot time and the saved position.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.boot = bootTime()
	if b, err := os.ReadFile(in.bootIDPath); err == nil {
		in.bootID = strings.TrimSpace(string(b))
	}
	if in.DB == "" {
		return nil
	}
	b, err := statefile.Read(in.DB)
	if err != nil {
		return config.KeyErrorf("db", "%v", err)
	}
	if len(b) > 0 {
		id, n, ok := parsePosition(b)
		if !ok {
			return config.KeyErrorf("db", "%s: want \"<boot id> <sequence>\", found %q", in.DB, b)
		}
		if id == in.bootID && in.bootID != "" {
			in.after, in.have = n, true
		}
	}
	if env.Checkpoints != nil {
		// storage.type filesystem: the position also goes into the chunks, with each
		// message. Written with the message, it is never older than the db's, unless
		// messages under prio_level followed (they move only the db's): the later wins.
		in.ckpts = true
		id, n, ok := parsePosition(env.Checkpoints[ckptPosition])
		if ok && id == in.bootID && in.bootID != "" && (!in.have || n > in.after) {
			in.after, in.have = n, true
		}
	}
	if in.have {
		in.log.Info("resuming after the saved sequence number", "sequence", in.after)
	}
	return nil
}

// ckptPosition is the engine checkpoint's key: "<boot id> <sequence>", as in the db.
const ckptPosition = "position"

// parsePosition reads "<boot id> <sequence>".
func parsePosition(b []byte) (id string, seq uint64, ok bool) {
	id, s, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.ParseUint(s, 10, 64)
	return id, n, ok && err == nil
}

// bootTime is now minus the uptime, in whole seconds, as Fluent Bit computes it.
func bootTime() time.Time {
	var si syscall.Sysinfo_t
	now := time.Now()
	if syscall.Sysinfo(&si) != nil {
		return now.Truncate(time.Second)
	}
	return time.Unix(now.Unix()-int64(si.Uptime), 0)
}

// Run reads the kernel log until ctx ends.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	f, err := in.openLog()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer func() {
		if stop() {
			f.Close()
		}
	}()
	// /dev/kmsg gives one message (and its dictionary lines) per read, of at most 8 KiB.
	r := bufio.NewReaderSize(f, 16<<10)
	var saved uint64
	savedAny := false
	save := func() {
		if in.DB == "" || !in.have || (savedAny && saved == in.after) {
			return
		}
		if err := statefile.Write(in.DB, fmt.Appendf(nil, "%s %d\n", in.bootID, in.after), in.sync); err != nil {
			in.log.Error("saving the sequence number", "db", in.DB, "err", err)
			return
		}
		saved, savedAny = in.after, true
	}
	defer save()
	// The position is saved once the log goes quiet (no message for quietSave) or every
	// saveEvery messages: at boot the buffer holds thousands, one fsync each would be
	// slow on an SD card.
	dl, _ := f.(interface{ SetReadDeadline(time.Time) error })
	unsaved := 0
	gapChecked := false
	ce, _ := emit.(pipeline.CheckpointEmitter)
	if !in.ckpts {
		ce = nil
	}
	var entry []byte
	for {
		if dl != nil {
			var at time.Time
			if unsaved > 0 {
				at = time.Now().Add(quietSave)
			}
			dl.SetReadDeadline(at)
		}
		line, err := r.ReadSlice('\n')
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			save()
			unsaved = 0
			continue
		case errors.Is(err, syscall.EPIPE):
			// The ring buffer went round past what was to be read next.
			in.log.Warn("kernel log: messages were overwritten before they could be read")
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			in.log.Warn("kernel log: a line longer than 16 KiB left out")
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			continue
		case ctx.Err() != nil || errors.Is(err, os.ErrClosed):
			return nil
		case err == io.EOF && len(line) == 0:
			return nil // a fixture's end
		default:
			return fmt.Errorf("kmsg: read: %w", err)
		}
		if len(line) > 0 && line[0] == ' ' {
			continue // a dictionary line of the message before
		}
		m, err := parseLine(line)
		if err != nil {
			in.log.Warn("kernel log: a line left out", "err", err)
			continue
		}
		if in.have && m.seq <= in.after {
			continue // emitted before the restart
		}
		if in.have && !gapChecked && m.seq > in.after+1 {
			in.log.Warn("kernel log: messages overwritten while the agent was not running", "lost", m.seq-in.after-1)
		}
		gapChecked = true
		if m.prio <= in.PrioLevel {
			var err error
			if ce != nil {
				// The message and its position in one chunk write: exactly once.
				ev := in.event(m)
				if entry, err = event.AppendEntry(entry[:0], &ev); err == nil {
					err = ce.EmitRawCheckpoint("", entry, 1, []pipeline.Checkpoint{{Key: ckptPosition, Value: fmt.Appendf(nil, "%s %d", in.bootID, m.seq)}})
				}
			} else {
				err = emit.Emit("", in.event(m))
			}
			if err != nil {
				if errors.Is(err, pipeline.ErrStopped) {
					return nil
				}
				return err
			}
		}
		in.after, in.have = m.seq, true
		if unsaved++; unsaved >= saveEvery {
			save()
			unsaved = 0
		}
	}
}

const (
	quietSave = 100 * time.Millisecond
	saveEvery = 1000
)

// openLog opens /dev/kmsg, so that Close ends a blocked read (the poller).
func (in *Input) openLog() (io.ReadCloser, error) {
	if in.open != nil {
		return in.open()
	}
	f, err := os.OpenFile(Device, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("kmsg: %w (reading the kernel log needs root or CAP_SYSLOG)", err)
	}
	return f, nil
}

// event is m as Fluent Bit's record.
func (in *Input) event(m message) event.Event {
	return event.Event{
		Time: in.boot.Add(time.Duration(m.usec) * time.Microsecond),
		Record: event.Map{
			{Key: "priority", Value: int64(m.prio)},
			{Key: "sequence", Value: int64(m.seq)},
			{Key: "sec", Value: int64(m.usec / 1e6)},
			{Key: "usec", Value: int64(m.usec % 1e6)},
			{Key: "msg", Value: string(m.msg)},
		},
	}
}

// message is one parsed /dev/kmsg line.
type message struct {
	prio int    // syslog level, 0-7 (the facility is dropped)
	seq  uint64 // sequence number
	usec uint64 // microseconds since boot
	msg  []byte
}

// parseLine reads "prio,seq,usec,flags[,...];text\n" (Documentation/ABI/testing/dev-kmsg).
func parseLine(line []byte) (message, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	head, msg, ok := bytes.Cut(line, []byte(";"))
	if !ok {
		return message{}, errors.New("no ';' after the header")
	}
	f := bytes.SplitN(head, []byte(","), 4)
	if len(f) < 3 {
		return message{}, fmt.Errorf("header %q: want prio,seq,usec,flags", head)
	}
	pri, err1 := strconv.ParseUint(string(f[0]), 10, 32)
	seq, err2 := strconv.ParseUint(string(f[1]), 10, 64)
	usec, err3 := strconv.ParseUint(string(f[2]), 10, 63)
	if err := errors.Join(err1, err2, err3); err != nil {
		return message{}, fmt.Errorf("header %q: %w", head, err)
	}
	return message{prio: int(pri & 7), seq: seq, usec: usec, msg: msg}, nil
}

var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
