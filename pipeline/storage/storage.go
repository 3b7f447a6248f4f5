// Package storage is the filesystem chunk store behind `storage.type filesystem`: each
// chunk is a file that records are appended to as they arrive, in frames that each carry
// their own length and CRC32C, so that a write torn by a power loss costs only the records
// of the torn frame, never the chunk. Beside each chunk file, an acks file lists the
// outputs that are done with it, so that after a restart a chunk goes only to the outputs
// that still owe it.
//
// Layout under the store's directory (the service's storage.path):
//
//	<dir>/<stream>/<unixnano>-<seq>.flb    the chunk: header, then frames
//	<dir>/<stream>/<unixnano>-<seq>.acks   output names, one a line (when any is done)
//
// A stream is an input instance's name. The chunk header is: magic "\x89FBC", version
// (1 byte), flags (1 byte, reserved), tag length (uint16), creation time (int64 unix
// nanoseconds), the tag, and a CRC32C of all that (uint32). A frame is: payload length
// (uint32), entry count (uint32), CRC32C of the count and the payload (uint32), then the
// payload (msgpack entries). Integers are big-endian.
//
// # Checkpoints (version 2)
//
// An input may write where it will resume (a file offset, a journal cursor) in the same
// frame as the records it read up to there (File.AppendCheckpoint): the frame's entry
// count then has its high bit set (0x80000000; the count is the low 31 bits, and may be
// 0), and its payload ends with a checkpoint trailer:
//
//	payload  = entries, trailer, trailer length (uint32)
//	trailer  = seq (uvarint), pairs (uvarint), then per pair:
//	           key length (uvarint), key, value length (uvarint), value
//
// seq is the stream's checkpoint sequence number, one more at every frame with a trailer;
// an empty value deletes the key. One CRC covers records and checkpoint: a torn frame
// loses both, so after a crash the input reads again exactly what was not stored. A chunk
// that holds such frames has version 2 in its header (version 1 otherwise); this version
// reads both, earlier versions read only 1.
//
// Before a chunk with checkpoints is removed (delivered), its checkpoints are merged into
// the stream's checkpoints file, <dir>/<stream>/checkpoints (written to a temporary file,
// fsynced, renamed, directory fsynced): magic "\x89FBK", version 1, the stream's highest
// seq (uvarint), the number of keys (uvarint), then per key: seq (uvarint), key length
// (uvarint), key, value length (uvarint), value (empty: deleted), and a CRC32C of all that
// (uint32). Checkpoints returns, per key, the value of the highest seq found in that file
// and in the chunks still on disk.
//
// The store does not decide when to sync, seal or deliver: the engine (package pipeline)
// does. It never imports the engine.
package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Format constants.
const (
	magic        = "\x89FBC"
	version      = 1
	versionCkpt  = 2 // holds frames with a checkpoint trailer
	ckptFlag     = 1 << 31
	fixedHeader  = 4 + 1 + 1 + 2 + 8 // before the tag
	frameHeader  = 12
	maxFrame     = 64 << 20 // a longer length field is damage, not data
	maxTag       = 65535
	chunkSuffix  = ".flb"
	acksSuffix   = ".acks"
	badSuffix    = ".corrupt"
	dirMode      = 0o750
	fileMode     = 0o640
	maxStreamLen = 200
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure a Store.
type Options struct {
	Dir string // storage.path
	// Checksum verifies the frames' CRCs also when a chunk is read back for delivery
	// (storage.checksum). They are always written, and always verified when the backlog is
	// loaded at start.
	Checksum bool
	// DeleteIrrecoverable removes chunk files whose header is damaged instead of renaming
	// them to *.corrupt (storage.delete_irrecoverable_chunks).
	DeleteIrrecoverable bool
	Logger              *slog.Logger
}

// Store is a directory of chunk files.
type Store struct {
	opts Options
	log  *slog.Logger
	seq  atomic.Uint64
	lock *os.File

	fsyncs atomic.Uint64

	ckMu    sync.Mutex
	streams map[string]*ckStream // checkpoints, by stream directory name
}

// Open makes the directory if needed, locks it (one agent per directory; Close unlocks)
// and returns the store.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("storage: no storage.path")
	}
	if err := os.MkdirAll(opts.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	return &Store{opts: opts, log: opts.Logger, lock: lock, streams: map[string]*ckStream{}}, nil
}

