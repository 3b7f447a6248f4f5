package tail

import (
	"testing"
)

// FuzzDB: the offsets file never panics the reader, and what it reads it writes back
// the same.
func FuzzDB(f *testing.F) {
	f.Add([]byte(dbHeader + "2049 131 12 \"/var/log/a.log\"\n"))
	f.Add([]byte("1 2 3 \"x\"\n# comment\n\n"))
	f.Add([]byte("1 2 -3 \"x\"\n"))
	f.Add([]byte("1 2 3 x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db := &offsetDB{entries: map[fileID]dbEntry{}}
		if err := db.parse(data); err != nil {
			return
		}
		db.path = t.TempDir() + "/db"
		db.changed = true
		if err := db.save(); err != nil {
			t.Fatal(err)
		}
		back, err := openDB(db.path, syncOff)
		if err != nil {
			t.Fatalf("reading back what was written: %v", err)
		}
		if len(back.entries) != len(db.entries) {
			t.Fatalf("%d entries written, %d read back", len(db.entries), len(back.entries))
		}
		for id, e := range db.entries {
			if back.entries[id] != e {
				t.Fatalf("entry %v: wrote %v, read %v", id, e, back.entries[id])
			}
		}
	})
}
