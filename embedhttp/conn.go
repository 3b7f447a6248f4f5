package embedhttp

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const (
	initialBufSize = 4 << 10
	keepBufMax     = 64 << 10 // buffers grown past this are dropped after the request
	flushThreshold = 32 << 10 // queued pipelined responses are written past this
	lingerBytes    = 256 << 10
	lingerTime     = 500 * time.Millisecond
)

// conn is one client connection. It owns one input buffer for its whole life (grown
// only for a request that needs more, shrunk back after), one output buffer where
// responses queue while pipelined requests are still buffered, and the Request and
// Response handed to the handler: a steady keep-alive stream allocates nothing.
type conn struct {
	srv      *Server
	raw      net.Conn // the TCP conn (deadlines from Shutdown)
	nc       net.Conn // raw, or the TLS conn over it
	remote   netip.AddrPort
	buf      []byte // len(buf) is the capacity in use; data is buf[pos:end]
	pos, end int
	out      []byte
	req      Request
	resp     Response
	chunk    chunkedDecoder
	zr       *gzip.Reader
	zsrc     bytes.Reader
	zbuf     []byte
	authBuf  [512]byte
	requests int
	charged  int // bytes booked against Server.MaxBufferBytes
	zBooked  int // the part of charged that is zbuf

	readDL   time.Time // deadlines as last set, to skip setting the same again
	writeDL  time.Time
	reqDLSet bool // this request's ReadTimeout deadline is set

	idle       atomic.Bool // waiting for the next request (Shutdown may close it)
	fresh      atomic.Bool // idle before its first request (Shutdown gives it a moment)
	forceClose bool
	inHandler  bool
	unreadBody bool // answered before reading an announced body
}

var connPool = sync.Pool{New: func() any { return new(conn) }}

func (s *Server) serveConn(nc net.Conn, remote netip.AddrPort) {
	c := connPool.Get().(*conn)
	c.srv, c.raw, c.nc, c.remote = s, nc, nc, remote
	c.pos, c.end, c.requests, c.forceClose, c.inHandler, c.unreadBody = 0, 0, 0, false, false, false
	c.readDL, c.writeDL = time.Time{}, time.Time{}
	c.charged, c.zBooked = 0, 0
	if c.buf == nil {
		c.buf = make([]byte, initialBufSize)
	}
	s.track(c, true)
	defer func() {
		if p := recover(); p != nil {
			s.stats.panics.Add(1)
			s.Logger.Error("embedhttp: panic serving a connection; closing it",
				"remote", remote.String(), "panic", p, "stack", string(debug.Stack()))
			if c.inHandler {
				c.writeError(500)
			}
		}
		c.nc.Close()
		c.refund(c.charged)
		s.track(c, false)
		s.stats.active.Add(-1)
		if s.Hooks.ConnClosed != nil {
			s.safeHook(func() { s.Hooks.ConnClosed(remote, c.requests) })
		}
		c.release()
		s.wg.Done()
	}()
	if s.tlsConfig != nil {
		tc := tls.Server(nc, s.tlsConfig)
		tc.SetDeadline(time.Now().Add(s.ReadTimeout))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.Logger.Debug("embedhttp: TLS handshake", "remote", remote.String(), "err", err)
			return
		}
		tc.SetDeadline(time.Time{})
		c.nc = tc
	}
	for c.serveRequest() {
	}
}

func (c *conn) release() {
	c.refund(c.charged)
	c.srv, c.raw, c.nc = nil, nil, nil
	c.req.reset()
	c.req.ctx, c.req.c = nil, nil
	c.resp.reset()
	if len(c.buf) > keepBufMax {
		c.buf = nil
	}
	if cap(c.out) > keepBufMax {
		c.out = nil
	}
	c.out = c.out[:0]
	if cap(c.resp.body) > keepBufMax {
		c.resp.body = nil
	}
	if cap(c.zbuf) > keepBufMax {
		c.zbuf = nil
	}
	connPool.Put(c)
}