// Close releases the store's directory for another Open (the next engine of a reload).
// Chunk files stay as they are.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.opts.Dir }

// Fsyncs returns how many fsyncs the store has made (a figure for benchmarks and metrics).
func (s *Store) Fsyncs() uint64 { return s.fsyncs.Load() }

// streamDir turns an input name into a directory name that stays inside the store.
func streamDir(stream string) string {
	b := []byte(stream)
	for i, c := range b {
		if c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || s == "." || s == ".." {
		s = "_"
	}
	if len(s) > maxStreamLen {
		s = s[:maxStreamLen]
	}
	return s
}

// Create starts a new chunk file for tag in stream's directory and writes its header.
func (s *Store) Create(stream, tag string) (*File, error) { return s.create(stream, tag, false) }

// CreateCheckpointed is Create for a chunk that takes AppendCheckpoint (version 2).
func (s *Store) CreateCheckpointed(stream, tag string) (*File, error) {
	return s.create(stream, tag, true)
}

func (s *Store) create(stream, tag string, ckpt bool) (*File, error) {
	if len(tag) > maxTag {
		return nil, fmt.Errorf("storage: tag of %d bytes is too long", len(tag))
	}
	dir := filepath.Join(s.opts.Dir, streamDir(stream))
	now := time.Now()
	name := fmt.Sprintf("%019d-%06d", now.UnixNano(), s.seq.Add(1)%1000000)
	path := filepath.Join(dir, name+chunkSuffix)
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, dirMode); err == nil {
			// The new stream directory's own entry must survive a power loss too: if it
			// cannot be made durable, no record is accepted into it.
			err = s.syncDir(s.opts.Dir)
			if err == nil {
				fd, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: create chunk: %w", err)
	}
	v := byte(version)
	if ckpt {
		v = versionCkpt
	}
	hdr := appendHeaderV(nil, tag, now, v)
	if _, err := fd.Write(hdr); err != nil {
		fd.Close()
		os.Remove(path)
		return nil, fmt.Errorf("storage: write chunk header %s: %w", path, err)
	}
	f := &File{s: s, path: path, Tag: tag, fd: fd, Created: now, stream: streamDir(stream), ckpt: ckpt}
	f.size.Store(int64(len(hdr)))
	return f, nil
}

func appendHeader(dst []byte, tag string, created time.Time) []byte {
	return appendHeaderV(dst, tag, created, version)
}

func appendHeaderV(dst []byte, tag string, created time.Time, v byte) []byte {
	start := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, v, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(tag)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(created.UnixNano()))
	dst = append(dst, tag...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// File is one chunk file. Append and Seal are called by one writer at a time (the engine
// holds its input's lock); SyncTo may be called concurrently with them; the rest are safe
// once the file is sealed.
type File struct {
	s       *Store
	path    string
	Tag     string
	Created time.Time

	fd    *os.File // nil once sealed
	frame []byte   // scratch for one frame
	size  atomic.Int64
	// broken is set when a write failed and could not be taken back: no more appends.
	broken bool

	syncMu    sync.Mutex
	synced    int64
	dirSynced bool // the directory entry is durable too

	ackMu sync.Mutex

	stream string // its stream directory's name
	ckpt   bool   // version 2: takes AppendCheckpoint
	// marks are the checkpoints in the file's frames, the highest seq per key (under the
	// store's ckMu); nil when it holds none.
	marks map[string]ckVal
}

// Path returns the chunk file's path.
func (f *File) Path() string { return f.path }

// Size returns the file's length in bytes.
func (f *File) Size() int64 { return f.size.Load() }

// Append writes one frame holding n entries. When the write fails, what it wrote is cut
// off again, so the file ends with whole frames; if even that fails, the file takes no more
// appends (Broken) and the caller starts another.
func (f *File) Append(payload []byte, n int) error {
	return f.appendFrame(payload, uint32(n), nil)
}

// appendFrame writes one frame of payload and, when trailer is not nil, the checkpoint
// trailer after it (count then has ckptFlag).
func (f *File) appendFrame(payload []byte, count uint32, trailer []byte) error {
	if f.fd == nil || f.broken {
		return errors.New("storage: append to a sealed chunk")
	}
	plen := len(payload)
	if trailer != nil {
		plen += len(trailer) + 4
		count |= ckptFlag
	}
	if plen > maxFrame {
		return fmt.Errorf("storage: a batch of %d bytes is over the %d byte frame limit", plen, maxFrame)
	}
	fr := f.frame[:0]
	fr = binary.BigEndian.AppendUint32(fr, uint32(plen))
	fr = binary.BigEndian.AppendUint32(fr, count)
	fr = binary.BigEndian.AppendUint32(fr, 0) // CRC, below
	fr = append(fr, payload...)
	if trailer != nil {
		fr = append(fr, trailer...)
		fr = binary.BigEndian.AppendUint32(fr, uint32(len(trailer)))
	}
	crc := crc32.Update(crc32.Checksum(fr[4:8], castagnoli), castagnoli, fr[frameHeader:])
	binary.BigEndian.PutUint32(fr[8:12], crc)
	f.frame = fr
	if cap(f.frame) > 1<<20 {
		f.frame = nil
	}
	before := f.size.Load()
	w, err := f.fd.Write(fr)
	if err != nil {
		if w > 0 {
			if terr := f.fd.Truncate(before); terr != nil {
				f.broken = true
			}
			if _, serr := f.fd.Seek(before, io.SeekStart); serr != nil {
				f.broken = true
			}
		}
		return fmt.Errorf("storage: write %s: %w", f.path, err)
	}
	f.size.Store(before + int64(w))
	return nil
}

// Broken reports whether the file refuses appends after a failed write.
func (f *File) Broken() bool { return f.broken }

// SyncTo makes the file durable up to at least off bytes. Concurrent callers share one
// fsync (group commit): a caller whose bytes a later fsync covered returns at once.
func (f *File) SyncTo(off int64) error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	if f.synced >= off || f.fd == nil {
		return nil // covered, or sealed (Seal syncs)
	}
	cur := f.size.Load()
	f.s.fsyncs.Add(1)
	if err := f.fd.Sync(); err != nil {
		return fmt.Errorf("storage: fsync %s: %w", f.path, err)
	}
	f.synced = cur
	return f.syncDirLocked()
}

// syncDirLocked fsyncs the chunk's directory once, so that after a power loss the file
// is found again and not only its blocks.
func (f *File) syncDirLocked() error {
	if f.dirSynced {
		return nil
	}
	if err := f.s.syncDir(filepath.Dir(f.path)); err != nil {
		return err
	}
	f.dirSynced = true
	return nil
}

// syncDir fsyncs a directory, so the entries created in it survive a power loss.
func (s *Store) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: fsync directory: %w", err)
	}
	s.fsyncs.Add(1)
	err = fsyncDir(d)
	d.Close()
	if err != nil {
		return fmt.Errorf("storage: fsync directory %s: %w", dir, err)
	}
	return nil
}

