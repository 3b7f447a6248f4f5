package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
	"github.com/fluentbit-go/fluentbit-go/multiline"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// file is one followed file. Offsets are byte offsets in the file:
//
//	committed <= lineStart <= readPos
//
// committed is what the engine has (and the db saves), lineStart where the next line
// begins (pending holds the bytes from there to readPos).
type file struct {
	path      string // the name it is read under now
	id        fileID
	fh        *os.File
	tag       string
	readPos   int64
	lineStart int64
	committed int64
	pending   []byte // the start of a line whose newline has not been read yet
	skipping  bool   // inside a long line being skipped (skip_long_lines)
	ml        *mlState
	mls       *multiline.Stream // multiline.parser's regex parsers (nil: none)
	ckptOff   int64             // the offset in the engine's last checkpoint (-1: none)
}

// readFile reads what f has gained, up to cycleBytes; more reports that it had more.
// A file that shrank was truncated in place (copytruncate): it is read again from its
// beginning, and a line it had begun is continued by what is written there.
func (in *Input) readFile(emit pipeline.Emitter, f *file) (more bool, err error) {
	if st, err := f.fh.Stat(); err == nil && st.Size() < f.readPos {
		in.log.Info("tail: file truncated, reading it from its beginning", "path", f.path, "size", st.Size(), "offset", f.readPos)
		if _, err := f.fh.Seek(0, io.SeekStart); err != nil {
			in.log.Warn("tail: seek", "path", f.path, "err", err)
			return false, nil
		}
		f.readPos = 0
		f.lineStart = -int64(len(f.pending))
		f.committed = 0
		in.touched[f] = 0
	}
	in.readTime = in.now()
	for read := 0; read < cycleBytes; {
		n, rerr := f.fh.Read(in.rbuf)
		if n > 0 {
			read += n
			if err := in.consume(emit, f, in.rbuf[:n]); err != nil {
				return false, err
			}
		}
		if rerr == io.EOF || n == 0 {
			return false, nil
		}
		if rerr != nil {
			in.log.Warn("tail: read", "path", f.path, "err", rerr)
			return false, nil
		}
	}
	return true, nil
}

// consume splits data, the next bytes of f, into lines.
func (in *Input) consume(emit pipeline.Emitter, f *file, data []byte) error {
	f.readPos += int64(len(data))
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if f.skipping {
			if i < 0 {
				f.lineStart += int64(len(data))
				return nil
			}
			f.lineStart += int64(i + 1)
			f.skipping = false
			in.touched[f] = f.lineStart
			data = data[i+1:]
			continue
		}
		if i < 0 {
			f.pending = append(f.pending, data...)
			if len(f.pending) >= int(in.BufferMaxSize) {
				return in.longLine(emit, f)
			}
			return nil
		}
		ln := data[:i]
		if len(f.pending) > 0 {
			f.pending = append(f.pending, ln...)
			ln = f.pending
		}
		if err := in.line(emit, f, ln, int64(len(ln)+1)); err != nil {
			return err
		}
		f.pending = f.pending[:0]
		data = data[i+1:]
	}
	return nil
}

// longLine handles a line that filled buffer_max_size without ending: skipped up to its
// newline with skip_long_lines, else emitted in pieces of that size (nothing is lost).
func (in *Input) longLine(emit pipeline.Emitter, f *file) error {
	if in.SkipLongLines {
		in.log.Warn("tail: line longer than buffer_max_size skipped", "path", f.path, "offset", max(f.lineStart, 0), "buffer_max_size", int64(in.BufferMaxSize))
		f.lineStart += int64(len(f.pending))
		f.pending = f.pending[:0]
		f.skipping = true
		return nil
	}
	err := in.line(emit, f, f.pending, int64(len(f.pending)))
	f.pending = f.pending[:0]
	return err
}

