package event

import "fmt"

// Entries walks the entries of a chunk (concatenated msgpack entries). A damaged entry does
// not end the walk unless the damage makes the rest unreadable: an entry that is whole
// msgpack but not a valid [time, record] (a bad time, a record that is not a map) is
// skipped and the walk goes on; bytes that are not msgpack at all end it. fn sees each good
// event, and the returned error says what was cut and where (the first damage found).
// An error returned by fn ends the walk and is returned as is.
//
// The Event passed to fn is freshly decoded; fn may keep it.
func Entries(data []byte, fn func(ev Event) error) error {
	var damage error
	off := 0
	for off < len(data) {
		ev, rest, err := ReadEntry(data[off:])
		if err != nil {
			if damage == nil {
				damage = fmt.Errorf("event: chunk offset %d: %w", off, err)
			}
			r, serr := skip(data[off:], 0)
			if serr != nil {
				return damage
			}
			off = len(data) - len(r)
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
		off = len(data) - len(rest)
	}
	return damage
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
