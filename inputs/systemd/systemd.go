// Package systemd reads the systemd journal, like Fluent Bit's systemd input: every
// journal entry becomes a record of its fields (values as strings), timed by the entry's
// __REALTIME_TIMESTAMP, from the start of the journal or its end, resuming after a
// restart from the cursor kept in db.
//
//	[INPUT]
//	    Name            systemd
//	    Tag             host.*
//	    Systemd_Filter  _SYSTEMD_UNIT=ssh.service
//	    Systemd_Filter  _SYSTEMD_UNIT=cron.service
//	    DB              /var/lib/fluentbit/journal.cursor
//	    Read_From_Tail  on
//
// It does not link libsystemd (the agent is built without cgo, and the journal's file
// format is systemd's internal business, not a stable API): it runs
//
//	journalctl --output=export --follow [--no-tail|--lines=0|--after-cursor=C] [--directory=P|--file=P] [matches]
//
// as a child process and reads the export format, which systemd documents and keeps
// stable (Vector's journald source does the same). journalctl must be installed; if it
// exits it is started again from the last cursor, with a growing wait (1s to 30s), and
// its stderr goes to the agent's log.
//
// Keys (docs/systemd.md has every difference from Fluent Bit):
//
//   - path: a journal directory (journalctl --directory) or a journal file, or a glob of
//     files (--file). Default: the machine's local journal.
//   - systemd_filter (repeatable): FIELD=value, as journalctl's matches.
//   - systemd_filter_type: or (default) or and.
//   - read_from_tail (default off): without a cursor in db, start at the journal's end.
//   - max_fields (default 8000): the fields kept per record.
//   - max_entries (default 5000): entries read between two saves of the cursor.
//   - db: the file the cursor is kept in; db.sync off|normal|full|extra (default full).
//   - strip_underscores (default off): a field's one leading '_' is removed.
//   - lowercase (default off): field names are lowercased.
//   - tag: a '*' becomes the entry's _SYSTEMD_UNIT ("unknown" without one), as in Fluent
//     Bit; $FIELD becomes the entry's FIELD (an addition).
package systemd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/statefile"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the systemd input. New returns it with Fluent Bit's defaults.
type Input struct {
	Path             string   `conf:"path"`
	Filters          []string `conf:"systemd_filter"`
	FilterType       string   `conf:"systemd_filter_type"`
	ReadFromTail     bool     `conf:"read_from_tail"`
	MaxFields        int      `conf:"max_fields"`
	MaxEntries       int      `conf:"max_entries"`
	DB               string   `conf:"db"`
	DBSync           string   `conf:"db.sync"`
	StripUnderscores bool     `conf:"strip_underscores"`
	Lowercase        bool     `conf:"lowercase"`

	// Journalctl is the journalctl program (default "journalctl", found in PATH).
	Journalctl string

	log      *slog.Logger
	tag      string
	sync     statefile.Sync
	prog     string
	pathFlag string // --directory=P or --file=P, or ""
	cursor   string // the last entry emitted; resumed after
	// ckpts: the cursor also goes into the chunks with the entries (db and
	// storage.type filesystem): batches are emitted with it (EmitRawCheckpoint).
	ckpts   bool
	minWait time.Duration // first wait before journalctl is started again
	maxWait time.Duration
}

// New returns a systemd input with Fluent Bit's defaults.
func New() *Input {
	return &Input{
		FilterType: "or",
		MaxFields:  8000,
		MaxEntries: 5000,
		DBSync:     "full",
		Journalctl: "journalctl",
		minWait:    time.Second,
		maxWait:    30 * time.Second,
	}
}

func init() {
	pipeline.RegisterInput("systemd", func() pipeline.Input { return New() })
}