// serveRequest reads, handles and answers one request. false means close.
func (c *conn) serveRequest() bool {
	s := c.srv
	if c.pos > 0 { // a pipelined remainder moves to the front: heads start at 0
		c.end = copy(c.buf, c.buf[c.pos:c.end])
		c.pos = 0
	}
	c.shrink()
	if c.end == 0 {
		if !c.flush() {
			return false
		}
		fresh := c.requests == 0
		c.fresh.Store(fresh)
		c.idle.Store(true)
		dl := s.deadline(s.IdleTimeout)
		if fresh {
			dl = s.deadline(s.FirstByteTimeout) // a new connection owes us a request at once
		}
		if s.shutting.Load() {
			if !fresh {
				return false
			}
			// Accepted just before Shutdown: its client has sent, or is sending, a
			// request. It gets a moment to arrive and its answer rather than a reset.
			dl = time.Unix(0, s.freshUntil.Load())
		}
		c.setReadDeadline(dl)
		n, _ := c.nc.Read(c.buf)
		c.idle.Store(false)
		if n == 0 {
			return false // EOF, reset, idle timeout or shutdown: close quietly
		}
		if s.shutting.Load() {
			c.readDL = time.Time{} // Shutdown may have moved it behind our back
		}
		c.end = n
	}
	c.reqDLSet = false
	r := &c.req
	var headLen int
	for {
		n, code := parseHead(c.buf[:c.end], r, s.MaxHeaderCount)
		if code == 0 {
			headLen = n
			break
		}
		if code > 0 {
			return c.fail(code)
		}
		if c.end >= s.MaxHeaderBytes {
			return c.fail(431)
		}
		if c.end == len(c.buf) && !c.grow(min(2*len(c.buf), s.MaxHeaderBytes+initialBufSize)) {
			return c.fail(503)
		}
		if !c.readMore() {
			return false
		}
	}
	if headLen > s.MaxHeaderBytes {
		return c.fail(431)
	}
	var start time.Time
	if s.Hooks.ResponseDone != nil {
		start = time.Now()
	}
	r.remote, r.ctx, r.c = c.remote, s.ctx, c
	c.requests++
	if (s.MaxRequestsPerConn > 0 && c.requests >= s.MaxRequestsPerConn) || s.shutting.Load() {
		c.forceClose = true
	}
	hasBody := r.chunked || r.contentLength > 0
	if r.contentLength > s.MaxBodyBytes {
		return c.fail(413)
	}
	w := &c.resp
	w.reset()
	if r.IsMethod("HEAD") {
		w.noBody = true
	}
	if s.BasicAuth != nil && !c.checkAuth() {
		return c.failAuth(hasBody, headLen)
	}
	if s.Hooks.RequestReceived != nil && !s.Hooks.RequestReceived(w, r) {
		if hasBody {
			w.close = true
			c.unreadBody = true
		}
		c.pos = headLen
		return c.finish(start)
	}

	switch {
	case r.chunked:
		if r.expectContinue && c.end == headLen && !c.sendContinue() {
			return false
		}
		c.chunk.init(headLen, s.MaxBodyBytes, s.MaxHeaderBytes)
		for {
			done, err := c.chunk.feed(c.buf, c.end)
			if err != nil {
				if se, ok := err.(statusError); ok {
					return c.fail(int(se))
				}
				return c.fail(400)
			}
			if done {
				break
			}
			if c.end == len(c.buf) {
				c.end = c.chunk.compact(c.buf, c.end)
				if c.end == len(c.buf) && !c.grow(2*len(c.buf)) {
					return c.fail(503)
				}
			}
			if !c.readMore() {
				return false
			}
		}
		r.body = c.buf[headLen:c.chunk.w]
		c.pos = c.chunk.r
	case r.contentLength > 0:
		need := headLen + int(r.contentLength)
		if r.expectContinue && c.end < need && !c.sendContinue() {
			return false
		}
		for c.end < need {
			// Grow with what arrives, not with what is announced: a client claiming
			// 4 MiB and sending nothing costs no 4 MiB.
			if c.end == len(c.buf) && !c.grow(min(need, 2*len(c.buf))) {
				return c.fail(503)
			}
			if !c.readMore() {
				return false
			}
		}
		r.body = c.buf[headLen:need]
		c.pos = need
	default:
		c.pos = headLen
	}
	if r.gzip && len(r.body) > 0 {
		body, code := c.gunzip(r.body)
		if code != 0 {
			return c.fail(code)
		}
		r.body = body
	}
	s.stats.requests.Add(1)
	c.inHandler = true
	s.Handler.Serve(w, r)
	c.inHandler = false
	return c.finish(start)
}

