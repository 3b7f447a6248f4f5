package embedhttp

import "bytes"

// parseHead parses a request line and header block from b into r. It returns the
// number of bytes of the head (through the empty line) and code 0 on success,
// code -1 when b holds no complete head yet, or an HTTP status code (400, 417, 431,
// 415, 501, 505) for a request the server must refuse. It never reads beyond b and
// never panics on any input (fuzzed).
func parseHead(b []byte, r *Request, maxHeaders int) (n int, code int) {
	r.reset()
	pos := 0
	// RFC 9112 2.2: ignore empty lines before the request line.
	for pos+1 < len(b) && b[pos] == '\r' && b[pos+1] == '\n' {
		pos += 2
	}
	if pos < len(b) && b[pos] == '\n' {
		return 0, 400
	}
	line, next, c := nextLine(b, pos)
	if c != 0 {
		return 0, c
	}
	if code := parseRequestLine(line, r); code != 0 {
		return 0, code
	}
	pos = next
	for {
		line, next, c = nextLine(b, pos)
		if c != 0 {
			return 0, c
		}
		pos = next
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, 400 // obs-fold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, 400
		}
		name := line[:colon]
		for _, ch := range name {
			if !isTokenChar(ch) {
				return 0, 400 // includes whitespace before the colon
			}
		}
		value := trimOWS(line[colon+1:])
		for _, ch := range value {
			if (ch < 0x20 && ch != '\t') || ch == 0x7f {
				return 0, 400
			}
		}
		if len(r.headers) >= maxHeaders {
			return 0, 431
		}
		r.headers = append(r.headers, headerField{name: name, value: value})
		if code := r.noteHeader(name, value); code != 0 {
			return 0, code
		}
	}
	if code := r.checkFraming(); code != 0 {
		return 0, code
	}
	return pos, 0
}

// nextLine returns the line starting at pos without its CRLF and the position after it.
// A line ending in a bare LF, or holding a bare CR, is a 400; no LF yet is -1.
func nextLine(b []byte, pos int) (line []byte, next int, code int) {
	if pos >= len(b) {
		return nil, pos, -1
	}
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		if bytes.IndexByte(b[pos:], '\r') >= 0 && b[len(b)-1] != '\r' {
			return nil, pos, 400 // CR not followed by LF
		}
		return nil, pos, -1
	}
	line = b[pos : pos+i]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return nil, pos, 400
	}
	line = line[:len(line)-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, pos, 400
	}
	return line, pos + i + 1, 0
}

func parseRequestLine(line []byte, r *Request) int {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return 400
	}
	method := line[:sp]
	for _, ch := range method {
		if !isTokenChar(ch) {
			return 400
		}
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return 400 // HTTP/0.9 style or empty target
	}
	target := rest[:sp]
	version := rest[sp+1:]
	for _, ch := range target {
		if ch <= ' ' || ch == 0x7f || ch == '#' {
			return 400
		}
	}
	if len(version) != 8 || string(version[:5]) != "HTTP/" || !isDigit(version[5]) || version[6] != '.' || !isDigit(version[7]) {
		return 400
	}
	if version[5] != '1' || (version[7] != '0' && version[7] != '1') {
		return 505
	}
	r.method = method
	r.target = target
	r.minor = int(version[7] - '0')
	if r.minor == 0 {
		r.closeReq = true
	}
	path := target
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return 400
		}
	case hasPrefixFold(target, "http://") || hasPrefixFold(target, "https://"):
		authStart := bytes.Index(target, []byte("//")) + 2
		slash := bytes.IndexByte(target[authStart:], '/')
		q := bytes.IndexByte(target[authStart:], '?')
		switch {
		case slash >= 0 && (q < 0 || slash < q):
			path = target[authStart+slash:]
		case q >= 0:
			path = target[authStart+q:] // "/"-less path with query: path is empty
		default:
			path = target[len(target):]
		}
	default:
		return 400 // authority-form (CONNECT) and anything else
	}
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		r.query = path[q+1:]
		path = path[:q]
	}
	if len(path) == 0 {
		path = slashPath
	}
	r.path = path
	return 0
}

var slashPath = []byte("/")

// noteHeader records the headers that decide framing and connection handling.
func (r *Request) noteHeader(name, value []byte) int {
	switch len(name) {
	case 4:
		if asciiEqualFold(name, "host") {
			r.hostCount++
		}
	case 6:
		if asciiEqualFold(name, "expect") && r.minor == 1 { // HTTP/1.0 has no Expect
			if !asciiEqualFold(value, "100-continue") {
				return 417
			}
			r.expectContinue = true
		}
	case 10:
		if asciiEqualFold(name, "connection") {
			forEachToken(value, func(tok []byte) {
				switch {
				case asciiEqualFold(tok, "close"):
					r.closeReq = true
				case asciiEqualFold(tok, "keep-alive"):
					r.keepAlive10 = true
				}
			})
		}
	case 13:
		if asciiEqualFold(name, "authorization") {
			r.auth = value
		}
	case 14:
		if asciiEqualFold(name, "content-length") {
			if len(value) == 0 || len(value) > 18 {
				return 400
			}
			var n int64
			for _, ch := range value {
				if !isDigit(ch) {
					return 400 // also rejects "5, 5" lists and signs
				}
				n = n*10 + int64(ch-'0')
			}
			if r.contentLength >= 0 && r.contentLength != n {
				return 400 // duplicate, differing Content-Length: smuggling
			}
			r.contentLength = n
		}
	case 16:
		if asciiEqualFold(name, "content-encoding") {
			switch {
			case asciiEqualFold(value, "gzip"), asciiEqualFold(value, "x-gzip"):
				if r.gzip {
					return 415 // gzip twice
				}
				r.gzip = true
			case asciiEqualFold(value, "identity"):
			default:
				return 415
			}
		}
	case 17:
		if asciiEqualFold(name, "transfer-encoding") {
			code := 0
			n := 0
			forEachToken(value, func(tok []byte) {
				n++
				switch {
				case asciiEqualFold(tok, "chunked"):
					if r.chunked {
						code = 400 // chunked twice
					}
					r.chunked = true
				default:
					if code == 0 {
						code = 501
					}
				}
			})
			if n == 0 {
				return 400
			}
			if code != 0 {
				return code
			}
			// chunked must be the last coding: anything after it is a 501 above.
		}
	}
	return 0
}

// checkFraming applies the request-smuggling rules once all headers are known.
func (r *Request) checkFraming() int {
	if r.chunked && r.contentLength >= 0 {
		return 400 // RFC 9112 6.1: CL with TE is an attack sign; refuse and close
	}
	if r.chunked && r.minor == 0 {
		return 400
	}
	if r.minor == 1 && r.hostCount != 1 {
		return 400
	}
	if r.hostCount > 1 {
		return 400
	}
	if r.minor == 0 && r.keepAlive10 && !r.hasCloseToken() {
		r.closeReq = false
	}
	return 0
}

func (r *Request) hasCloseToken() bool {
	v := r.Header("Connection")
	found := false
	forEachToken(v, func(tok []byte) {
		if asciiEqualFold(tok, "close") {
			found = true
		}
	})
	return found
}

// forEachToken calls f for each non-empty comma-separated token of v, trimmed.
func forEachToken(v []byte, f func(tok []byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var tok []byte
		if i < 0 {
			tok, v = v, nil
		} else {
			tok, v = v[:i], v[i+1:]
		}
		tok = trimOWS(tok)
		if len(tok) > 0 {
			f(tok)
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && asciiEqualFold(b[:len(s)], s)
}

// tokenTable marks RFC 9110 tchar bytes.
var tokenTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenTable[c] }
