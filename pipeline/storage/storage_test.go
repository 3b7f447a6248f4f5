package storage

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

func entry(t testing.TB, n int) []byte {
	t.Helper()
	b, err := event.AppendEntry(nil, &event.Event{Time: time.Unix(1700000000, 0), Record: event.Map{{"n", int64(n)}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func open(t *testing.T, dir string) (*Store, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	s, err := Open(Options{Dir: dir, Checksum: true, Logger: slog.New(slog.NewTextHandler(lb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lb
}

func numbers(t *testing.T, data []byte) []int64 {
	t.Helper()
	var got []int64
	if err := event.Entries(data, func(ev event.Event) error {
		got = append(got, ev.Record.Value("n").(int64))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// writeChunk makes a chunk of records 0..n-1, one frame each, and seals it.
func writeChunk(t *testing.T, s *Store, n int) *File {
	t.Helper()
	f, err := s.Create("in.0", "app.log")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := f.Append(entry(t, i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Seal(true); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRoundTripAndAcks(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f := writeChunk(t, s, 10)
	if err := f.Ack("http.0"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, _ := open(t, dir)
	got, err := s2.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Records != 10 || got[0].File.Tag != "app.log" || !got[0].Acked["http.0"] || len(got[0].Acked) != 1 {
		t.Fatalf("loaded %+v", got)
	}
	data, n, dmg, err := got[0].File.ReadAll()
	if err != nil || n != 10 || !dmg.none() {
		t.Fatalf("ReadAll: n=%d dmg=%v err=%v", n, dmg, err)
	}
	if nums := numbers(t, data); len(nums) != 10 || nums[9] != 9 {
		t.Fatalf("records %v", nums)
	}
	if err := got[0].File.Remove(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "in.0"))
	if len(ents) != 0 {
		t.Fatalf("left after Remove: %v", ents)
	}
}

// TestTornTail: a power loss tears the last write, or leaves zeros where it should be;
// recovery keeps every whole record before it, cuts the rest off the file and says so.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		keep   int
	}{
		{"truncated mid-frame", func(b []byte) []byte { return b[:len(b)-5] }, 9},
		{"truncated mid-frame-header", func(b []byte) []byte { return b[:len(b)-len(entry(t, 9))-7] }, 9},
		{"zeros over the tail", func(b []byte) []byte {
			for i := len(b) - 8; i < len(b); i++ {
				b[i] = 0
			}
			return b
		}, 9},
		{"garbage appended", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff, 1, 2, 3) }, 10},
		{"zero-filled extension", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir)
			f := writeChunk(t, s, 10)
			b, err := os.ReadFile(f.Path())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.Path(), tc.damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s.Close()
			s2, lb := open(t, dir)
			got, err := s2.Load()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Records != tc.keep {
				t.Fatalf("loaded %d chunks, records %v; want %d", len(got), got, tc.keep)
			}
			if got[0].Damage.CutBytes == 0 || !strings.Contains(lb.String(), "bytes_cut=") {
				t.Fatalf("damage %+v not reported; log: %s", got[0].Damage, lb.String())
			}
			data, n, _, err := got[0].File.ReadAll()
			if err != nil || n != tc.keep {
				t.Fatalf("ReadAll n=%d err=%v", n, err)
			}
			nums := numbers(t, data)
			for i, v := range nums {
				if v != int64(i) {
					t.Fatalf("records %v", nums)
				}
			}
			// The file was cut back: appending frames after a restart is not needed, but a
			// second load finds no damage.
			s2.Close()
			s3, _ := open(t, dir)
			again, _ := s3.Load()
			if len(again) != 1 || !again[0].Damage.none() {
				t.Fatalf("second load %+v", again)
			}
		})
	}
}

func TestDamageInTheMiddleCostsOneFrame(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f := writeChunk(t, s, 10)
	b, _ := os.ReadFile(f.Path())
	// Flip a byte in the payload of frame 4 (not its length).
	hdr := fixedHeader + len("app.log") + 4
	frame := frameHeader + len(entry(t, 0))
	b[hdr+4*frame+frameHeader+3] ^= 0x55
	os.WriteFile(f.Path(), b, 0o640)
	s.Close()
	s2, _ := open(t, dir)
	got, _ := s2.Load()
	if len(got) != 1 || got[0].Records != 9 || got[0].Damage.SkippedFrames != 1 {
		t.Fatalf("loaded %+v", got[0])
	}
	data, _, _, _ := got[0].File.ReadAll()
	if nums := numbers(t, data); fmt.Sprint(nums) != "[0 1 2 3 5 6 7 8 9]" {
		t.Fatalf("records %v", nums)
	}
}

func TestBadHeaderSetAside(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f := writeChunk(t, s, 3)
	b, _ := os.ReadFile(f.Path())
	b[9] ^= 1
	os.WriteFile(f.Path(), b, 0o640)
	empty, _ := s.Create("in.0", "x")
	empty.Seal(false)
	os.Truncate(empty.Path(), 3)
	s.Close()
	s2, lb := open(t, dir)
	got, _ := s2.Load()
	if len(got) != 0 {
		t.Fatalf("loaded %v", got)
	}
	if _, err := os.Stat(f.Path() + badSuffix); err != nil || !strings.Contains(lb.String(), "header damaged") {
		t.Fatalf("not set aside: %v; log %s", err, lb.String())
	}
	if _, err := os.Stat(empty.Path()); err == nil {
		t.Fatal("empty chunk kept")
	}
}

func TestTornAckLineIgnored(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	f := writeChunk(t, s, 1)
	f.Ack("a")
	p := strings.TrimSuffix(f.Path(), chunkSuffix) + acksSuffix
	fd, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	fd.WriteString("b")
	fd.Close()
	got, _ := s.Load()
	if !got[0].Acked["a"] || got[0].Acked["b"] {
		t.Fatalf("acks %v", got[0].Acked)
	}
}

func TestGroupSync(t *testing.T) {
	s, _ := open(t, t.TempDir())
	f, _ := s.Create("in", "t")
	base := s.Fsyncs() // the new stream directory's entry
	f.Append(entry(t, 1), 1)
	off := f.Size()
	if err := f.SyncTo(off); err != nil {
		t.Fatal(err)
	}
	// The file and, once, its directory.
	if err := f.SyncTo(off); err != nil || s.Fsyncs()-base != 2 {
		t.Fatalf("fsyncs %d, want 2 (second SyncTo was covered)", s.Fsyncs()-base)
	}
	f.Seal(true)
	if s.Fsyncs()-base != 2 {
		t.Fatalf("seal of a synced file synced again")
	}
}

func BenchmarkAppend(b *testing.B) {
	s, _ := Open(Options{Dir: b.TempDir()})
	f, _ := s.Create("in", "t")
	e := entry(b, 1)
	b.SetBytes(int64(len(e)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := f.Append(e, 1); err != nil {
			b.Fatal(err)
		}
	}
	f.Seal(false)
}

func TestOneStorePerDirectory(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use by another agent") {
		t.Fatalf("second Open of a locked directory: %v", err)
	}
	s.Close()
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestCreateFailsWhenTheNewDirectoryCannotBeSynced: a new stream directory whose entry
// cannot be made durable (its parent's fsync fails) takes no chunk: a record accepted
// into it could vanish with the directory at a power loss.
func TestCreateFailsWhenTheNewDirectoryCannotBeSynced(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fsyncDir = func(*os.File) error { return fmt.Errorf("input/output error") }
	defer func() { fsyncDir = (*os.File).Sync }()
	if f, err := s.Create("in.0", "app"); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("Create with a failing directory fsync: file %v, err %v; want the fsync's error", f, err)
	}
	fsyncDir = (*os.File).Sync
	f, err := s.Create("in.0", "app")
	if err != nil {
		t.Fatalf("Create once the disk works again: %v", err)
	}
	f.Remove()
}
