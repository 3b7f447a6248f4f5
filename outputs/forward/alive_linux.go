package forward

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// peek looks at an idle connection without blocking: closed when the server ended the
// stream (or the socket failed), pending when bytes wait to be read.
func peek(c net.Conn) (closed, pending bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true, false
	}
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR):
		case rerr != nil, n == 0:
			closed = true
		default:
			pending = true
		}
		return true // never wait for readiness
	})
	return closed || err != nil, pending
}
