package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func cp(kv ...string) []Checkpoint {
	var out []Checkpoint
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Checkpoint{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

func wantCkpts(t *testing.T, s *Store, stream string, kv ...string) {
	t.Helper()
	got := s.Checkpoints(stream)
	want := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		want[kv[i]] = kv[i+1]
	}
	if len(got) != len(want) {
		t.Fatalf("checkpoints %q, want %q", got, want)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Fatalf("checkpoints %q, want %q", got, want)
		}
	}
}

// Records and checkpoints written together read back apart: ReadAll returns the records
// only, Load the checkpoints in frame order, and a chunk without any stays version 1.
func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f, err := s.CreateCheckpointed("tail.0", "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AppendCheckpoint(append(entry(t, 0), entry(t, 1)...), 2, cp("1:2", "100")); err != nil {
		t.Fatal(err)
	}
	if err := f.AppendCheckpoint(nil, 0, cp("1:2", "150", "1:3", "7")); err != nil { // all filtered out
		t.Fatal(err)
	}
	if err := f.Append(entry(t, 2), 1); err != nil {
		t.Fatal(err)
	}
	if err := f.AppendCheckpoint(entry(t, 3), 1, cp("1:3", "")); err != nil { // deleted
		t.Fatal(err)
	}
	f.Seal(true)
	plain := writeChunk(t, s, 1)
	data, n, dmg, err := f.ReadAll()
	if err != nil || n != 4 || !dmg.none() {
		t.Fatalf("ReadAll n=%d dmg=%v err=%v", n, dmg, err)
	}
	if nums := numbers(t, data); len(nums) != 4 || nums[3] != 3 {
		t.Fatalf("records %v", nums)
	}
	for _, c := range []struct {
		f *File
		v byte
	}{{f, versionCkpt}, {plain, version}} {
		b, _ := os.ReadFile(c.f.Path())
		if b[4] != c.v {
			t.Errorf("%s: header version %d, want %d", c.f.Path(), b[4], c.v)
		}
	}
	wantCkpts(t, s, "tail.0", "1:2", "150")
	s.Close()

	s2, _ := open(t, dir)
	got, err := s2.Load()
	if err != nil || len(got) != 2 {
		t.Fatalf("Load: %v %+v", err, got)
	}
	l := got[0]
	if l.Stream != "tail.0" {
		l = got[1]
	}
	if l.Records != 4 || len(l.Checkpoints) != 3 || l.Checkpoints[0].Seq >= l.Checkpoints[1].Seq ||
		string(l.Checkpoints[1].Pairs[1].Value) != "7" || len(l.Checkpoints[2].Pairs[0].Value) != 0 {
		t.Fatalf("loaded %+v", l)
	}
	wantCkpts(t, s2, "tail.0", "1:2", "150")
	// A new mark after a restart orders after the old ones.
	f2, _ := s2.CreateCheckpointed("tail.0", "app")
	if err := f2.AppendCheckpoint(entry(t, 4), 1, cp("1:2", "200")); err != nil {
		t.Fatal(err)
	}
	wantCkpts(t, s2, "tail.0", "1:2", "200")
	if err := plain.AppendCheckpoint(nil, 0, cp("a", "b")); err == nil {
		t.Error("a checkpoint went into a version 1 chunk")
	}
}

// A frame torn at the end (a crash in the middle of the write) loses its records and its
// checkpoint together: the input resumes from the previous checkpoint and reads exactly
// the lost records again.
func TestCheckpointTornFrameLosesBoth(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f, _ := s.CreateCheckpointed("tail.0", "app")
	f.AppendCheckpoint(entry(t, 0), 1, cp("k", "10"))
	f.AppendCheckpoint(entry(t, 1), 1, cp("k", "20"))
	f.Seal(true)
	s.Close()
	b, _ := os.ReadFile(f.Path())
	for cut := 1; cut < 12; cut += 5 {
		os.WriteFile(f.Path(), b[:len(b)-cut], 0o640)
		s2, _ := open(t, dir)
		got, _ := s2.Load()
		if len(got) != 1 || got[0].Records != 1 || got[0].Damage.CutBytes == 0 {
			t.Fatalf("cut %d: loaded %+v", cut, got)
		}
		wantCkpts(t, s2, "tail.0", "k", "10")
		s2.Close()
	}
	// A flipped bit in the trailer fails the frame's CRC: both go too.
	b2 := append([]byte(nil), b...)
	b2[len(b2)-6] ^= 1
	os.WriteFile(f.Path(), b2, 0o640)
	s3, _ := open(t, dir)
	got, _ := s3.Load()
	if len(got) != 1 || got[0].Records != 1 {
		t.Fatalf("loaded %+v", got)
	}
	wantCkpts(t, s3, "tail.0", "k", "10")
}