// Validate checks the keys without touching the system.
func (in *Input) Validate() error {
	switch strings.ToLower(in.FilterType) {
	case "or", "and":
	default:
		return config.KeyErrorf("systemd_filter_type", "bad value %q: want and or or", in.FilterType)
	}
	for _, f := range in.Filters {
		name, _, ok := strings.Cut(f, "=")
		if !ok || !validFieldName(name) {
			return config.KeyErrorf("systemd_filter", "bad filter %q: want FIELD=value, FIELD of A-Z, 0-9 and _", f)
		}
	}
	if in.MaxFields < 1 {
		return config.KeyErrorf("max_fields", "must be at least 1, got %d", in.MaxFields)
	}
	if in.MaxEntries < 1 {
		return config.KeyErrorf("max_entries", "must be at least 1, got %d", in.MaxEntries)
	}
	s, err := statefile.ParseSync(in.DBSync)
	if err != nil {
		return config.KeyErrorf("db.sync", "%v", err)
	}
	in.sync = s
	return nil
}

// validFieldName is journald's rule for a field name: upper-case letters, digits and
// underscores, not starting with a digit.
func validFieldName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// sqliteMagic starts every SQLite database, such as Fluent Bit's own db file.
const sqliteMagic = "SQLite format 3\x00"

// Init finds journalctl, the path and the saved cursor.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.log, in.tag = env.Logger, env.Tag
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.minWait == 0 {
		in.minWait, in.maxWait = time.Second, 30*time.Second
	}
	prog := in.Journalctl
	if prog == "" {
		prog = "journalctl"
	}
	p, err := exec.LookPath(prog)
	if err != nil {
		return fmt.Errorf("systemd: %w (the systemd input reads the journal through journalctl: install systemd)", err)
	}
	in.prog = p
	in.pathFlag = ""
	if in.Path != "" {
		st, err := os.Stat(in.Path)
		switch {
		case err == nil && st.IsDir():
			in.pathFlag = "--directory=" + in.Path
		case err == nil || strings.ContainsAny(in.Path, "*?["):
			in.pathFlag = "--file=" + in.Path
		default:
			return config.KeyErrorf("path", "%v", err)
		}
	}
	if in.DB != "" {
		b, err := statefile.Read(in.DB)
		if err != nil {
			return config.KeyErrorf("db", "%v", err)
		}
		if bytes.HasPrefix(b, []byte(sqliteMagic)) {
			return config.KeyErrorf("db", "%s is an SQLite database (Fluent Bit's): this input keeps its cursor in a text file, give it a path of its own", in.DB)
		}
		in.cursor = strings.TrimSpace(string(b))
		if in.cursor != "" && !validCursor(in.cursor) {
			// journalctl would refuse it at every start: say so once, here.
			return config.KeyErrorf("db", "%s does not hold a journal cursor (found %.60q): remove it to read the journal from the start (or its end, with read_from_tail)", in.DB, in.cursor)
		}
		if env.Checkpoints != nil {
			// Written with the entries it follows, so never older than the db's.
			in.ckpts = true
			if c := string(env.Checkpoints[ckptCursor]); c != "" && validCursor(c) && c != in.cursor {
				in.cursor = c
				in.log.Info("resuming after the cursor kept with the entries in storage", "db", in.DB)
			}
		}
		if in.cursor != "" {
			in.log.Info("resuming after the saved cursor", "db", in.DB)
		}
	}
	return nil
}

// ckptCursor is the engine checkpoint's key for the cursor.
const ckptCursor = "cursor"

// batchBytes bounds one EmitRawCheckpoint call (pipeline.Emitter asks for a few hundred
// KiB).
const batchBytes = 256 << 10

// validCursor reports whether c looks like a journal cursor: semicolon-separated
// key=value fields starting with the sequence number id, as sd_journal_get_cursor writes.
func validCursor(c string) bool {
	if !strings.HasPrefix(c, "s=") || strings.ContainsAny(c, " \t\n") {
		return false
	}
	for _, f := range strings.Split(c, ";") {
		k, _, ok := strings.Cut(f, "=")
		if !ok || len(k) != 1 {
			return false
		}
	}
	return true
}

