package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to crash recovery as a chunk file: it must never panic,
// what it keeps must read back with the same record count, and a second load must find
// the file clean (recovery cut it to whole frames).
func FuzzLoad(f *testing.F) {
	valid := appendHeader(nil, "app.log", time.Unix(1700000000, 0))
	for i := 0; i < 3; i++ {
		dir := f.TempDir()
		st, _ := Open(Options{Dir: dir})
		defer st.Close()
		c, _ := st.Create("s", "app.log")
		for j := 0; j <= i; j++ {
			c.Append(entry(f, j), 1)
		}
		c.Seal(false)
		b, _ := os.ReadFile(c.Path())
		f.Add(b)
		f.Add(b[:len(b)-3])
	}
	{
		dir := f.TempDir()
		st, _ := Open(Options{Dir: dir})
		defer st.Close()
		c, _ := st.CreateCheckpointed("s", "app.log")
		c.AppendCheckpoint(entry(f, 0), 1, []Checkpoint{{Key: "1:2", Value: []byte("10")}})
		c.AppendCheckpoint(nil, 0, []Checkpoint{{Key: "1:2", Value: []byte("12")}})
		c.AppendCheckpoint(entry(f, 1), 1, []Checkpoint{{Key: "1:2"}})
		c.Seal(false)
		b, _ := os.ReadFile(c.Path())
		f.Add(b)
		f.Add(b[:len(b)-5])
	}
	f.Add(valid)
	f.Add([]byte("\x89FBC\x01\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		stream := filepath.Join(dir, "s")
		os.MkdirAll(stream, 0o750)
		path := filepath.Join(stream, "0000000000000000001-000001.flb")
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		st, err := Open(Options{Dir: dir, Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		got, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return
		}
		_, n, dmg, err := got[0].File.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if n != got[0].Records || !dmg.none() && dmg.CutBytes > 0 {
			t.Fatalf("read back %d records (damage %v), load counted %d", n, dmg, got[0].Records)
		}
		again, _ := st.Load()
		if len(again) != 1 || again[0].Damage.CutBytes != 0 || again[0].Records != got[0].Records {
			t.Fatalf("second load %+v after first %+v", again, got[0])
		}
	})
}
