// Package tail follows text files line by line, like Fluent Bit's tail input: every line
// becomes a record {"log": "<line>"}, tagged by the file's path when the tag holds a '*'.
// It follows files through logrotate's rotations (rename-and-create and copytruncate),
// remembers how far it read in an offsets file (db), and waits on inotify at rest. It
// joins the partial lines of container runtimes (multiline.parser docker, cri) and the
// lines of stack traces (multiline.parser go, python, java, or a [MULTILINE_PARSER] of
// type regex); compressed files are not supported.
//
//	[INPUT]
//	    Name              tail
//	    Path              /var/log/app/*.log, /var/log/syslog
//	    Exclude_Path      *.gz
//	    Tag               app.*
//	    DB                /var/lib/fluentbit/tail.db
//	    Path_Key          file
//
// Keys (docs/tail.md has the full table and every difference from Fluent Bit):
//
//   - path (required): glob patterns, comma-separated, of the files to follow.
//   - exclude_path: glob patterns, comma-separated, of files to leave out (matched
//     against the whole path and against the file's base name).
//   - refresh_interval (default 60s): how often the patterns are expanded again.
//   - read_from_head (default off): files found at start without an offset in the db
//     are read from their beginning; otherwise from their end. Files that appear later
//     are always read from their beginning, as in Fluent Bit.
//   - rotate_wait (default 5s): how long a rotated or deleted file is still read after
//     its path moved on, before it is closed.
//   - ignore_older: files not modified for this long are not followed (default 0: all).
//   - key (default log): the key of the line in the record.
//   - path_key, offset_key: when set, the file's path and the line's byte offset are
//     added under these keys.
//   - skip_empty_lines (default off): empty lines make no record.
//   - skip_long_lines (default off): a line longer than buffer_max_size is skipped (and
//     logged); when off it is cut into records of buffer_max_size bytes.
//   - buffer_chunk_size (default 32k), buffer_max_size (default 32k): the read size and
//     the longest line kept whole.
//   - parser: a parser name ([PARSER] sections, parsers_file): the line is parsed into
//     the record; a line it cannot read stays {key: line}.
//   - db: the offsets file; db.sync off|normal|full|extra (default normal).
//   - multiline.parser: docker, cri (comma-separated): partial lines joined; or go,
//     python, java and [MULTILINE_PARSER] names (package multiline): the lines of one
//     message joined with '\n' into one record.
//   - inotify_watcher (default on): wait on inotify; off polls every 250ms.
package tail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/multiline"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// pollInterval is how often files are checked for new data without inotify, and how
// often rotations are checked with it (a rename out of a watched directory sends no
// event for the file's later writes).
const (
	pollInterval  = 250 * time.Millisecond
	checkInterval = time.Second
	// batchBytes bounds one EmitRaw call (pipeline.Emitter asks for a few hundred KiB).
	batchBytes = 256 << 10
	// cycleBytes bounds what one file is read in one pass, so one busy file does not
	// starve the others.
	cycleBytes = 4 << 20
)