// Marks of several chunks merge by seq whatever order the chunks are removed in, and
// survive the chunks' removal in the checkpoints file; a deletion is not undone by an
// older value in a chunk still on disk.
func TestCheckpointsSurviveRemoval(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	a, _ := s.CreateCheckpointed("in", "a")
	b, _ := s.CreateCheckpointed("in", "b")
	a.AppendCheckpoint(entry(t, 0), 1, cp("x", "1", "y", "1"))
	b.AppendCheckpoint(entry(t, 1), 1, cp("x", "2"))
	a.AppendCheckpoint(entry(t, 2), 1, cp("y", "3", "z", "3"))
	b.AppendCheckpoint(entry(t, 3), 1, cp("z", ""))
	a.Seal(true)
	b.Seal(true)
	wantCkpts(t, s, "in", "x", "2", "y", "3")
	if err := b.Remove(); err != nil { // the later one first
		t.Fatal(err)
	}
	s.Close()
	s2, _ := open(t, dir)
	got, _ := s2.Load()
	if len(got) != 1 {
		t.Fatalf("loaded %+v", got)
	}
	wantCkpts(t, s2, "in", "x", "2", "y", "3")
	if err := got[0].File.Remove(); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	s3, _ := open(t, dir)
	if got, _ := s3.Load(); len(got) != 0 {
		t.Fatalf("loaded %+v", got)
	}
	wantCkpts(t, s3, "in", "x", "2", "y", "3")
	// z's deletion was dropped from the file once no chunk could hold an older z.
	_, vals, err := decodeCkptFile(mustRead(t, filepath.Join(dir, "in", ckptFileName)))
	if err != nil || len(vals) != 2 {
		t.Fatalf("checkpoints file %v %v", vals, err)
	}
	// A chunk that holds only checkpoints (every record filtered out) is removed at
	// load, its checkpoints kept.
	c, _ := s3.CreateCheckpointed("in", "a")
	c.AppendCheckpoint(nil, 0, cp("x", "9"))
	c.Seal(true)
	s3.Close()
	s4, _ := open(t, dir)
	if got, _ := s4.Load(); len(got) != 0 {
		t.Fatalf("loaded %+v", got)
	}
	wantCkpts(t, s4, "in", "x", "9", "y", "3")
	if _, err := os.Stat(c.Path()); !os.IsNotExist(err) {
		t.Fatalf("checkpoint-only chunk still there: %v", err)
	}
}

// A damaged checkpoints file is set aside, not trusted.
func TestCheckpointsFileDamaged(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f, _ := s.CreateCheckpointed("in", "a")
	f.AppendCheckpoint(entry(t, 0), 1, cp("x", "1"))
	f.Seal(true)
	f.Remove()
	s.Close()
	p := filepath.Join(dir, "in", ckptFileName)
	b := mustRead(t, p)
	b[len(b)-5] ^= 0xff
	os.WriteFile(p, b, 0o640)
	s2, lb := open(t, dir)
	s2.Load()
	wantCkpts(t, s2, "in")
	if _, err := os.Stat(p + badSuffix); err != nil || !bytes.Contains([]byte(lb.String()), []byte("checkpoints file damaged")) {
		t.Fatalf("not set aside: %v\n%s", err, lb.String())
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzTrailer: the trailer parser never panics, and what it accepts encodes back to the
// same bytes.
func FuzzTrailer(f *testing.F) {
	f.Add(appendTrailer(nil, 1, cp("8:1234", "4096 \"/var/log/app.log\"")))
	f.Add(appendTrailer(nil, 1<<40, cp("cursor", "s=abc;i=1f", "gone", "")))
	f.Add(appendTrailer(nil, 0, nil))
	f.Add([]byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseTrailer(data)
		if err != nil {
			return
		}
		if again := appendTrailer(nil, m.Seq, m.Pairs); !bytes.Equal(again, data) {
			// Uvarints have one shortest form; a longer one may parse too.
			if m2, err := parseTrailer(again); err != nil || m2.Seq != m.Seq || len(m2.Pairs) != len(m.Pairs) {
				t.Fatalf("re-encoded %x parses as %+v (%v), was %+v", again, m2, err, m)
			}
		}
		p := append(append([]byte("entries"), data...), 0, 0, 0, byte(len(data)))
		if len(data) < 256 {
			e, m3, err := splitTrailer(p)
			if err != nil || string(e) != "entries" || m3.Seq != m.Seq {
				t.Fatalf("splitTrailer: %q %+v %v", e, m3, err)
			}
		}
	})
}

// FuzzCheckpointsFile: the checkpoints file's reader never panics on damage.
func FuzzCheckpointsFile(f *testing.F) {
	f.Add(encodeCkptFile(3, map[string]ckVal{"a": {1, []byte("x")}, "b": {3, nil}}))
	f.Add(encodeCkptFile(0, nil))
	f.Add([]byte(ckptMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, vals, err := decodeCkptFile(data)
		if err != nil {
			return
		}
		if _, again, err := decodeCkptFile(encodeCkptFile(seq, vals)); err != nil || len(again) != len(vals) {
			t.Fatalf("round trip: %v %v", again, err)
		}
	})
}