// fsyncDir is (*os.File).Sync; tests replace it to play a failing disk.
var fsyncDir = (*os.File).Sync

// Seal syncs (when sync is true) and closes the file: it takes no more appends and stays
// on disk until Remove.
func (f *File) Seal(sync bool) error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	if f.fd == nil {
		return nil
	}
	var err error
	if sync && f.synced < f.size.Load() {
		f.s.fsyncs.Add(1)
		if err = f.fd.Sync(); err != nil {
			err = fmt.Errorf("storage: fsync %s: %w", f.path, err)
		}
	}
	if sync && err == nil {
		err = f.syncDirLocked()
	}
	f.synced = f.size.Load()
	if cerr := f.fd.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("storage: close %s: %w", f.path, cerr)
	}
	f.fd = nil
	return err
}

// Ack records that output is done with the chunk (delivered it, or gave up on it), so a
// restart does not send it there again. The line is written, not synced: a power loss can
// lose it, and then the chunk is sent to that output once more (at-least-once).
func (f *File) Ack(output string) error {
	f.ackMu.Lock()
	defer f.ackMu.Unlock()
	path := strings.TrimSuffix(f.path, chunkSuffix) + acksSuffix
	a, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("storage: ack: %w", err)
	}
	_, err = a.WriteString(strings.ReplaceAll(output, "\n", " ") + "\n")
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: ack %s: %w", path, err)
	}
	return nil
}

