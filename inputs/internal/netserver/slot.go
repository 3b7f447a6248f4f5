package netserver

import (
	"context"
	"fmt"
	"sync"
)

// Slot holds an input's listening Server from Init, which opens the socket so that a bad
// address fails at start, to Run, which takes it. Embedded in an input it gives the
// input ListenAddr and Close.
type Slot struct {
	mu   sync.Mutex
	srv  *Server
	addr string // where srv listens, kept once Run has it
}

// Held reports whether the slot holds a server Run has not taken yet.
func (s *Slot) Held() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Open listens with cfg unless the slot already holds a server; a failure is prefixed
// with name (the plugin's).
func (s *Slot) Open(ctx context.Context, name string, cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	srv, err := Listen(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.srv, s.addr = srv, srv.Addr()
	return nil
}

// Take hands the server to Run; nil if there is none.
func (s *Slot) Take() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.srv
	s.srv = nil
	return srv
}

// ListenAddr is where the input listens once Init has run (the real port when port is
// 0, or the socket path), or "".
func (s *Slot) ListenAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close closes the socket if Run never took it.
func (s *Slot) Close(context.Context) error {
	if srv := s.Take(); srv != nil {
		return srv.Close()
	}
	return nil
}
