package tail

import (
	"github.com/fluentbit-go/fluentbit-go/event"
	"testing"
	"time"
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

// FuzzContainerLines: the docker and cri line readers never panic, and a line they read
// has a string log.
func FuzzContainerLines(f *testing.F) {
	f.Add([]byte("2019-05-07T18:57:50.904275087+00:00 stdout P part1 "))
	f.Add([]byte("2019-05-07T18:57:50Z stderr F"))
	f.Add([]byte(`{"log":"a1 ","stream":"stdout","time":"2019-05-07T18:57:50.904275087Z"}`))
	f.Add([]byte(`{"log":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, parse := range []func([]byte) (event.Map, time.Time, bool, bool){parseCRI, parseDocker} {
			rec, _, _, ok := parse(line)
			if !ok {
				continue
			}
			if _, isStr := rec.Value("log").(string); !isStr {
				t.Fatalf("record %v has no string log", rec)
			}
		}
	})
}
