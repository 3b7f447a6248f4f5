// Package statefile keeps a small piece of an input's state (a journal cursor, a kernel
// log sequence number) in a file that a crash never leaves half written: the new content
// goes to a temporary file beside it, is fsynced per the db.sync mode, and is renamed
// over the old one, so a reader finds either the old state or the new, never a mix.
//
// It is for state of a few bytes to a few KiB written now and then (after a batch of
// records is buffered), not for tables that change record by record.
package statefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sync is how hard Write pushes the file to the disk (the db.sync key).
type Sync int

const (
	// Off renames without fsync: the state survives a crash of the agent, not of the
	// system (a power cut may leave the old state or an empty file).
	Off Sync = iota
	// Normal fsyncs the new file before it replaces the old one.
	Normal
	// Full also fsyncs the directory after the rename, so the rename itself is on disk.
	Full
)

// ParseSync reads a db.sync value: off, normal, full or extra (extra is full: SQLite's
// extra journal sync has no counterpart in a renamed file).
func ParseSync(v string) (Sync, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "0":
		return Off, nil
	case "normal", "1":
		return Normal, nil
	case "full", "2", "extra", "3":
		return Full, nil
	}
	return Off, fmt.Errorf("bad value %q: want off, normal, full or extra", v)
}

// Read returns the file's content; a file that does not exist is (nil, nil).
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Write replaces the file at path with data: a temporary file path+".tmp", fsynced per
// sync, renamed over path. On an error the old content is still in place.
func Write(path string, data []byte, sync Sync) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("statefile: %w", err)
	}
	_, err = f.Write(data)
	if err == nil && sync >= Normal {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("statefile: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("statefile: %w", err)
	}
	if sync >= Full {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				return fmt.Errorf("statefile: sync directory of %s: %w", path, err)
			}
		}
	}
	return nil
}