// line adds one line of f to the batch; consumed is how many bytes of the file it takes
// (with its newline).
func (in *Input) line(emit pipeline.Emitter, f *file, ln []byte, consumed int64) error {
	off := max(f.lineStart, 0)
	if n := len(ln); n > 0 && ln[n-1] == '\r' {
		ln = ln[:n-1]
	}
	if len(ln) == 0 && in.SkipEmptyLines {
		f.lineStart += consumed
		in.touched[f] = f.savePoint()
		return nil
	}
	if len(in.mlRegex) > 0 {
		if f.mls == nil {
			f.mls = multiline.NewStream(in.mlRegex, mlLimit)
		}
		f.lineStart += consumed
		for _, m := range f.mls.Feed(ln, off, in.now()) {
			if err := in.addEntry(emit, f, func(dst []byte) []byte { return in.appendRecord(dst, in.readTime, f.path, m.Mark, m.Text) }); err != nil {
				return err
			}
		}
		in.touched[f] = f.savePoint()
		return nil
	}
	if len(in.MultilineParser) > 0 {
		if rec, t, handled := in.multiline(f, off, ln); handled {
			f.lineStart += consumed
			if rec != nil {
				if err := in.addEntry(emit, f, func(dst []byte) []byte { return in.appendFields(dst, t, f.path, off, rec) }); err != nil {
					return err
				}
			}
			in.touched[f] = f.savePoint()
			return nil
		}
	}
	t := in.readTime
	if err := in.addEntry(emit, f, func(dst []byte) []byte { return in.appendRecord(dst, t, f.path, off, ln) }); err != nil {
		return err
	}
	f.lineStart += consumed
	in.touched[f] = f.savePoint()
	return nil
}

// addEntry appends one entry of f to the batch, emitting the batch first when it is full
// or of another tag.
func (in *Input) addEntry(emit pipeline.Emitter, f *file, appendEntry func([]byte) []byte) error {
	if in.nbatch > 0 && (in.batchTag != f.tag || len(in.batch) >= batchBytes) {
		if err := in.flush(emit); err != nil {
			return err
		}
	}
	in.batchTag = f.tag
	in.batch = appendEntry(in.batch)
	in.nbatch++
	return nil
}

// flush emits the batch and, once the engine holds it, commits the offsets of the files
// its lines came from: an offset is saved only for lines already buffered. When the
// engine refuses the batch, those files are read again from their committed offsets.
func (in *Input) flush(emit pipeline.Emitter) error {
	cp, ce := in.checkpoint(emit)
	if in.nbatch == 0 && len(cp) > 0 {
		// Offsets moved with no line to emit (skipped lines, a truncation, a file
		// forgotten): the checkpoint goes alone.
		tag := in.batchTag
		if tag == "" {
			tag = in.tag
		}
		if err := ce.EmitRawCheckpoint(tag, nil, 0, cp); err != nil {
			return fmt.Errorf("tail: emit: %w", err)
		}
		in.checkpointed(cp)
	}
	if in.nbatch > 0 {
		// With a db, the offsets after this batch are written (and fsynced) before the
		// batch goes to the engine and renamed into place right after: a kill between
		// the engine's chunk write and the db leaves a rename's time, not an fsync's, for
		// the batch to be read twice after a restart.
		var prepared bool
		var undo map[fileID]dbEntry
		if in.db != nil {
			undo = map[fileID]dbEntry{}
			for f, off := range in.touched {
				if e, ok := in.db.entries[f.id]; ok {
					undo[f.id] = e
				} else {
					undo[f.id] = dbEntry{offset: -1}
				}
				in.db.set(f.id, f.path, max(off, 0))
			}
			if err := in.db.prepare(); err != nil {
				in.log.Error("tail: db", "err", err)
			} else {
				prepared = true
			}
		}
		var err error
		if len(cp) > 0 {
			err = ce.EmitRawCheckpoint(in.batchTag, in.batch, in.nbatch, cp)
		} else {
			err = emit.EmitRaw(in.batchTag, in.batch, in.nbatch)
		}
		if err != nil {
			if in.db != nil {
				if prepared {
					in.db.discard()
				}
				for id, e := range undo {
					if e.offset < 0 {
						delete(in.db.entries, id)
					} else {
						in.db.entries[id] = e
					}
				}
			}
			in.rewind()
			return fmt.Errorf("tail: emit: %w", err)
		}
		in.checkpointed(cp)
		if prepared {
			if err := in.db.commit(); err != nil {
				in.log.Error("tail: db", "err", err)
			}
		}
		in.batch = in.batch[:0]
		in.nbatch = 0
	}
	for f, off := range in.touched {
		f.committed = max(off, 0)
		if in.db != nil {
			in.db.set(f.id, f.path, f.committed)
		}
		delete(in.touched, f)
	}
	return nil
}

