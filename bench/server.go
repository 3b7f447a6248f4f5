package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/forward"
)

// tcpServer accepts connections on 127.0.0.1 and serves each in a goroutine of its own:
// the sinks and the relay of the scenarios are built on it.
type tcpServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// listenTCP starts a server; serve gets the server itself (to track and spawn) and the
// connection.
func listenTCP(serve func(s *tcpServer, c net.Conn)) (*tcpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &tcpServer{ln: ln}
	s.spawn(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.track(c)
			s.spawn(func() { serve(s, c) })
		}
	})
	return s, nil
}

func (s *tcpServer) addr() string { return s.ln.Addr().String() }

// track adds a connection for close to close.
func (s *tcpServer) track(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

// spawn runs f in a goroutine that close and drain wait for.
func (s *tcpServer) spawn(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// drain stops accepting and waits (up to timeout) for the open connections to reach their
// end, which they do once the peer has closed them.
func (s *tcpServer) drain(timeout time.Duration) {
	_ = s.ln.Close()
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(timeout):
	}
}

// close stops accepting, closes every connection and waits for their goroutines.
func (s *tcpServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveForward decodes the forward messages arriving on c, acks each that asks for it
// and hands it to f, until the connection ends. who names the sink in error lines.
func serveForward(c net.Conn, who string, f func(m *forward.Message)) {
	defer c.Close()
	dec := forward.NewDecoder(c, forward.Limits{ChunkSize: 4 << 20, MaxSize: 64 << 20})
	for {
		m, err := dec.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				fmt.Printf("bench: %s: %v\n", who, err)
			}
			return
		}
		if m.Options.Chunk != "" {
			if _, err := c.Write(forward.AppendAck(nil, m.Options.Chunk)); err != nil {
				return
			}
		}
		f(m)
	}
}
