package tail

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// db.sync modes.
const (
	syncOff    = iota // rename only: survives a crash of the agent, not of the system
	syncNormal        // the new file is fsynced before it replaces the old one
	syncFull          // and the directory after, so the rename itself is on disk
)

const dbHeader = "# fluentbit-go tail offsets v1: device inode offset path\n"

// offsetDB is the db key's file: one line per followed file, device, inode, offset and
// path (quoted). It is rewritten whole, into a temporary file renamed over the old one,
// so a crash at any moment leaves either the old or the new table, never half of one.
type offsetDB struct {
	path    string
	sync    int
	entries map[fileID]dbEntry
	changed bool
	buf     bytes.Buffer
}

type dbEntry struct {
	path   string
	offset int64
}

// openDB reads the table at path; a missing file is an empty table. Lines it cannot
// read (a hand edit) are an error naming the line.
func openDB(path string, sync int) (*offsetDB, error) {
	db := &offsetDB{path: path, sync: sync, entries: map[fileID]dbEntry{}}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return db, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := db.parse(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// parse reads the table's lines into db.entries.
func (db *offsetDB) parse(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			return fmt.Errorf("line %d: want device inode offset path", n)
		}
		dev, err1 := strconv.ParseUint(f[0], 10, 64)
		ino, err2 := strconv.ParseUint(f[1], 10, 64)
		off, err3 := strconv.ParseInt(f[2], 10, 64)
		p, err4 := strconv.Unquote(f[3])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || off < 0 {
			return fmt.Errorf("line %d: want device inode offset path", n)
		}
		db.entries[fileID{dev, ino}] = dbEntry{path: p, offset: off}
	}
	return sc.Err()
}

func (db *offsetDB) get(id fileID) (int64, bool) {
	e, ok := db.entries[id]
	return e.offset, ok
}

func (db *offsetDB) set(id fileID, path string, off int64) {
	if e, ok := db.entries[id]; ok && e.path == path && e.offset == off {
		return
	}
	db.entries[id] = dbEntry{path: path, offset: off}
	db.changed = true
}

func (db *offsetDB) remove(id fileID) {
	if _, ok := db.entries[id]; ok {
		delete(db.entries, id)
		db.changed = true
	}
}

// save writes the table if it changed: a temporary file, fsynced per db.sync, renamed
// over the old one.
func (db *offsetDB) save() error {
	if !db.changed {
		return nil
	}
	if err := db.prepare(); err != nil {
		return err
	}
	return db.commit()
}

// prepare writes the table to the temporary file, fsynced per db.sync, without putting
// it in place: commit does that. Split so that the slow part (the fsync) happens before
// the records the offsets cover are handed to the engine, and only a rename after: a
// crash between the two then re-reads at most what one rename's time lets through.
func (db *offsetDB) prepare() error {
	ids := make([]fileID, 0, len(db.entries))
	for id := range db.entries {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].dev != ids[j].dev {
			return ids[i].dev < ids[j].dev
		}
		return ids[i].ino < ids[j].ino
	})
	b := &db.buf
	b.Reset()
	b.WriteString(dbHeader)
	for _, id := range ids {
		e := db.entries[id]
		fmt.Fprintf(b, "%d %d %d %s\n", id.dev, id.ino, e.offset, strconv.Quote(e.path))
	}
	tmp := db.path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	_, err = fh.Write(b.Bytes())
	if err == nil && db.sync >= syncNormal {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return nil
}

// discard forgets a prepared table (the engine refused the records it covers).
func (db *offsetDB) discard() { os.Remove(db.path + ".tmp") }

// commit puts the prepared table in place.
func (db *offsetDB) commit() error {
	tmp := db.path + ".tmp"
	if err := os.Rename(tmp, db.path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if db.sync >= syncFull {
		if d, err := os.Open(filepath.Dir(db.path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	db.changed = false
	return nil
}