// args is journalctl's command line, resuming after cursor when there is one.
func (in *Input) args(cursor string) []string {
	a := []string{"--output=export", "--follow"}
	switch {
	case cursor != "":
		a = append(a, "--no-tail", "--after-cursor="+cursor)
	case in.ReadFromTail:
		a = append(a, "--lines=0")
	default:
		a = append(a, "--no-tail")
	}
	if in.pathFlag != "" {
		a = append(a, in.pathFlag)
	}
	for i, f := range in.Filters {
		if i > 0 && strings.EqualFold(in.FilterType, "or") {
			a = append(a, "+")
		}
		a = append(a, f)
	}
	return a
}

// Run follows the journal until ctx ends, starting journalctl again when it exits.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	wait := in.minWait
	for {
		began := time.Now()
		err := in.follow(ctx, emit)
		if ctx.Err() != nil || errors.Is(err, pipeline.ErrStopped) {
			return nil
		}
		if time.Since(began) > 4*in.maxWait {
			wait = in.minWait // it ran well for a while: this is a new trouble
		}
		in.log.Warn("journalctl stopped; starting it again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, in.maxWait)
	}
}

// follow runs journalctl once and emits what it exports until it exits, ctx ends, or
// emitting fails. The cursor is saved after every batch (max_entries entries, or
// whatever was read before the pipe ran dry) has been emitted: a record is in the
// buffer before the journal is told it was read.
func (in *Input) follow(ctx context.Context, emit pipeline.Emitter) (err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, in.prog, in.args(in.cursor)...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", in.prog, err)
	}
	var logged sync.WaitGroup
	logged.Add(1)
	go func() {
		defer logged.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			in.log.Warn("journalctl: " + sc.Text())
		}
	}()
	defer func() {
		cancel()
		logged.Wait()
		werr := cmd.Wait()
		if err == nil || errors.Is(err, io.EOF) {
			if werr != nil {
				err = fmt.Errorf("journalctl: %w", werr)
			} else {
				err = errors.New("journalctl exited")
			}
		}
	}()

	r := bufio.NewReaderSize(stdout, 64<<10)
	p := newExportParser(r)
	unsaved := 0
	saved := in.cursor
	// With checkpoints the entries go in batches of one tag, each with the cursor of its
	// last entry in the same chunk write (EmitRawCheckpoint); in.cursor moves once the
	// engine holds the batch.
	ce, _ := emit.(pipeline.CheckpointEmitter)
	batching := in.ckpts && ce != nil
	var batch []byte
	var nb int
	var btag string
	bcursor := in.cursor
	emitBatch := func() error {
		if nb == 0 {
			return nil
		}
		var err error
		if bcursor != "" {
			err = ce.EmitRawCheckpoint(btag, batch, nb, []pipeline.Checkpoint{{Key: ckptCursor, Value: []byte(bcursor)}})
		} else {
			err = emit.EmitRaw(btag, batch, nb)
		}
		batch, nb = batch[:0], 0
		if err != nil {
			bcursor = in.cursor
			return err
		}
		in.cursor = bcursor
		return nil
	}
	save := func() error {
		unsaved = 0
		if in.DB == "" || in.cursor == saved {
			return nil
		}
		if err := statefile.Write(in.DB, []byte(in.cursor+"\n"), in.sync); err != nil {
			return fmt.Errorf("db: %w", err)
		}
		saved = in.cursor
		return nil
	}
	for {
		e, err := p.next()
		if err != nil {
			if berr := emitBatch(); berr != nil {
				err = berr
			}
			if serr := save(); serr != nil {
				in.log.Error("saving the cursor", "err", serr)
			}
			return err
		}
		if e.skipped > 0 {
			in.log.Warn("journal fields over the size limit left out", "fields", e.skipped, "limit", maxFieldSize)
		}
		tag, ev := in.record(e)
		if batching {
			if nb > 0 && (tag != btag || len(batch) >= batchBytes) {
				if err := emitBatch(); err != nil {
					if serr := save(); serr != nil {
						in.log.Error("saving the cursor", "err", serr)
					}
					return err
				}
			}
			if ev.Time.IsZero() {
				ev.Time = time.Now()
			}
			b, err := event.AppendEntry(batch, &ev)
			if err != nil {
				return fmt.Errorf("encode entry: %w", err) // strings only: does not happen
			}
			batch, btag = b, tag
			nb++
			if len(e.cursor) > 0 {
				bcursor = string(e.cursor)
			}
			unsaved++
			if unsaved >= in.MaxEntries || r.Buffered() == 0 {
				err := emitBatch()
				if serr := save(); serr != nil {
					in.log.Error("saving the cursor", "err", serr)
				}
				if err != nil {
					return err
				}
			}
			continue
		}
		if err := emit.Emit(tag, ev); err != nil {
			if serr := save(); serr != nil {
				in.log.Error("saving the cursor", "err", serr)
			}
			return err
		}
		if len(e.cursor) > 0 {
			in.cursor = string(e.cursor)
		}
		unsaved++
		if unsaved >= in.MaxEntries || r.Buffered() == 0 {
			if err := save(); err != nil {
				// The records are buffered; a lost cursor means duplicates after a
				// restart, not losses: keep going, and say so.
				in.log.Error("saving the cursor", "err", err)
			}
		}
	}
}

