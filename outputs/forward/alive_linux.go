package forward

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle connection still looks open: a non-blocking peek that
// finds the end of the stream (the server closed it) or bytes a plain connection should
// not have (the server said something unasked) means it is not. With TLS, pending bytes
// are normal (TLS 1.3 session tickets), so only the end of the stream counts.
func alive(c net.Conn, isTLS bool) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR):
		case rerr != nil, n == 0:
			open = false
		case !isTLS:
			open = false
		}
		return true // never wait for readiness
	})
	return err == nil && open
}
