package event

import "encoding/binary"

// SkipEntry checks that b starts with one well-formed entry and returns what follows it,
// without building maps. Inputs use it to count and validate pass-through bytes.
//
// Every record a forward input passes through is walked here, so the common entry is
// accepted by one tight loop over its bytes (skipEntryFast: no interfaces, no
// allocations, no recursion). Whatever that loop does not accept outright (a damaged
// entry, a time in a rarer form, a long array header) is judged again by skipEntrySlow,
// which decides it and words the error: the fast loop only ever says "whole" or "ask the
// slow one".
func SkipEntry(b []byte) ([]byte, error) {
	if n := skipEntryFast(b); n > 0 {
		return b[n:], nil
	}
	return skipEntrySlow(b)
}

// skipEntryFast returns the length of the entry b starts with, or 0 when it cannot tell
// the entry is well-formed (no entry is 0 bytes long). It takes the forms encoders write:
// a fixarray of 2 holding an EventTime (or a positive fixint or uint32 of seconds), or a
// fixarray of 2 [time, metadata] in its place, then the record map.
func skipEntryFast(b []byte) int {
	if len(b) < 2 || b[0] != 0x92 {
		return 0
	}
	var i int
	if b[1] == 0x92 { // [[time, metadata], record]
		if i = fastTime(b, 2); i == 0 || i >= len(b) || !isMap(b[i]) {
			return 0
		}
		if i = skipValue(b, i); i == 0 {
			return 0
		}
	} else if i = fastTime(b, 1); i == 0 {
		return 0
	}
	if i >= len(b) || !isMap(b[i]) {
		return 0
	}
	return skipValue(b, i)
}

// fastTime returns the end of the entry time at b[i] when it is one ReadTime accepts in
// its common forms, else 0: a fixext8 EventTime with valid nanoseconds, or seconds as a
// positive fixint, uint8, uint16 or uint32 (all within ReadTime's 0 to 2^32-1).
func fastTime(b []byte, i int) int {
	if i >= len(b) {
		return 0
	}
	switch c := b[i]; {
	case c <= 0x7f:
		return i + 1
	case c == 0xd7:
		if len(b)-i < 10 || b[i+1] != EventTimeExtType || binary.BigEndian.Uint32(b[i+6:]) > 999_999_999 {
			return 0
		}
		return i + 10
	case c == 0xcc, c == 0xcd, c == 0xce:
		if n := int(fixedLen[c]); len(b)-i >= n {
			return i + n
		}
	}
	return 0
}

func isMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }

// fixedLen is the whole length of a msgpack value from its first byte, for the values
// whose first byte tells (nil, booleans, integers, floats, fixstr, fixext); 0 for
// containers, str, bin and ext with a length field, and the unused 0xc1.
var fixedLen = func() (t [256]uint8) {
	for c := 0; c <= 0x7f; c++ { // positive fixint
		t[c] = 1
	}
	for c := 0xe0; c <= 0xff; c++ { // negative fixint
		t[c] = 1
	}
	for c := 0xa0; c <= 0xbf; c++ { // fixstr
		t[c] = uint8(1 + c&0x1f)
	}
	for c, n := range map[int]uint8{
		0xc0: 1, 0xc2: 1, 0xc3: 1, // nil, false, true
		0xca: 5, 0xcb: 9, // float32, float64
		0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, // uint8 to uint64
		0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9, // int8 to int64
		0xd4: 3, 0xd5: 4, 0xd6: 6, 0xd7: 10, 0xd8: 18, // fixext 1 to 16, with the type byte
	} {
		t[c] = n
	}
	return t
}()