// record turns an entry into its tag and event, as Fluent Bit's systemd input does: the
// fields in their order, a field present more than once becomes an array of its values
// (moved to the end, where Fluent Bit's list puts it), at most max_fields fields.
func (in *Input) record(e *entry) (string, event.Event) {
	rec := make(event.Map, 0, min(len(e.fields), in.MaxFields))
	n := 0
	for _, f := range e.fields {
		if n >= in.MaxFields {
			break
		}
		name := f.name
		if in.StripUnderscores && len(name) > 0 && name[0] == '_' {
			name = name[1:]
		}
		key := string(name)
		if in.Lowercase {
			key = strings.ToLower(key)
		}
		val := string(f.value)
		n++
		i := rec.Index(key)
		if i < 0 {
			rec = append(rec, event.KV{Key: key, Value: val})
			continue
		}
		switch old := rec[i].Value.(type) {
		case []any:
			rec[i].Value = append(old, val)
		default:
			rec = append(rec[:i], rec[i+1:]...)
			rec = append(rec, event.KV{Key: key, Value: []any{old, val}})
		}
	}
	var t time.Time
	if us, err := strconv.ParseInt(string(e.realtime), 10, 64); err == nil {
		t = time.UnixMicro(us)
	}
	return in.tagOf(e), event.Event{Time: t, Record: rec}
}

// tagOf expands the tag for e: the first '*' becomes _SYSTEMD_UNIT, $FIELD the field's
// value ("unknown" when the entry has no such field).
func (in *Input) tagOf(e *entry) string {
	tag := in.tag
	if !strings.ContainsAny(tag, "*$") {
		return tag
	}
	if i := strings.IndexByte(tag, '*'); i >= 0 {
		tag = tag[:i] + fieldOr(e, "_SYSTEMD_UNIT") + tag[i+1:]
	}
	if !strings.Contains(tag, "$") {
		return tag
	}
	var b strings.Builder
	for i := 0; i < len(tag); {
		if tag[i] != '$' {
			b.WriteByte(tag[i])
			i++
			continue
		}
		j := i + 1
		for j < len(tag) && (tag[j] >= 'A' && tag[j] <= 'Z' || tag[j] >= '0' && tag[j] <= '9' || tag[j] == '_') {
			j++
		}
		if j == i+1 {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(fieldOr(e, tag[i+1:j]))
		i = j
	}
	return b.String()
}

// fieldOr returns the entry's first value of field name, or "unknown".
func fieldOr(e *entry, name string) string {
	for _, f := range e.fields {
		if string(f.name) == name {
			return string(f.value)
		}
	}
	return "unknown"
}

var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