// Input is the tail input. New returns it with Fluent Bit's defaults.
type Input struct {
	Path            []string      `conf:"path"`
	ExcludePath     []string      `conf:"exclude_path"`
	RefreshInterval time.Duration `conf:"refresh_interval"`
	ReadFromHead    bool          `conf:"read_from_head"`
	RotateWait      time.Duration `conf:"rotate_wait"`
	IgnoreOlder     time.Duration `conf:"ignore_older"`
	Key             string        `conf:"key"`
	PathKey         string        `conf:"path_key"`
	OffsetKey       string        `conf:"offset_key"`
	SkipEmptyLines  bool          `conf:"skip_empty_lines"`
	SkipLongLines   bool          `conf:"skip_long_lines"`
	BufferChunkSize config.Size   `conf:"buffer_chunk_size"`
	BufferMaxSize   config.Size   `conf:"buffer_max_size"`
	Parser          string        `conf:"parser"`
	DB              string        `conf:"db"`
	DBSync          string        `conf:"db.sync"`
	DBLocking       bool          `conf:"db.locking"`      // accepted; the db is ours alone anyway
	DBJournalMode   string        `conf:"db.journal_mode"` // accepted; SQLite's, no effect
	InotifyWatcher  bool          `conf:"inotify_watcher"`
	MultilineParser []string      `conf:"multiline.parser"`
	DockerMode      bool          `conf:"docker_mode"`

	// ParserImpl, when set before Validate, is used instead of looking Parser up: for
	// programs that build their parser in code.
	ParserImpl *parser.Parser

	cfg      *config.Config
	mlRegex  []*multiline.Parser // multiline.parser's regex parsers (go, python, java, user's)
	log      *slog.Logger
	tag      string
	syncMode int
	db       *offsetDB
	// ckpts are the offsets the engine kept with the records (storage.type filesystem and
	// a db): they win over the db's. nil: none, the db alone.
	ckpts     map[string][]byte
	forgotten []fileID // closed files whose checkpoint is to be deleted

	files    map[fileID]*file  // every open file
	nOpen    atomic.Int64      // len(files), readable from other goroutines (tests)
	byPath   map[string]*file  // the file currently read under each path
	watched  map[string]bool   // directories inotify watches
	scanned  bool              // the first scan is done: later files start at their head
	rbuf     []byte            // read buffer, buffer_chunk_size
	batch    []byte            // encoded entries waiting for EmitRaw
	nbatch   int               // how many
	batchTag string            // their tag
	readTime time.Time         // the time of the lines being read
	touched  map[*file]int64   // files in the batch and the offset to commit once emitted
	now      func() time.Time  // the clock; tests keep the real one
	dirty    map[*file]bool    // files to read in this pass
	pending  chan struct{}     // tests: a signal after every pass (nil: none)
	closing  map[*file]closeAt // files whose path moved on, and when to close them
	closed   bool              // a file was closed: scan again (its inode may be reused)
}

type closeAt struct{ at time.Time }

// New returns a tail input with Fluent Bit's defaults.
func New() *Input {
	return &Input{
		RefreshInterval: 60 * time.Second,
		RotateWait:      5 * time.Second,
		Key:             "log",
		BufferChunkSize: 32000,
		BufferMaxSize:   32000,
		DBSync:          "normal",
		InotifyWatcher:  true,
	}
}

func init() { pipeline.RegisterInput("tail", func() pipeline.Input { return New() }) }

// SetConfig gives the input the configuration it is built from, where its parser is
// looked up.
func (in *Input) SetConfig(cfg *config.Config) { in.cfg = cfg }

// Validate checks the keys and resolves the parser.
func (in *Input) Validate() error {
	in.Path = splitList(in.Path)
	in.ExcludePath = splitList(in.ExcludePath)
	if len(in.Path) == 0 {
		return config.KeyErrorf("path", "missing: name the files to follow (a glob pattern)")
	}
	for _, p := range append(append([]string(nil), in.Path...), in.ExcludePath...) {
		if _, err := filepath.Match(p, ""); err != nil {
			return config.KeyErrorf("path", "bad pattern %q: %v", p, err)
		}
	}
	if in.RefreshInterval <= 0 {
		return config.KeyErrorf("refresh_interval", "must be above 0")
	}
	if in.RotateWait < 0 {
		return config.KeyErrorf("rotate_wait", "must not be negative")
	}
	if in.IgnoreOlder < 0 {
		return config.KeyErrorf("ignore_older", "must not be negative")
	}
	if in.Key == "" {
		return config.KeyErrorf("key", "must not be empty")
	}
	if in.BufferChunkSize <= 0 {
		return config.KeyErrorf("buffer_chunk_size", "must be above 0")
	}
	if in.BufferMaxSize < in.BufferChunkSize {
		return config.KeyErrorf("buffer_max_size", "%d is below buffer_chunk_size (%d)", in.BufferMaxSize, in.BufferChunkSize)
	}
	switch strings.ToLower(in.DBSync) {
	case "off", "0":
		in.syncMode = syncOff
	case "normal", "1", "":
		in.syncMode = syncNormal
	case "full", "2":
		in.syncMode = syncFull
	case "extra", "3":
		in.syncMode = syncFull
	default:
		return config.KeyErrorf("db.sync", "bad value %q: want off, normal, full or extra", in.DBSync)
	}
	in.MultilineParser = splitList(in.MultilineParser)
	in.mlRegex = nil
	container := false
	var mlSet *multiline.Set
	for _, m := range in.MultilineParser {
		if m == mlDocker || m == mlCRI {
			container = true
			continue
		}
		if mlSet == nil {
			s, err := multiline.Load(in.cfg)
			if err != nil {
				return err
			}
			mlSet = s
		}
		p, ok := mlSet.Lookup(m)
		if !ok {
			return config.KeyErrorf("multiline.parser", "no multiline parser named %q: the built-ins are docker, cri, go, python and java, or define it in a [MULTILINE_PARSER] section", m)
		}
		in.mlRegex = append(in.mlRegex, p)
	}
	if container && len(in.mlRegex) > 0 {
		return config.KeyErrorf("multiline.parser", "docker or cri together with a regex parser (%s) is not supported: use one kind", in.mlRegex[0].Name)
	}
	if in.DockerMode {
		return config.KeyErrorf("docker_mode", "not supported: use a json parser on the lines")
	}
	if in.Parser != "" && in.ParserImpl == nil {
		set := parser.NewSet()
		if in.cfg != nil {
			s, err := parser.Load(in.cfg)
			if err != nil {
				return err
			}
			set = s
		}
		p, ok := set.Lookup(in.Parser)
		if !ok {
			return config.KeyErrorf("parser", "no parser named %q is defined (define it in a [PARSER] section, a parsers_file or the YAML parsers list)", in.Parser)
		}
		in.ParserImpl = p
	}
	return nil
}

