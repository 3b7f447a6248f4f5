package serial

import "bytes"

// splitter cuts a byte stream into lines at a separator, joining lines that arrive over
// several reads. It holds at most max+len(sep)-1 bytes plus one read: a line longer
// than max is dropped (reported through tooLong) along with the rest of it up to the next
// separator, so a device that never sends the separator cannot make it grow.
type splitter struct {
	sep      []byte
	max      int
	buf      []byte
	skipping bool // dropping the rest of an over-long line
	scanned  int  // buf[:scanned] holds no separator start
}

// feed appends data and calls line for each complete line (without the separator; the
// slice is valid until line returns) and tooLong for each line over max, with the bytes
// seen of it so far.
func (s *splitter) feed(data []byte, line func([]byte), tooLong func(n int)) {
	s.buf = append(s.buf, data...)
	start := 0
	for {
		i := bytes.Index(s.buf[start+s.scanned:], s.sep)
		if i < 0 {
			break
		}
		end := start + s.scanned + i
		l := s.buf[start:end]
		switch {
		case s.skipping:
			s.skipping = false
		case len(l) > s.max:
			tooLong(len(l))
		default:
			line(l)
		}
		start = end + len(s.sep)
		s.scanned = 0
	}
	rest := s.buf[start:]
	// The last len(sep)-1 bytes may be the start of a separator, not of the line.
	if len(rest)-(len(s.sep)-1) > s.max {
		if !s.skipping {
			tooLong(len(rest))
			s.skipping = true
		}
		// Keep only what could be the start of a separator.
		rest = rest[len(rest)-min(len(rest), len(s.sep)-1):]
	}
	n := copy(s.buf, rest)
	s.buf = s.buf[:n]
	s.scanned = max(0, n-(len(s.sep)-1))
	if cap(s.buf) > 4*(s.max+len(s.sep)) && n < s.max {
		// A burst grew the buffer far beyond a line: give the memory back.
		s.buf = append([]byte(nil), s.buf...)
	}
}

// pending is how many bytes of an unfinished line are held.
func (s *splitter) pending() int { return len(s.buf) }
