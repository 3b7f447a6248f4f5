package embedhttp

import (
	"context"
	"crypto/tls"
	"net/netip"
)

// Request is one parsed HTTP/1.1 request. Every []byte it hands out points into the
// connection's buffer and is valid only until the handler (and the ResponseDone hook)
// returns: copy what you keep.
type Request struct {
	method []byte
	target []byte
	path   []byte
	query  []byte
	minor  int // HTTP/1.minor

	headers []headerField
	body    []byte

	contentLength  int64 // -1 when absent
	chunked        bool
	closeReq       bool // client said Connection: close (or HTTP/1.0 without keep-alive)
	keepAlive10    bool // HTTP/1.0 with Connection: keep-alive
	expectContinue bool
	gzip           bool
	hostCount      int
	auth           []byte // raw Authorization value, nil if absent

	user   []byte // basic auth user once checked
	remote netip.AddrPort
	ctx    context.Context
	c      *conn
}

type headerField struct{ name, value []byte }

func (r *Request) reset() {
	r.method, r.target, r.path, r.query = nil, nil, nil, nil
	r.minor = 0
	r.headers = r.headers[:0]
	r.body = nil
	r.contentLength = -1
	r.chunked, r.closeReq, r.keepAlive10, r.expectContinue, r.gzip = false, false, false, false, false
	r.hostCount = 0
	r.auth, r.user = nil, nil
}

// Method returns the request method bytes (e.g. "POST").
func (r *Request) Method() []byte { return r.method }

// MethodString returns the method as a string; the standard methods are interned, so
// this does not allocate for them.
func (r *Request) MethodString() string {
	switch string(r.method) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "HEAD":
		return "HEAD"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	}
	return string(r.method)
}

// IsMethod reports whether the method is m, without allocating.
func (r *Request) IsMethod(m string) bool { return string(r.method) == m }

// Target returns the raw request-target as sent (path and query, or absolute-form).
func (r *Request) Target() []byte { return r.target }

// Path returns the path part of the target, not percent-decoded ("/api/v1/metrics").
func (r *Request) Path() []byte { return r.path }

// Query returns the raw query string without the '?', or nil.
func (r *Request) Query() []byte { return r.query }

// ProtoMinor is 0 for HTTP/1.0 and 1 for HTTP/1.1.
func (r *Request) ProtoMinor() int { return r.minor }

// Header returns the value of the first header named name (case-insensitive), or nil.
func (r *Request) Header(name string) []byte {
	for i := range r.headers {
		if asciiEqualFold(r.headers[i].name, name) {
			return r.headers[i].value
		}
	}
	return nil
}

// NumHeaders returns how many header fields the request carries.
func (r *Request) NumHeaders() int { return len(r.headers) }

// HeaderAt returns the i-th header field as sent, 0 <= i < NumHeaders().
func (r *Request) HeaderAt(i int) (name, value []byte) {
	return r.headers[i].name, r.headers[i].value
}

// ContentType returns the Content-Type header value, or nil.
func (r *Request) ContentType() []byte { return r.Header("Content-Type") }

// Body returns the whole request body, already de-chunked and gunzipped.
func (r *Request) Body() []byte { return r.body }

// RemoteAddr returns the client's address (IPv4-mapped IPv6 addresses are unmapped).
func (r *Request) RemoteAddr() netip.AddrPort { return r.remote }

// User returns the basic-auth user name once the server has checked the password,
// nil when basic auth is off.
func (r *Request) User() []byte { return r.user }

// Context is done when the server shuts down. It is the same value for every request.
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// TLS returns the connection's TLS state, or nil on plain TCP. It allocates; use it
// off the hot path.
func (r *Request) TLS() *tls.ConnectionState {
	if r.c == nil {
		return nil
	}
	if tc, ok := r.c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// WillClose reports whether the connection closes after this request's response.
func (r *Request) WillClose() bool {
	return r.closeReq || (r.c != nil && r.c.forceClose)
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