// Acked returns the outputs recorded as done with the chunk (see Ack).
func (f *File) Acked() map[string]bool {
	f.ackMu.Lock()
	defer f.ackMu.Unlock()
	return readAcks(f.path)
}

// Remove deletes the chunk file and its acks file. When the file holds checkpoints, they
// are first merged into the stream's checkpoints file; if that fails, the chunk file stays
// (the next start merges them) and the error is returned.
func (f *File) Remove() error {
	_ = f.Seal(false)
	if err := f.s.retire(f); err != nil {
		return err
	}
	err := os.Remove(f.path)
	if aerr := os.Remove(strings.TrimSuffix(f.path, chunkSuffix) + acksSuffix); aerr != nil && !errors.Is(aerr, fs.ErrNotExist) && err == nil {
		err = aerr
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: remove chunk: %w", err)
	}
	return nil
}

// Damage describes what a read of a chunk file had to leave out.
type Damage struct {
	SkippedFrames int   // frames in the middle whose CRC did not match
	CutBytes      int64 // bytes after the last whole frame
}

func (d Damage) none() bool { return d.SkippedFrames == 0 && d.CutBytes == 0 }

func (d Damage) String() string {
	return fmt.Sprintf("%d damaged frames skipped, %d bytes cut at the end", d.SkippedFrames, d.CutBytes)
}

