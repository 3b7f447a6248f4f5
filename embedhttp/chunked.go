package embedhttp

import "bytes"

// chunkedDecoder decodes a chunked body in place: decoded bytes are moved down over
// the framing inside the same buffer (the write offset never passes the read offset),
// so a chunked body costs no second buffer. It is incremental: feed it whatever has
// arrived and call again with more.
type chunkedDecoder struct {
	state   int
	left    int64 // bytes left in the current chunk
	r, w    int   // read and write offsets into the buffer
	start   int   // where the body starts (decoded bytes are buf[start:w])
	limit   int64 // maximum decoded size
	trailer int   // trailer bytes seen
	maxLine int   // maximum chunk-size line / trailer section length
}

const (
	chunkSize = iota
	chunkData
	chunkDataCRLF
	chunkTrailer
	chunkDone
)

// chunked errors carry the HTTP status to answer with.
type statusError int

func (e statusError) Error() string { return statusText(int(e)) }

const (
	errChunkBad      = statusError(400)
	errChunkTooLarge = statusError(413)
)

func (d *chunkedDecoder) init(start int, limit int64, maxLine int) {
	*d = chunkedDecoder{r: start, w: start, start: start, limit: limit, maxLine: maxLine}
}

// feed decodes buf[d.r:end]. It returns done when the terminating chunk and trailers
// have been consumed (d.r is then the first byte after the body), or an error.
func (d *chunkedDecoder) feed(buf []byte, end int) (done bool, err error) {
	for {
		switch d.state {
		case chunkSize:
			i := bytes.IndexByte(buf[d.r:end], '\n')
			if i < 0 {
				if end-d.r > d.maxLine {
					return false, errChunkBad
				}
				return false, nil
			}
			line := buf[d.r : d.r+i]
			if len(line) == 0 || line[len(line)-1] != '\r' || len(line) > d.maxLine {
				return false, errChunkBad
			}
			line = line[:len(line)-1]
			size, ok := parseChunkSizeLine(line)
			if !ok {
				return false, errChunkBad
			}
			d.r += i + 1
			if size == 0 {
				d.state = chunkTrailer
				continue
			}
			if size > d.limit-int64(d.w-d.start) {
				return false, errChunkTooLarge
			}
			d.left = size
			d.state = chunkData
		case chunkData:
			n := end - d.r
			if n == 0 {
				return false, nil
			}
			if int64(n) > d.left {
				n = int(d.left)
			}
			if d.w != d.r {
				copy(buf[d.w:], buf[d.r:d.r+n])
			}
			d.w += n
			d.r += n
			d.left -= int64(n)
			if d.left == 0 {
				d.state = chunkDataCRLF
			}
		case chunkDataCRLF:
			if end-d.r < 2 {
				if end-d.r == 1 && buf[d.r] != '\r' {
					return false, errChunkBad
				}
				return false, nil
			}
			if buf[d.r] != '\r' || buf[d.r+1] != '\n' {
				return false, errChunkBad
			}
			d.r += 2
			d.state = chunkSize
		case chunkTrailer:
			i := bytes.IndexByte(buf[d.r:end], '\n')
			if i < 0 {
				if d.trailer+end-d.r > d.maxLine {
					return false, errChunkBad
				}
				return false, nil
			}
			line := buf[d.r : d.r+i]
			if len(line) == 0 || line[len(line)-1] != '\r' {
				return false, errChunkBad
			}
			line = line[:len(line)-1]
			d.trailer += i + 1
			if d.trailer > d.maxLine {
				return false, errChunkBad
			}
			d.r += i + 1
			if len(line) == 0 {
				d.state = chunkDone
				return true, nil
			}
			// A trailer field: validate its shape, then drop it (we never merge trailers).
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return false, errChunkBad
			}
			for _, ch := range line[:colon] {
				if !isTokenChar(ch) {
					return false, errChunkBad
				}
			}
			for _, ch := range line[colon+1:] {
				if (ch < 0x20 && ch != '\t') || ch == 0x7f || ch == '\r' {
					return false, errChunkBad
				}
			}
		case chunkDone:
			return true, nil
		}
	}
}

// compact moves the not-yet-decoded bytes down to the write offset to make room at
// the end of the buffer; it returns the new end.
func (d *chunkedDecoder) compact(buf []byte, end int) int {
	if d.w == d.r {
		return end
	}
	n := copy(buf[d.w:], buf[d.r:end])
	d.r = d.w
	return d.w + n
}

// parseChunkSizeLine parses "1*HEXDIG [ ; ext ]". Sizes over 15 hex digits, signs,
// whitespace, "0x" prefixes and control characters are refused.
func parseChunkSizeLine(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	if len(rest) == 0 {
		return n, true
	}
	// No whitespace before ';' (RFC 9112 allows BWS, Go's reader does not: refusing
	// keeps us from reading a body differently than a Go proxy in front of us).
	if rest[0] != ';' {
		return 0, false
	}
	for _, c := range rest {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return 0, false
		}
	}
	return n, true
}
