package event

import "fmt"

// Entries walks the entries of a chunk (concatenated msgpack entries). A damaged entry does
// not end the walk unless the damage makes the rest unreadable: fn sees each good event, and
// the returned error says what was cut and where.
//
// The Event passed to fn is freshly decoded; fn may keep it.
func Entries(data []byte, fn func(ev Event) error) error {
	off := 0
	for off < len(data) {
		ev, rest, err := ReadEntry(data[off:])
		if err != nil {
			return fmt.Errorf("event: chunk offset %d: %w", off, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
		off = len(data) - len(rest)
	}
	return nil
}

// Count returns how many well-formed entries data holds and the byte length they cover.
// It stops at the first malformed entry and returns its error.
func Count(data []byte) (n int, valid int, err error) {
	rest := data
	for len(rest) > 0 {
		r, err := SkipEntry(rest)
		if err != nil {
			return n, len(data) - len(rest), fmt.Errorf("event: entry %d at offset %d: %w", n, len(data)-len(rest), err)
		}
		rest = r
		n++
	}
	return n, len(data), nil
}