// ReadAll reads the chunk's entries back: the payloads of its frames, concatenated, and
// their count. With the store's Checksum option, frames whose CRC does not match are left
// out (and reported in Damage); without, only the lengths are checked.
func (f *File) ReadAll() (data []byte, records int, dmg Damage, err error) {
	r, err := os.Open(f.path)
	if err != nil {
		return nil, 0, dmg, fmt.Errorf("storage: read chunk: %w", err)
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil {
		return nil, 0, dmg, fmt.Errorf("storage: read chunk: %w", err)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if _, _, _, err := readHeader(br); err != nil {
		return nil, 0, dmg, fmt.Errorf("storage: %s: %w", f.path, err)
	}
	data = make([]byte, 0, max(st.Size()-int64(fixedHeader+len(f.Tag)+4), 0))
	var res scanResult
	data, res = scanFrames(br, data, f.s.opts.Checksum, nil)
	return data, res.records, res.dmg, nil
}

var errBadHeader = errors.New("damaged chunk header")

func readHeader(r io.Reader) (tag string, created time.Time, v byte, err error) {
	var fixed [fixedHeader]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return "", time.Time{}, 0, fmt.Errorf("%w: %v", errBadHeader, err)
	}
	if string(fixed[:4]) != magic || (fixed[4] != version && fixed[4] != versionCkpt) {
		return "", time.Time{}, 0, fmt.Errorf("%w: bad magic or version", errBadHeader)
	}
	tl := int(binary.BigEndian.Uint16(fixed[6:8]))
	rest := make([]byte, tl+4)
	if _, err := io.ReadFull(r, rest); err != nil {
		return "", time.Time{}, 0, fmt.Errorf("%w: %v", errBadHeader, err)
	}
	crc := crc32.Update(crc32.Checksum(fixed[:], castagnoli), castagnoli, rest[:tl])
	if crc != binary.BigEndian.Uint32(rest[tl:]) {
		return "", time.Time{}, 0, fmt.Errorf("%w: CRC mismatch", errBadHeader)
	}
	return string(rest[:tl]), time.Unix(0, int64(binary.BigEndian.Uint64(fixed[8:16]))), fixed[4], nil
}

type scanResult struct {
	records int
	goodEnd int64 // offset (from the first frame) after the last frame that checked out
	dmg     Damage
}

// scanFrames appends the good frames' payloads to dst (when dst is not nil; with nil it
// only counts), without their checkpoint trailers, and passes each trailer's checkpoint
// to mark (when not nil). A frame whose CRC fails, or whose trailer does not parse, is
// skipped when its length is plausible; the scan ends at a truncated frame or an
// impossible length. Damage.CutBytes is what follows the last good frame.
func scanFrames(r io.Reader, dst []byte, verify bool, mark func(Mark)) ([]byte, scanResult) {
	var res scanResult
	var off int64
	var hdr [frameHeader]byte
	var buf []byte
	skipped := 0
	for {
		n, err := io.ReadFull(r, hdr[:])
		if err != nil {
			off += int64(n)
			break
		}
		length := binary.BigEndian.Uint32(hdr[0:4])
		if length > maxFrame {
			off += frameHeader
			// Count what is left as cut: the rest cannot be framed.
			rest, _ := io.Copy(io.Discard, r)
			off += rest
			break
		}
		if cap(buf) < int(length) {
			buf = make([]byte, length)
		}
		p := buf[:length]
		m, err := io.ReadFull(r, p)
		off += frameHeader + int64(m)
		if err != nil {
			break
		}
		if verify {
			crc := crc32.Update(crc32.Checksum(hdr[4:8], castagnoli), castagnoli, p)
			if crc != binary.BigEndian.Uint32(hdr[8:12]) {
				skipped++
				continue
			}
		}
		count := binary.BigEndian.Uint32(hdr[4:8])
		if count&ckptFlag != 0 {
			count &^= ckptFlag
			entries, m, err := splitTrailer(p)
			if err != nil {
				skipped++
				continue
			}
			p = entries
			if mark != nil {
				mark(m)
			}
		}
		// Frames skipped before a good one are damage in the middle.
		res.dmg.SkippedFrames += skipped
		skipped = 0
		res.records += int(count)
		res.goodEnd = off
		if dst != nil {
			dst = append(dst, p...)
		}
	}
	res.dmg.CutBytes = off - res.goodEnd
	return dst, res
}

// Loaded is a chunk found on disk at start.
type Loaded struct {
	File    *File
	Stream  string
	Records int
	Acked   map[string]bool // outputs done with it
	Damage  Damage          // what recovery cut from it (already cut from the file)
	// Checkpoints are the checkpoints of its frames, in their order (see Checkpoints for
	// the merged view the inputs resume from).
	Checkpoints []Mark
}

// Load scans every stream directory for chunks left by an earlier run, oldest first. It
// repairs what a crash left: a chunk whose tail was torn is truncated after its last
// whole frame (damage in the middle is skipped), and logged; a chunk whose header is
// damaged is renamed *.corrupt (or removed with DeleteIrrecoverable); an empty chunk and
// an acks file without a chunk are removed. It also reads each stream's checkpoints file
// and the chunks' checkpoints: Checkpoints returns the result.
func (s *Store) Load() ([]*Loaded, error) {
	streams, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var out, empty []*Loaded
	for _, st := range streams {
		if !st.IsDir() {
			continue // .lock
		}
		dir := filepath.Join(s.opts.Dir, st.Name())
		s.loadCheckpoints(st.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			s.log.Error("storage: cannot read stream directory", "dir", dir, "err", err)
			continue
		}
		chunks := map[string]bool{}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), chunkSuffix) {
				chunks[strings.TrimSuffix(e.Name(), chunkSuffix)] = true
			}
		}
		for _, e := range ents {
			name := e.Name()
			switch {
			case strings.HasSuffix(name, acksSuffix):
				if !chunks[strings.TrimSuffix(name, acksSuffix)] {
					_ = os.Remove(filepath.Join(dir, name))
				}
			case strings.HasSuffix(name, chunkSuffix):
				if l := s.loadOne(filepath.Join(dir, name), st.Name()); l != nil {
					if l.Records == 0 {
						empty = append(empty, l)
					} else {
						out = append(out, l)
					}
				}
			}
		}
	}
	// Chunks with no record but checkpoints go once every chunk's checkpoints are known.
	for _, l := range empty {
		s.log.Info("storage: removing a chunk with no records", "file", l.File.path)
		if err := l.File.Remove(); err != nil {
			s.log.Error("storage: cannot remove a chunk with no records", "file", l.File.path, "err", err)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return filepath.Base(out[i].File.path) < filepath.Base(out[j].File.path)
	})
	return out, nil
}

