package embedhttp

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// memConn is an in-memory net.Conn: reads come from a list of pieces (one piece per
// Read at most, then EOF), writes are collected (or only counted when discard).
type memConn struct {
	pieces  [][]byte
	repeat  []byte // when set: served n times, as a stream, then EOF
	n       int
	off     int
	out     []byte
	discard bool
	written int
	closeMu sync.Mutex
	closed  chan struct{}
}

func (m *memConn) Read(p []byte) (int, error) {
	if m.repeat != nil {
		if m.n == 0 {
			return 0, io.EOF
		}
		k := copy(p, m.repeat[m.off:])
		m.off += k
		if m.off == len(m.repeat) {
			m.off = 0
			m.n--
		}
		return k, nil
	}
	for len(m.pieces) > 0 && len(m.pieces[0]) == 0 {
		m.pieces = m.pieces[1:]
	}
	if len(m.pieces) == 0 {
		return 0, io.EOF
	}
	k := copy(p, m.pieces[0])
	m.pieces[0] = m.pieces[0][k:]
	return k, nil
}

func (m *memConn) Write(p []byte) (int, error) {
	m.written += len(p)
	if !m.discard {
		m.out = append(m.out, p...)
	}
	return len(p), nil
}

func (m *memConn) Close() error {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	if m.closed != nil {
		select {
		case <-m.closed:
		default:
			close(m.closed)
		}
	}
	return nil
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (m *memConn) LocalAddr() net.Addr                { return memAddr }
func (m *memConn) RemoteAddr() net.Addr               { return memAddr }
func (m *memConn) SetDeadline(t time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

// memServer prepares s for serveMem without a listener.
func memServer(t testing.TB, s *Server) *Server {
	t.Helper()
	if s.Handler == nil {
		s.Handler = echoHandler()
	}
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	s.run(context.Background())
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// serveMem runs one connection over m to its end, on this goroutine.
func (s *Server) serveMem(m net.Conn) {
	s.stats.active.Add(1)
	s.wg.Add(1)
	s.serveConn(m, netip.MustParseAddrPort("127.0.0.1:40000"))
}
