package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/fluentbit-go/fluentbit-go/internal/statefile"
)

// This file is the checkpoints an input writes with its records (see the package
// documentation, "Checkpoints"): the frame trailer, the per-stream merge by sequence
// number, and the checkpoints file that keeps them once their chunks are removed.

// Checkpoint is one key of an input's resume state: a file's offset, a journal cursor.
// An empty Value deletes the key.
type Checkpoint struct {
	Key   string
	Value []byte
}

// Mark is the checkpoint of one frame: its pairs and the stream's sequence number, which
// orders marks across the stream's chunks (the highest wins, key by key).
type Mark struct {
	Seq   uint64
	Pairs []Checkpoint
}

const (
	ckptFileName  = "checkpoints"
	ckptMagic     = "\x89FBK"
	ckptVersion   = 1
	maxCkptPairs  = 1 << 20
	ckptFileLimit = 64 << 20
)

// ckVal is a key's value and the seq of the mark it came from (an empty val: deleted).
type ckVal struct {
	seq uint64
	val []byte
}

// ckStream is one stream's checkpoints.
type ckStream struct {
	seq        uint64           // the highest seq given or found
	state      map[string]ckVal // every mark written or found: what Checkpoints returns
	durable    map[string]ckVal // the checkpoints file's content
	durableSeq uint64
	files      map[*File]uint64 // chunk files on disk holding marks, and their lowest seq
	wmu        sync.Mutex       // one checkpoints file write at a time
}

// streamLocked returns name's checkpoints, made on first use; s.ckMu is held.
func (s *Store) streamLocked(name string) *ckStream {
	st := s.streams[name]
	if st == nil {
		st = &ckStream{state: map[string]ckVal{}, durable: map[string]ckVal{}, files: map[*File]uint64{}}
		s.streams[name] = st
	}
	return st
}

// Checkpointed reports whether the file takes AppendCheckpoint (a version 2 chunk).
func (f *File) Checkpointed() bool { return f.ckpt }

// AppendCheckpoint is Append with a checkpoint written in the same frame (same CRC): the
// records and the checkpoint are both in the file, or neither is. n may be 0. The file
// must have been made by CreateCheckpointed. Calls for one stream must not overlap (the
// engine holds its input's lock): the order of the calls is the order of the seqs.
func (f *File) AppendCheckpoint(payload []byte, n int, pairs []Checkpoint) error {
	if !f.ckpt {
		return errors.New("storage: checkpoint in a version 1 chunk")
	}
	if len(pairs) > maxCkptPairs {
		return fmt.Errorf("storage: %d checkpoint keys in one batch", len(pairs))
	}
	s := f.s
	s.ckMu.Lock()
	st := s.streamLocked(f.stream)
	st.seq++
	seq := st.seq
	s.ckMu.Unlock()
	if err := f.appendFrame(payload, uint32(n), appendTrailer(nil, seq, pairs)); err != nil {
		return err
	}
	m := Mark{Seq: seq, Pairs: make([]Checkpoint, len(pairs))}
	for i, p := range pairs {
		m.Pairs[i] = Checkpoint{Key: p.Key, Value: append([]byte(nil), p.Value...)}
	}
	s.noteMark(f, m)
	return nil
}

// noteMark merges m, found in or written to f, into f's and its stream's checkpoints.
func (s *Store) noteMark(f *File, m Mark) {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	st := s.streamLocked(f.stream)
	st.seq = max(st.seq, m.Seq)
	if f.marks == nil {
		f.marks = map[string]ckVal{}
	}
	if low, ok := st.files[f]; !ok || m.Seq < low {
		st.files[f] = m.Seq
	}
	for _, p := range m.Pairs {
		v := ckVal{seq: m.Seq, val: p.Value}
		mergeVal(st.state, p.Key, v)
		mergeVal(f.marks, p.Key, v)
	}
}

// mergeVal sets m[k] to v unless m holds a later value.
func mergeVal(m map[string]ckVal, k string, v ckVal) {
	if cur, ok := m[k]; !ok || v.seq > cur.seq {
		m[k] = v
	}
}

// Checkpoints returns stream's checkpoints: per key, the value of the highest seq found
// in its checkpoints file and in its chunks (Load), or written since (AppendCheckpoint).
// Deleted keys are left out. The map is the caller's.
func (s *Store) Checkpoints(stream string) map[string][]byte {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	out := map[string][]byte{}
	st := s.streams[streamDir(stream)]
	if st == nil {
		return out
	}
	for k, v := range st.state {
		if len(v.val) > 0 {
			out[k] = append([]byte(nil), v.val...)
		}
	}
	return out
}