// splitList splits every element at commas and drops empty ones.
func splitList(in []string) []string {
	var out []string
	for _, v := range in {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Init opens the offsets file.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.tag = env.Tag
	if in.tag == "" {
		in.tag = env.Name
	}
	in.files = map[fileID]*file{}
	in.byPath = map[string]*file{}
	in.watched = map[string]bool{}
	in.touched = map[*file]int64{}
	in.dirty = map[*file]bool{}
	in.closing = map[*file]closeAt{}
	in.rbuf = make([]byte, in.BufferChunkSize)
	if in.now == nil {
		in.now = time.Now
	}
	if in.DB != "" {
		db, err := openDB(in.DB, in.syncMode)
		if err != nil {
			return fmt.Errorf("tail: db: %w", err)
		}
		in.db = db
		// With filesystem storage the offsets also go into the chunks, with the lines
		// (exactly once across a crash); the db stays, for memory storage and for tools.
		in.ckpts = env.Checkpoints
	}
	return nil
}

// Run follows the files until ctx is done.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	var w *fsnotify.Watcher
	if in.InotifyWatcher {
		var err error
		w, err = fsnotify.NewWatcher()
		if err != nil {
			in.log.Warn("tail: inotify unavailable, polling instead", "err", err)
			w = nil
		} else {
			defer w.Close()
			in.watched = map[string]bool{}
		}
	}
	var events <-chan fsnotify.Event
	var werrs <-chan error
	tick := pollInterval
	if w != nil {
		events, werrs = w.Events, w.Errors
		tick = checkInterval
	}
	check := time.NewTicker(tick)
	defer check.Stop()
	refresh := time.NewTicker(in.RefreshInterval)
	defer refresh.Stop()

	in.scan(w)
	in.markAll()
	for {
		if err := in.pass(ctx, emit); err != nil {
			if errors.Is(err, pipeline.ErrStopped) {
				return nil
			}
			return err
		}
		if in.pending != nil {
			select {
			case in.pending <- struct{}{}:
			default:
			}
		}
		rescan := false
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			rescan = in.onEvent(ev)
		drain:
			for {
				select {
				case ev := <-events:
					rescan = in.onEvent(ev) || rescan
				default:
					break drain
				}
			}
		case err := <-werrs:
			// The kernel queue overflowed (or similar): look at everything.
			in.log.Debug("tail: inotify", "err", err)
			rescan = true
			in.markAll()
		case <-check.C:
			in.markAll()
			if in.checkRotations() {
				rescan = true
			}
		case <-refresh.C:
			rescan = true
		}
		if rescan || in.closed {
			in.closed = false
			in.scan(w)
		}
	}
}

// onEvent marks the file an inotify event is about and reports whether the patterns
// should be expanded again (a file appeared, or one moved away).
func (in *Input) onEvent(ev fsnotify.Event) bool {
	f := in.byPath[ev.Name]
	if f != nil {
		in.dirty[f] = true
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) {
		if f != nil {
			in.checkRotation(f)
		}
		return true
	}
	return false
}