// skipValue returns the end of the msgpack value at b[i], or 0 when the value is cut
// short, holds the unused byte 0xc1, or nests deeper than the slow walk allows: it is
// skipped from depth 1, and no value may sit deeper than maxDepth.
//
// Instead of recursing, it keeps the values still expected at the current level (left)
// and, for each open container around it, those its parent still expects (stack). Every
// step consumes at least one byte, so the loop is bounded by len(b) whatever the
// headers declare, and a container declaring more values than bytes remain is refused
// at once.
func skipValue(b []byte, i int) int {
	// Go zeroes a stack array on every call: a short one does for nearly every record,
	// and only a deeply nested one is walked again with room for maxDepth levels.
	var short [8]int
	if end := walkValue(b, i, short[:]); end >= 0 {
		return end
	}
	var deep [maxDepth]int
	return max(walkValue(b, i, deep[:]), 0)
}

// walkValue is skipValue with the stack it is given; it returns -1 when the value nests
// deeper than that stack holds.
func walkValue(b []byte, i int, stack []int) int {
	depth := 0 // open containers
	left := 1  // values still expected at this level
	for {
		if i >= len(b) {
			return 0
		}
		c := b[i]
		if n := fixedLen[c]; n != 0 {
			i += int(n)
		} else {
			var hdr int      // header bytes
			var size uint64  // payload bytes (str, bin, ext)
			var items uint64 // values a container holds (a map's keys and values)
			rest := len(b) - i
			switch {
			case c <= 0x8f: // fixmap
				hdr, items = 1, 2*uint64(c&0x0f)
			case c <= 0x9f: // fixarray
				hdr, items = 1, uint64(c&0x0f)
			case c == 0xc4 || c == 0xd9: // bin8, str8
				if rest < 2 {
					return 0
				}
				hdr, size = 2, uint64(b[i+1])
			case c == 0xc5 || c == 0xda: // bin16, str16
				if rest < 3 {
					return 0
				}
				hdr, size = 3, uint64(binary.BigEndian.Uint16(b[i+1:]))
			case c == 0xc6 || c == 0xdb: // bin32, str32
				if rest < 5 {
					return 0
				}
				hdr, size = 5, uint64(binary.BigEndian.Uint32(b[i+1:]))
			case c == 0xc7: // ext8: length, type, data
				if rest < 3 {
					return 0
				}
				hdr, size = 3, uint64(b[i+1])
			case c == 0xc8: // ext16
				if rest < 4 {
					return 0
				}
				hdr, size = 4, uint64(binary.BigEndian.Uint16(b[i+1:]))
			case c == 0xc9: // ext32
				if rest < 6 {
					return 0
				}
				hdr, size = 6, uint64(binary.BigEndian.Uint32(b[i+1:]))
			case c == 0xdc: // array16
				if rest < 3 {
					return 0
				}
				hdr, items = 3, uint64(binary.BigEndian.Uint16(b[i+1:]))
			case c == 0xdd: // array32
				if rest < 5 {
					return 0
				}
				hdr, items = 5, uint64(binary.BigEndian.Uint32(b[i+1:]))
			case c == 0xde: // map16
				if rest < 3 {
					return 0
				}
				hdr, items = 3, 2*uint64(binary.BigEndian.Uint16(b[i+1:]))
			case c == 0xdf: // map32
				if rest < 5 {
					return 0
				}
				hdr, items = 5, 2*uint64(binary.BigEndian.Uint32(b[i+1:]))
			default: // 0xc1
				return 0
			}
			// Compared as uint64 so a 32-bit length cannot wrap an int on 32-bit systems.
			if uint64(hdr)+size+items > uint64(rest) {
				return 0
			}
			i += hdr + int(size)
			if items > 0 {
				// The container's values sit one level down: depth+2 from the top
				// value's depth of 1.
				if depth+2 > maxDepth {
					return 0
				}
				if depth >= len(stack) {
					return -1
				}
				stack[depth] = left - 1 // this container counts as done at its level
				depth++
				left = int(items)
				continue
			}
		}
		// A value ended: close the containers it completes.
		left--
		for left == 0 {
			if depth == 0 {
				if i > len(b) {
					return 0
				}
				return i
			}
			depth--
			left = stack[depth]
		}
	}
}
