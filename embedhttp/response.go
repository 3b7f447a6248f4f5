package embedhttp

import "strconv"

// Response collects a handler's answer: a status (200 unless set), header fields and
// a body. The server frames it (Date, Content-Length, Connection) after the handler
// returns, so nothing reaches the client before then. Its buffers belong to the
// connection and are reused for every request: writing a small response allocates
// nothing.
type Response struct {
	status  int
	hdr     []byte // "Name: value\r\n" lines
	body    []byte
	close   bool
	noBody  bool // HEAD: compute Content-Length, send no body
	written int  // body bytes sent, for ResponseDone
}

func (w *Response) reset() {
	w.status = 200
	w.hdr = w.hdr[:0]
	w.body = w.body[:0]
	w.close = false
	w.noBody = false
	w.written = 0
}

// SetStatus sets the status code, 200-999; anything else becomes 500 (interim 1xx
// responses are the server's business).
func (w *Response) SetStatus(code int) {
	if code < 200 || code > 999 {
		code = 500
	}
	w.status = code
}

// Status returns the status code set so far (200 by default).
func (w *Response) Status() int { return w.status }

// AddHeader appends a header field. Names or values holding CR, LF or NUL are dropped
// (header injection), as are the framing fields the server owns: Content-Length,
// Transfer-Encoding, Connection and Date.
func (w *Response) AddHeader(name, value string) {
	if !validHeaderName(name) || !validHeaderValue(value) {
		return
	}
	w.hdr = append(w.hdr, name...)
	w.hdr = append(w.hdr, ": "...)
	w.hdr = append(w.hdr, value...)
	w.hdr = append(w.hdr, "\r\n"...)
}

// AddHeaderBytes is AddHeader with a []byte value.
func (w *Response) AddHeaderBytes(name string, value []byte) {
	if !validHeaderName(name) || !validHeaderValue(value) {
		return
	}
	w.hdr = append(w.hdr, name...)
	w.hdr = append(w.hdr, ": "...)
	w.hdr = append(w.hdr, value...)
	w.hdr = append(w.hdr, "\r\n"...)
}

// AddHeaderInt appends a header field with an integer value, without allocating.
func (w *Response) AddHeaderInt(name string, v int64) {
	if !validHeaderName(name) {
		return
	}
	w.hdr = append(w.hdr, name...)
	w.hdr = append(w.hdr, ": "...)
	w.hdr = strconv.AppendInt(w.hdr, v, 10)
	w.hdr = append(w.hdr, "\r\n"...)
}

// SetContentType adds a Content-Type header.
func (w *Response) SetContentType(ct string) {
	w.AddHeader("Content-Type", ct)
}

// Write appends p to the body. It never fails.
func (w *Response) Write(p []byte) (int, error) {
	w.body = append(w.body, p...)
	return len(p), nil
}

// WriteString appends s to the body. It never fails.
func (w *Response) WriteString(s string) (int, error) {
	w.body = append(w.body, s...)
	return len(s), nil
}

// Body returns the body written so far (the buffer is reused; do not keep it).
func (w *Response) Body() []byte { return w.body }

// ResetBody discards the body written so far.
func (w *Response) ResetBody() { w.body = w.body[:0] }

// SetClose makes the server close the connection after this response.
func (w *Response) SetClose() { w.close = true }

// BodyBytes is the number of body bytes sent (valid in the ResponseDone hook).
func (w *Response) BodyBytes() int { return w.written }

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	switch len(name) {
	case 4:
		return !asciiEqualFoldS(name, "date")
	case 10:
		return !asciiEqualFoldS(name, "connection")
	case 14:
		return !asciiEqualFoldS(name, "content-length")
	case 17:
		return !asciiEqualFoldS(name, "transfer-encoding")
	}
	return true
}

func validHeaderValue[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func asciiEqualFoldS(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y || (a[i] != b[i] && (x < 'a' || x > 'z')) {
			return false
		}
	}
	return true
}