// checkpoint returns the engine checkpoint for the files' offsets after the batch (key
// device:inode, value the offset and the quoted path), and the files forgotten since the
// last one (empty value: deleted); nil when the engine keeps none (memory storage, no db,
// or an emitter without checkpoints).
func (in *Input) checkpoint(emit pipeline.Emitter) ([]pipeline.Checkpoint, pipeline.CheckpointEmitter) {
	if in.ckpts == nil {
		return nil, nil
	}
	ce, ok := emit.(pipeline.CheckpointEmitter)
	if !ok {
		in.forgotten = nil
		return nil, nil
	}
	var cp []pipeline.Checkpoint
	for f, off := range in.touched {
		if off = max(off, 0); off != f.ckptOff {
			cp = append(cp, pipeline.Checkpoint{Key: ckptKey(f.id), Value: ckptValue(off, f.path)})
		}
	}
	for _, id := range in.forgotten {
		if _, open := in.files[id]; !open { // not opened again since
			cp = append(cp, pipeline.Checkpoint{Key: ckptKey(id)})
		}
	}
	return cp, ce
}

// checkpointed notes that the engine holds cp.
func (in *Input) checkpointed(cp []pipeline.Checkpoint) {
	if len(cp) == 0 {
		return
	}
	in.forgotten = in.forgotten[:0]
	for f, off := range in.touched {
		f.ckptOff = max(off, 0)
	}
}

func ckptKey(id fileID) string {
	return strconv.FormatUint(id.dev, 10) + ":" + strconv.FormatUint(id.ino, 10)
}

func ckptValue(off int64, path string) []byte {
	return []byte(strconv.FormatInt(off, 10) + " " + strconv.Quote(path))
}

// ckptOffset reads the offset of a checkpoint's value.
func ckptOffset(v []byte) (int64, bool) {
	s, _, _ := strings.Cut(string(v), " ")
	off, err := strconv.ParseInt(s, 10, 64)
	return off, err == nil && off >= 0
}

// rewind forgets what was read past the committed offsets of the files in the batch.
func (in *Input) rewind() {
	for f := range in.touched {
		if _, err := f.fh.Seek(f.committed, io.SeekStart); err != nil {
			in.log.Warn("tail: seek", "path", f.path, "err", err)
		}
		f.readPos, f.lineStart = f.committed, f.committed
		f.pending = f.pending[:0]
		f.skipping = false
		f.ml = nil
		if f.mls != nil {
			f.mls.Reset()
		}
		in.dirty[f] = true
		delete(in.touched, f)
	}
	in.batch = in.batch[:0]
	in.nbatch = 0
}

// appendRecord appends the entry of one line: [time, {path_key, offset_key, key: line}],
// keys in Fluent Bit's order; with a parser, the parsed record (and its time) instead,
// with path_key and offset_key added. All of the record's shape is here, so the move to
// ordered records (issue 15) touches only this function.
func (in *Input) appendRecord(dst []byte, t time.Time, path string, off int64, line []byte) []byte {
	if in.ParserImpl != nil {
		ev, err := in.ParserImpl.Parse(line)
		if err == nil || errors.Is(err, parser.ErrTime) {
			if !ev.Time.IsZero() {
				t = ev.Time
			}
			return in.appendFields(dst, t, path, off, ev.Record)
		}
		if errors.Is(err, regex.ErrTimeout) {
			in.log.Warn("parser: regex match timed out; line kept unparsed", "path", path, "err", err)
		}
	}
	dst = msgp.AppendArrayHeader(dst, 2)
	dst = event.AppendTime(dst, t)
	n := uint32(1)
	if in.PathKey != "" {
		n++
	}
	if in.OffsetKey != "" {
		n++
	}
	dst = msgp.AppendMapHeader(dst, n)
	if in.PathKey != "" {
		dst = msgp.AppendString(dst, in.PathKey)
		dst = msgp.AppendString(dst, path)
	}
	if in.OffsetKey != "" {
		dst = msgp.AppendString(dst, in.OffsetKey)
		dst = msgp.AppendInt64(dst, off)
	}
	dst = msgp.AppendString(dst, in.Key)
	return msgp.AppendStringFromBytes(dst, line)
}

// appendFields appends the entry of a parsed record, with path_key and offset_key added;
// a zero t is the time of reading.
func (in *Input) appendFields(dst []byte, t time.Time, path string, off int64, rec event.Map) []byte {
	if in.PathKey != "" {
		rec.Set(in.PathKey, path)
	}
	if in.OffsetKey != "" {
		rec.Set(in.OffsetKey, off)
	}
	if t.IsZero() {
		t = in.readTime
	}
	ev := event.Event{Time: t, Record: rec}
	b, err := event.AppendEntry(dst, &ev)
	if err != nil {
		// Parsed values are strings, numbers, maps and slices: this does not happen; keep
		// the batch whole all the same.
		in.log.Warn("tail: encode record", "path", path, "err", err)
		return dst
	}
	return b
}