func (in *Input) markAll() {
	for _, f := range in.files {
		in.dirty[f] = true
	}
}

// scan expands the patterns, opens the files not yet followed and watches their
// directories.
func (in *Input) scan(w *fsnotify.Watcher) {
	now := in.now()
	first := !in.scanned
	in.scanned = true
	var paths []string
	for _, pat := range in.Path {
		if w != nil {
			in.watchDir(w, filepath.Dir(pat))
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			continue // checked in Validate
		}
		paths = append(paths, m...)
	}
	sort.Strings(paths)
	for i, p := range paths {
		if i > 0 && paths[i-1] == p {
			continue
		}
		if in.excluded(p) {
			continue
		}
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if in.IgnoreOlder > 0 && now.Sub(st.ModTime()) > in.IgnoreOlder {
			continue
		}
		id := idOf(st)
		if f, ok := in.files[id]; ok {
			if f.path != p && in.byPath[p] != f {
				// Renamed to a name the patterns still cover: keep reading it there.
				if in.byPath[f.path] == f {
					delete(in.byPath, f.path)
				}
				f.path = p
				delete(in.closing, f)
			}
			if in.byPath[p] == nil {
				in.byPath[p] = f
			}
			continue
		}
		if old := in.byPath[p]; old != nil {
			in.checkRotation(old)
		}
		in.open(p, id, st.Size(), first)
		if w != nil {
			in.watchDir(w, filepath.Dir(p))
		}
	}
}

func (in *Input) watchDir(w *fsnotify.Watcher, dir string) {
	if in.watched[dir] || strings.ContainsAny(dir, "*?[") {
		return
	}
	if err := w.Add(dir); err != nil {
		in.log.Debug("tail: cannot watch directory, polling it", "dir", dir, "err", err)
		return
	}
	in.watched[dir] = true
}

// excluded reports whether exclude_path covers p, by its whole path or its base name.
func (in *Input) excluded(p string) bool {
	for _, ex := range in.ExcludePath {
		if ok, _ := filepath.Match(ex, p); ok {
			return true
		}
		if ok, _ := filepath.Match(ex, filepath.Base(p)); ok {
			return true
		}
	}
	return false
}

// open starts following the file p. Its first offset is the db's, else its end when it
// was there at start (and read_from_head is off), else its beginning.
func (in *Input) open(p string, id fileID, size int64, first bool) {
	fh, err := os.Open(p)
	if err != nil {
		in.log.Warn("tail: cannot open", "path", p, "err", err)
		return
	}
	st, err := fh.Stat()
	if err != nil || idOf(st) != id {
		fh.Close() // replaced between stat and open: the next scan finds it
		return
	}
	var off int64
	fromDB := false
	if v, ok := in.ckpts[ckptKey(id)]; ok {
		// Written with the lines it follows, so never older than the db's. Used once: from
		// here the db follows the file (an inode reused later is a new file).
		delete(in.ckpts, ckptKey(id))
		if o, ok := ckptOffset(v); ok && o <= st.Size() {
			off, fromDB = o, true
		}
	}
	if in.db != nil && !fromDB {
		if o, ok := in.db.get(id); ok && o <= st.Size() {
			off, fromDB = o, true
		}
	}
	if !fromDB && first && !in.ReadFromHead {
		off = st.Size()
	}
	if off > 0 {
		if _, err := fh.Seek(off, io.SeekStart); err != nil {
			in.log.Warn("tail: seek", "path", p, "err", err)
			fh.Close()
			return
		}
	}
	f := &file{path: p, id: id, fh: fh, readPos: off, lineStart: off, committed: off, tag: in.tagFor(p), ckptOff: -1}
	if fromDB {
		f.ckptOff = off
	}
	in.files[id] = f
	in.nOpen.Store(int64(len(in.files)))
	in.byPath[p] = f
	in.dirty[f] = true
	if in.db != nil {
		in.db.set(id, p, off)
	}
	in.log.Debug("tail: following", "path", p, "offset", off)
}