// finish frames the response into the output queue.
func (c *conn) finish(start time.Time) bool {
	s, w, r := c.srv, &c.resp, &c.req
	closeAfter := w.close || r.closeReq || c.forceClose || s.shutting.Load()
	out := appendStatusLine(c.out, w.status)
	out = append(out, "Date: "...)
	out = append(out, s.clock.get()...)
	out = append(out, "\r\n"...)
	bodyAllowed := w.status != 204 && w.status != 304
	if bodyAllowed {
		out = append(out, "Content-Length: "...)
		out = appendInt(out, len(w.body))
		out = append(out, "\r\n"...)
	}
	if closeAfter {
		out = append(out, "Connection: close\r\n"...)
	} else if r.minor == 0 {
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	out = append(out, w.hdr...)
	out = append(out, "\r\n"...)
	if bodyAllowed && !w.noBody {
		out = append(out, w.body...)
		w.written = len(w.body)
	}
	c.out = out
	if s.Hooks.ResponseDone != nil {
		s.Hooks.ResponseDone(r, w, time.Since(start))
	}
	if closeAfter {
		c.flush()
		if c.unreadBody {
			c.lingerClose() // the client may still be sending the body we refused
		}
		return false
	}
	if len(c.out) >= flushThreshold {
		return c.flush()
	}
	return true
}

func appendInt(b []byte, n int) []byte {
	if n < 10 {
		return append(b, byte('0'+n))
	}
	var tmp [20]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

func (c *conn) setReadDeadline(t time.Time) {
	if !t.Equal(c.readDL) {
		c.readDL = t
		c.nc.SetReadDeadline(t)
	}
}

// deadline is when a timeout d starting now ends. Timeouts of a second or more run
// on the server clock's whole seconds (never early, at most 1 s late), so a busy
// connection sets its deadlines once a second instead of per request.
func (s *Server) deadline(d time.Duration) time.Time {
	if d < time.Second {
		return time.Now().Add(d)
	}
	return time.Unix(s.clock.sec.Load()+1, 0).Add(d)
}

func (c *conn) flush() bool {
	if len(c.out) == 0 {
		return true
	}
	if dl := c.srv.deadline(c.srv.WriteTimeout); !dl.Equal(c.writeDL) {
		c.writeDL = dl
		c.nc.SetWriteDeadline(dl)
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err == nil
}

// readMore reads what arrives into the free end of the buffer. On a timeout it
// answers 408; on any error it returns false.
func (c *conn) readMore() bool {
	if !c.flush() { // answers queued for pipelined requests go out before we wait
		return false
	}
	if !c.reqDLSet {
		// One deadline for the whole request, set when it first needs another read:
		// a client trickling bytes (slowloris) is cut off after ReadTimeout however
		// often it sends. A request that came in one read costs no deadline call.
		c.setReadDeadline(c.srv.deadline(c.srv.ReadTimeout))
		c.reqDLSet = true
	}
	n, err := c.nc.Read(c.buf[c.end:])
	c.end += n
	if n > 0 {
		return true
	}
	if err == nil {
		return true
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.srv.stats.timeouts.Add(1)
		c.fail(408)
	}
	return false
}

// grow replaces the buffer with one of n bytes holding the same data. Slices already
// handed out keep pointing into the old one, which stays valid.
// It returns false when Server.MaxBufferBytes would be exceeded.
func (c *conn) grow(n int) bool {
	if n <= len(c.buf) {
		return true
	}
	if !c.charge(n - len(c.buf)) {
		return false
	}
	nb := make([]byte, n)
	copy(nb, c.buf[:c.end])
	c.buf = nb
	return true
}

// charge books n more buffered request bytes against Server.MaxBufferBytes.
func (c *conn) charge(n int) bool {
	s := c.srv
	if s.bufBytes.Add(int64(n)) > s.MaxBufferBytes {
		s.bufBytes.Add(-int64(n))
		return false
	}
	if s.Memory != nil && !s.Memory.TryReserve(int64(n)) {
		s.bufBytes.Add(-int64(n))
		return false
	}
	c.charged += n
	return true
}

// refund returns up to n booked bytes.
func (c *conn) refund(n int) {
	n = min(n, c.charged)
	c.charged -= n
	c.srv.bufBytes.Add(-int64(n))
	if c.srv.Memory != nil {
		c.srv.Memory.Release(int64(n))
	}
}

func (c *conn) shrink() {
	if len(c.buf) > keepBufMax && c.end <= initialBufSize {
		c.refund(len(c.buf) - initialBufSize)
		nb := make([]byte, initialBufSize)
		copy(nb, c.buf[:c.end])
		c.buf = nb
	}
	if cap(c.resp.body) > keepBufMax {
		c.resp.body = nil
	}
	if cap(c.zbuf) > keepBufMax {
		c.refund(c.zBooked)
		c.zBooked = 0
		c.zbuf = nil
	}
	if cap(c.out) > keepBufMax && len(c.out) == 0 {
		c.out = nil
	}
}

func (c *conn) sendContinue() bool {
	c.out = append(c.out, continueResponse...)
	return c.flush()
}

// fail answers a prebuilt error response and closes the connection gracefully.
func (c *conn) fail(code int) bool {
	c.srv.stats.badRequests.Add(1)
	c.writeError(code)
	c.lingerClose()
	return false
}

func (c *conn) writeError(code int) {
	er, ok := errorResponses[code]
	if !ok {
		er = errorResponses[400]
	}
	c.out = append(c.out, er.head...)
	c.out = append(c.out, "Date: "...)
	c.out = append(c.out, c.srv.clock.get()...)
	c.out = append(c.out, "\r\n"...)
	c.out = append(c.out, er.tail...)
	c.flush()
}

func (c *conn) failAuth(hasBody bool, headLen int) bool {
	s := c.srv
	c.out = append(c.out, s.authHeader...)
	c.out = append(c.out, "Date: "...)
	c.out = append(c.out, s.clock.get()...)
	c.out = append(c.out, "\r\n"...)
	if hasBody || c.req.closeReq || c.forceClose {
		c.out = append(c.out, "Connection: close\r\n\r\nUnauthorized\n"...)
		c.flush()
		c.lingerClose()
		return false
	}
	c.out = append(c.out, "\r\nUnauthorized\n"...)
	c.pos = headLen
	return c.flush()
}

// lingerClose half-closes and drains what the client is still sending for a short
// while, so it reads our error response instead of a connection reset.
func (c *conn) lingerClose() {
	if tc, ok := c.raw.(*net.TCPConn); ok && c.nc == c.raw {
		tc.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	total := 0
	for total < lingerBytes {
		n, err := c.nc.Read(c.buf)
		total += n
		if err != nil {
			return
		}
	}
}

// checkAuth verifies basic credentials against Server.BasicAuth in constant time
// for a known user's password.
func (c *conn) checkAuth() bool {
	r := &c.req
	v := r.auth
	if len(v) < 7 || !asciiEqualFold(v[:6], "basic ") {
		return false
	}
	enc := trimOWS(v[6:])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(c.authBuf) {
		return false
	}
	n, err := base64.StdEncoding.Decode(c.authBuf[:], enc)
	if err != nil {
		return false
	}
	dec := c.authBuf[:n]
	colon := bytes.IndexByte(dec, ':')
	if colon < 0 {
		return false
	}
	user, pass := dec[:colon], dec[colon+1:]
	want, ok := c.srv.BasicAuth.Users[string(user)]
	if !ok {
		constantTimeEqual(pass, "\x00no-such-user-padding\x00")
		return false
	}
	if !constantTimeEqual(pass, want) {
		return false
	}
	r.user = user
	return true
}

func constantTimeEqual(b []byte, s string) bool {
	var v byte
	if len(b) != len(s) {
		v = 1
	}
	for i := 0; i < len(b); i++ {
		var x byte
		if len(s) > 0 {
			x = s[i%len(s)]
		}
		v |= b[i] ^ x
	}
	return v == 0
}

// gunzip inflates body into the connection's second buffer, refusing more than
// MaxDecompressedBytes (413) and corrupt streams (400).
func (c *conn) gunzip(body []byte) ([]byte, int) {
	c.zsrc.Reset(body)
	if c.zr == nil {
		zr, err := gzip.NewReader(&c.zsrc)
		if err != nil {
			return nil, 400
		}
		c.zr = zr
	} else if err := c.zr.Reset(&c.zsrc); err != nil {
		return nil, 400
	}
	limit := c.srv.MaxDecompressedBytes
	out := c.zbuf[:0]
	// A gzip stream ends with its (last member's) inflated size, mod 2^32: one past the
	// limit is refused before anything is inflated, and one within it sizes the buffer
	// once, so a large body leaves no trail of outgrown buffers behind (garbage the
	// collector has yet to free is memory too). A size that lies only costs the growth.
	if len(body) >= 18 {
		isize := int64(binary.LittleEndian.Uint32(body[len(body)-4:]))
		if isize > limit {
			return nil, 413
		}
		if want := int(isize) + 1; cap(out) < want { // +1: the read that sees the end
			if want > c.zBooked {
				if !c.charge(want - c.zBooked) { // before allocating
					return nil, 503
				}
				c.zBooked = want
			}
			out = make([]byte, 0, want)
		}
	}
	if cap(out) == 0 {
		out = make([]byte, 0, 4*len(body)+512)
	}
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		if cap(out) > c.zBooked {
			if !c.charge(cap(out) - c.zBooked) {
				c.zbuf = out[:0]
				return nil, 503
			}
			c.zBooked = cap(out)
		}
		n, err := c.zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			c.zbuf = out[:0]
			return nil, 413
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			c.zbuf = out[:0]
			return nil, 400
		}
	}
	c.zbuf = out
	return out, 0
}
