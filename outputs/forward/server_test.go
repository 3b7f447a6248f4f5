package forward

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// received is one message a test server got.
type received struct {
	Raw     []byte // the message as it came
	Mode    forward.Mode
	Tag     string
	Entries []byte
	Count   int
	Options forward.Options
}

// server is a forward receiver for tests, built on the forward codec: it records every
// message, answers acks, and can be killed and brought back on the same address.
type server struct {
	t    *testing.T
	addr string
	tls  *tls.Config
	auth *forward.ServerAuth
	// dropAckAfter, when > 0, makes the server close the connection instead of acking
	// the message with that number (1-based) and every later one until revived: a
	// receiver that dies with records unacknowledged.
	dropAckAfter int
	// silent: read and keep messages but never ack them (a hung receiver).
	silent bool

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
	msgs     []received
	seen     int // messages read, acked or not
	accepted int
	changed  chan struct{}
	wg       sync.WaitGroup
}

func newServer(t *testing.T, tlsCfg *tls.Config, auth *forward.ServerAuth) *server {
	t.Helper()
	s := &server{t: t, tls: tlsCfg, auth: auth, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	s.start("127.0.0.1:0")
	t.Cleanup(s.kill)
	return s
}

func (s *server) start(addr string) {
	s.t.Helper()
	var ln net.Listener
	var err error
	// The port of a killed server may take a moment to free.
	if !pipelinetest.Eventually(time.Second, func() bool { ln, err = net.Listen("tcp", addr); return err == nil }) {
		s.t.Fatal(err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.accepted++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
}

func (s *server) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// kill closes the listener and every connection, as a crashing receiver would.
func (s *server) kill() {
	s.mu.Lock()
	ln := s.ln
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	s.wg.Wait()
}

// dropAcksFrom makes the server die, unacknowledged, on message n (1-based) and after.
func (s *server) dropAcksFrom(n int) {
	s.mu.Lock()
	s.dropAckAfter = n
	s.mu.Unlock()
}

// revive starts the server again on its address.
func (s *server) revive() {
	s.mu.Lock()
	s.dropAckAfter = 0
	s.mu.Unlock()
	s.start(s.addr)
}

func (s *server) serve(c net.Conn) {
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	dec := forward.NewDecoder(c, forward.Limits{})
	if s.auth != nil {
		if _, err := forward.ServerHandshake(c, dec, *s.auth); err != nil {
			return
		}
	}
	for {
		raw, err := dec.ReadRaw()
		if err != nil {
			return
		}
		raw = append([]byte(nil), raw...)
		m, err := forward.DecodeMessage(raw, forward.Limits{})
		if err != nil {
			s.t.Errorf("test server: bad message: %v", err)
			return
		}
		s.mu.Lock()
		s.seen++
		drop := s.dropAckAfter > 0 && s.seen >= s.dropAckAfter
		s.mu.Unlock()
		if drop {
			return // dies before the records are safe: no ack, not kept
		}
		// Kept first, acknowledged after, as a receiver that keeps its promise does.
		rec := received{Raw: raw, Mode: m.Mode, Tag: m.Tag, Entries: append([]byte(nil), m.Entries...), Count: m.Count, Options: m.Options}
		s.mu.Lock()
		s.msgs = append(s.msgs, rec)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if m.Options.Chunk != "" && !s.silent {
			if _, err := c.Write(forward.AppendAck(nil, m.Options.Chunk)); err != nil {
				return
			}
		}
	}
}

func (s *server) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *server) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// events decodes every entry the server kept, in order, with the tag of its message.
func (s *server) events(t *testing.T) (tags []string, evs []event.Event) {
	t.Helper()
	for _, m := range s.messages() {
		if err := event.Entries(m.Entries, func(ev event.Event) error {
			tags = append(tags, m.Tag)
			evs = append(evs, ev)
			return nil
		}); err != nil {
			t.Fatalf("entries of a received message: %v", err)
		}
	}
	return tags, evs
}

// waitRecords waits until the server kept at least n records.
func (s *server) waitRecords(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got := 0
		for _, m := range s.msgs {
			got += m.Count
		}
		ch := s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("server has %d records, want %d", got, n)
		}
	}
}