// retire merges f's checkpoints into its stream's checkpoints file, before f is removed.
// A deleted key is dropped from the file once no other chunk on disk can hold an older
// value of it (their lowest seqs are all above the deletion's).
func (s *Store) retire(f *File) error {
	s.ckMu.Lock()
	st := s.streams[f.stream]
	if st == nil || f.marks == nil {
		s.ckMu.Unlock()
		return nil
	}
	s.ckMu.Unlock()

	st.wmu.Lock()
	defer st.wmu.Unlock()
	s.ckMu.Lock()
	if f.marks == nil { // retired meanwhile
		s.ckMu.Unlock()
		return nil
	}
	minOther := uint64(math.MaxUint64)
	for g, low := range st.files {
		if g != f {
			minOther = min(minOther, low)
		}
	}
	next := make(map[string]ckVal, len(st.durable)+len(f.marks))
	for k, v := range st.durable {
		next[k] = v
	}
	seq := st.durableSeq
	for k, v := range f.marks {
		mergeVal(next, k, v)
		seq = max(seq, v.seq)
	}
	s.ckMu.Unlock()
	for k, v := range next {
		if len(v.val) == 0 && v.seq < minOther {
			delete(next, k)
		}
	}
	path := filepath.Join(s.opts.Dir, f.stream, ckptFileName)
	s.fsyncs.Add(2)
	if err := statefile.Write(path, encodeCkptFile(seq, next), statefile.Full); err != nil {
		return fmt.Errorf("storage: checkpoints: %w", err)
	}
	s.ckMu.Lock()
	st.durable, st.durableSeq = next, seq
	delete(st.files, f)
	f.marks = nil
	s.ckMu.Unlock()
	return nil
}

// loadCheckpoints reads stream's checkpoints file, if any, into its checkpoints.
func (s *Store) loadCheckpoints(stream string) {
	path := filepath.Join(s.opts.Dir, stream, ckptFileName)
	b, err := statefile.Read(path)
	if err != nil || b == nil {
		if err != nil {
			s.log.Error("storage: cannot read checkpoints; inputs resume from their own db", "file", path, "err", err)
		}
		return
	}
	seq, vals, err := decodeCkptFile(b)
	if err != nil {
		s.log.Error("storage: checkpoints file damaged; set aside, inputs resume from their own db", "file", path, "err", err)
		_ = os.Rename(path, path+badSuffix)
		return
	}
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	st := s.streamLocked(stream)
	st.seq = max(st.seq, seq)
	st.durable, st.durableSeq = vals, seq
	for k, v := range vals {
		mergeVal(st.state, k, v)
	}
}

// appendTrailer appends a frame's checkpoint trailer (without its length).
func appendTrailer(dst []byte, seq uint64, pairs []Checkpoint) []byte {
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(len(pairs)))
	for _, p := range pairs {
		dst = binary.AppendUvarint(dst, uint64(len(p.Key)))
		dst = append(dst, p.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(p.Value)))
		dst = append(dst, p.Value...)
	}
	return dst
}

var errTrailer = errors.New("damaged checkpoint trailer")

// splitTrailer splits a flagged frame's payload into its entries and its checkpoint.
// The checkpoint's bytes are copies: p may be reused.
func splitTrailer(p []byte) (entries []byte, m Mark, err error) {
	if len(p) < 4 {
		return nil, m, errTrailer
	}
	tl := uint64(binary.BigEndian.Uint32(p[len(p)-4:]))
	if tl > uint64(len(p)-4) {
		return nil, m, errTrailer
	}
	end := len(p) - 4
	t := p[end-int(tl) : end]
	m, err = parseTrailer(t)
	if err != nil {
		return nil, Mark{}, err
	}
	return p[:end-int(tl)], m, nil
}

// parseTrailer reads a trailer that must fill t exactly.
func parseTrailer(t []byte) (Mark, error) {
	var m Mark
	r := ckReader{b: t}
	m.Seq = r.uvarint()
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b))/2 { // a pair takes at least two bytes
		return Mark{}, errTrailer
	}
	m.Pairs = make([]Checkpoint, 0, n)
	for i := uint64(0); i < n; i++ {
		k := r.bytes()
		v := r.bytes()
		if r.bad {
			return Mark{}, errTrailer
		}
		m.Pairs = append(m.Pairs, Checkpoint{Key: string(k), Value: append([]byte(nil), v...)})
	}
	if len(r.b) != 0 {
		return Mark{}, errTrailer
	}
	return m, nil
}

// ckReader reads uvarints and length-prefixed bytes; a read past the end sets bad.
type ckReader struct {
	b   []byte
	bad bool
}

func (r *ckReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *ckReader) bytes() []byte {
	l := r.uvarint()
	if r.bad || l > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:l]
	r.b = r.b[l:]
	return v
}

// encodeCkptFile is the checkpoints file's content (see the package documentation).
func encodeCkptFile(seq uint64, vals map[string]ckVal) []byte {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := append([]byte(ckptMagic), ckptVersion)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		v := vals[k]
		b = binary.AppendUvarint(b, v.seq)
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v.val)))
		b = append(b, v.val...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCkptFile reads a checkpoints file.
func decodeCkptFile(b []byte) (uint64, map[string]ckVal, error) {
	bad := errors.New("bad checkpoints file")
	if len(b) < len(ckptMagic)+1+4 || len(b) > ckptFileLimit || string(b[:len(ckptMagic)]) != ckptMagic || b[len(ckptMagic)] != ckptVersion {
		return 0, nil, bad
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return 0, nil, errors.New("checkpoints file: CRC mismatch")
	}
	r := ckReader{b: body[len(ckptMagic)+1:]}
	seq := r.uvarint()
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b))/3 {
		return 0, nil, bad
	}
	vals := make(map[string]ckVal, n)
	for i := uint64(0); i < n; i++ {
		s := r.uvarint()
		k := r.bytes()
		v := r.bytes()
		if r.bad {
			return 0, nil, bad
		}
		vals[string(k)] = ckVal{seq: s, val: append([]byte(nil), v...)}
	}
	if len(r.b) != 0 {
		return 0, nil, bad
	}
	return seq, vals, nil
}