// tagFor expands a '*' in the tag with the file's path, its slashes turned into dots
// (the leading one dropped), as Fluent Bit does: app.* and /var/log/x.log give
// app.var.log.x.log.
func (in *Input) tagFor(p string) string {
	if !strings.Contains(in.tag, "*") {
		return in.tag
	}
	return strings.ReplaceAll(in.tag, "*", strings.ReplaceAll(strings.TrimLeft(p, "/"), "/", "."))
}

// checkRotations checks every file; it reports whether one moved on.
func (in *Input) checkRotations() bool {
	moved := false
	for _, f := range in.files {
		if in.checkRotation(f) {
			moved = true
		}
	}
	return moved
}

// checkRotation notices that f's path no longer names f (renamed away, deleted): f is
// then read to its end until rotate_wait has passed, and closed. It reports whether the
// path moved on now.
func (in *Input) checkRotation(f *file) bool {
	if _, ok := in.closing[f]; ok {
		return false
	}
	st, err := os.Stat(f.path)
	if err == nil && idOf(st) == f.id {
		return false
	}
	in.closing[f] = closeAt{at: in.now().Add(in.RotateWait)}
	if in.byPath[f.path] == f {
		delete(in.byPath, f.path)
	}
	in.dirty[f] = true
	in.log.Info("tail: rotated or deleted; reading it to its end", "path", f.path, "rotate_wait", in.RotateWait)
	return true
}

// pass reads every dirty file, emits the lines and closes the rotated files whose wait
// is over.
func (in *Input) pass(ctx context.Context, emit pipeline.Emitter) error {
	for len(in.dirty) > 0 {
		for f := range in.dirty {
			delete(in.dirty, f)
			more, err := in.readFile(emit, f)
			if err != nil {
				return err
			}
			if more {
				in.dirty[f] = true
			}
			if ctx.Err() != nil {
				return in.flush(emit)
			}
		}
		if err := in.flush(emit); err != nil {
			return err
		}
	}
	for _, f := range in.files {
		if err := in.flushMultiline(emit, f, false); err != nil {
			return err
		}
	}
	if err := in.flush(emit); err != nil {
		return err
	}
	now := in.now()
	for f, c := range in.closing {
		if now.Before(c.at) {
			continue
		}
		if _, err := in.readFile(emit, f); err != nil {
			return err
		}
		if err := in.flushMultiline(emit, f, true); err != nil {
			return err
		}
		if len(f.pending) > 0 {
			// The writer never ended its last line: it is a line all the same.
			if err := in.line(emit, f, f.pending, int64(len(f.pending))); err != nil {
				return err
			}
			f.pending = f.pending[:0]
		}
		if err := in.flush(emit); err != nil {
			return err
		}
		in.closeFile(f)
	}
	if len(in.forgotten) > 0 {
		if err := in.flush(emit); err != nil { // their checkpoints' deletion
			return err
		}
	}
	if in.db != nil {
		if err := in.db.save(); err != nil {
			in.log.Error("tail: db", "err", err)
		}
	}
	return nil
}

func (in *Input) closeFile(f *file) {
	f.fh.Close()
	delete(in.closing, f)
	delete(in.files, f.id)
	in.nOpen.Store(int64(len(in.files)))
	delete(in.dirty, f)
	if in.byPath[f.path] == f {
		delete(in.byPath, f.path)
	}
	if in.db != nil {
		in.db.remove(f.id)
	}
	if in.ckpts != nil {
		in.forgotten = append(in.forgotten, f.id)
	}
	in.closed = true
	in.log.Debug("tail: closed", "path", f.path)
}

// Close closes the files and writes the offsets.
func (in *Input) Close(context.Context) error {
	for _, f := range in.files {
		f.fh.Close()
	}
	in.files = map[fileID]*file{}
	if in.db != nil {
		err := in.db.save()
		if err != nil {
			return fmt.Errorf("tail: db: %w", err)
		}
	}
	return nil
}

// fileID names a file by device and inode, which a rename keeps.
type fileID struct{ dev, ino uint64 }

func idOf(st os.FileInfo) fileID {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(s.Dev), ino: uint64(s.Ino)}
	}
	return fileID{}
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
	_ pipeline.ConfigAware = (*Input)(nil)
)

// fileList returns the open files (tests).
func (in *Input) fileList() []*file {
	out := make([]*file, 0, len(in.files))
	for _, f := range in.files {
		out = append(out, f)
	}
	return out
}