func (s *Store) loadOne(path, stream string) *Loaded {
	fd, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		s.log.Error("storage: cannot open chunk", "file", path, "err", err)
		return nil
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		s.log.Error("storage: cannot stat chunk", "file", path, "err", err)
		return nil
	}
	br := bufio.NewReaderSize(fd, 64<<10)
	tag, created, v, err := readHeader(br)
	if err != nil {
		if st.Size() < fixedHeader+4 {
			// Created and never written to: it held no record anyone was told was kept.
			s.log.Info("storage: removing a chunk with no complete header", "file", path, "bytes", st.Size())
			s.removePair(path)
			return nil
		}
		if s.opts.DeleteIrrecoverable {
			s.log.Error("storage: chunk header damaged; chunk deleted (storage.delete_irrecoverable_chunks)", "file", path, "err", err)
			s.removePair(path)
		} else {
			s.log.Error("storage: chunk header damaged; chunk set aside as *.corrupt", "file", path, "err", err)
			_ = os.Rename(path, path+badSuffix)
		}
		return nil
	}
	hdrLen := int64(fixedHeader + len(tag) + 4)
	var marks []Mark
	_, res := scanFrames(br, nil, true, func(m Mark) { marks = append(marks, m) })
	if res.dmg.CutBytes > 0 {
		if err := fd.Truncate(hdrLen + res.goodEnd); err != nil {
			s.log.Error("storage: cannot truncate damaged chunk", "file", path, "err", err)
		}
	}
	if !res.dmg.none() {
		s.log.Warn("storage: chunk damaged; recovered the whole records before the damage",
			"file", path, "tag", tag, "records_kept", res.records,
			"bytes_cut", res.dmg.CutBytes, "frames_skipped", res.dmg.SkippedFrames)
	}
	if res.records == 0 && len(marks) == 0 {
		s.log.Info("storage: removing a chunk with no records", "file", path)
		s.removePair(path)
		return nil
	}
	f := &File{s: s, path: path, Tag: tag, Created: created, stream: stream, ckpt: v == versionCkpt}
	f.size.Store(hdrLen + res.goodEnd)
	f.synced = f.size.Load()
	f.dirSynced = true
	for _, m := range marks {
		s.noteMark(f, m)
	}
	return &Loaded{File: f, Stream: stream, Records: res.records, Acked: readAcks(path), Damage: res.dmg, Checkpoints: marks}
}

func (s *Store) removePair(path string) {
	_ = os.Remove(path)
	_ = os.Remove(strings.TrimSuffix(path, chunkSuffix) + acksSuffix)
}

// readAcks reads the outputs listed in a chunk's acks file. A last line without its
// newline was torn by a crash and is ignored (the chunk goes to that output again).
func readAcks(chunkPath string) map[string]bool {
	b, err := os.ReadFile(strings.TrimSuffix(chunkPath, chunkSuffix) + acksSuffix)
	acked := map[string]bool{}
	if err != nil {
		return acked
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		if i > 0 {
			acked[string(b[:i])] = true
		}
		b = b[i+1:]
	}
	return acked
}
