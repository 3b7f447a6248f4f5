package main

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/forward"
)

// The forward scenarios: a load generator sends records by PackedForward, and a sink
// counts what arrives. forward-direct sends straight to the sink (the ceiling: what the
// generator and the sink manage without an agent between them); forward-forward goes
// through the agent (forward input -> forward output); forward-forward-ack has the
// agent's output wait for the sink's ack of every chunk (require_ack_response).
func init() {
	register(&Scenario{
		Name:    "forward-direct",
		Desc:    "load generator -> sink by PackedForward, no agent: the ceiling of the forward scenarios",
		Records: forwardRecords,
		Run:     func(env *Env) (Result, error) { return runForward(env, false, "") },
	})
	register(&Scenario{
		Name:    "forward-forward",
		Desc:    "load generator -> agent (forward in -> forward out) -> sink, PackedForward both ways",
		Records: forwardRecords,
		Peers:   []string{"fluent-bit"},
		Run:     func(env *Env) (Result, error) { return runForward(env, true, "") },
	})
	register(&Scenario{
		Name:    "forward-forward-ack",
		Desc:    "forward-forward with require_ack_response on the agent's output",
		Records: forwardRecords,
		Peers:   []string{"fluent-bit"},
		Run:     func(env *Env) (Result, error) { return runForward(env, true, "    require_ack_response on\n") },
	})
}

// forwardRecords is the default run: with fewer records the flush interval (the last
// partial chunk waits for it), not the CPU, bounds the figure.
const forwardRecords = 20_000_000

// forwardBatch is how many records the load generator puts in one message.
const forwardBatch = 1000

// runForward runs one scenario run. Through the agent, it runs forwardPairs triples of
// passes of the same size back to back: direct (generator -> sink), relay (generator -> a
// bare byte relay -> sink: the same three hops as through the agent, doing nothing but
// copying bytes) and the agent, and reports the agent pass of the median triple: the note
// gives the agent's throughput as a share of both ceilings measured moments before, so a
// busy machine moves all three alike.
func runForward(env *Env, viaAgent bool, outputExtra string) (Result, error) {
	if !viaAgent {
		return forwardPass(env, passDirect, "")
	}
	type triple struct {
		agent          Result
		direct, relay  float64
		ratio, ratioRe float64
	}
	var ts []triple
	for i := 0; i < forwardPairs; i++ {
		direct, err := forwardPass(env, passDirect, "")
		if err != nil {
			return Result{}, fmt.Errorf("direct pass: %w", err)
		}
		relay, err := forwardPass(env, passRelay, "")
		if err != nil {
			return Result{}, fmt.Errorf("relay pass: %w", err)
		}
		res, err := forwardPass(env, passAgent, outputExtra)
		if err != nil {
			return res, err
		}
		ts = append(ts, triple{res, direct.RecordsPerSec(), relay.RecordsPerSec(),
			res.RecordsPerSec() / direct.RecordsPerSec(), res.RecordsPerSec() / relay.RecordsPerSec()})
	}
	slices.SortFunc(ts, func(a, b triple) int { return cmp.Compare(a.ratio, b.ratio) })
	var all []string
	for _, t := range ts {
		all = append(all, fmt.Sprintf("%.0f%%", 100*t.ratio))
	}
	m := ts[len(ts)/2]
	res := m.agent
	res.Note = strings.TrimSpace(fmt.Sprintf("%s %.0f%% of direct (%s records/s; runs %s), %.0f%% of a bare byte relay (%s records/s)", res.Note,
		100*m.ratio, si(m.direct), strings.Join(all, " "), 100*m.ratioRe, si(m.relay)))
	return res, nil
}

// forwardPairs is how many direct/relay/agent triples one agent run measures.
const forwardPairs = 3

type passKind int

const (
	passDirect passKind = iota // generator -> sink
	passRelay                  // generator -> byte relay -> sink
	passAgent                  // generator -> agent -> sink
)

func forwardPass(env *Env, kind passKind, outputExtra string) (Result, error) {
	sk, err := startSink(env.Records)
	if err != nil {
		return Result{}, err
	}
	defer sk.close()
	target := sk.addr()
	var a *Agent
	switch kind {
	case passRelay:
		r, err := startRelay(sk.addr())
		if err != nil {
			return Result{}, err
		}
		defer r.close()
		target = r.addr()
	case passAgent:
		port, err := FreePort()
		if err != nil {
			return Result{}, err
		}
		_, sinkPort, _ := net.SplitHostPort(sk.addr())
		cfg := fmt.Sprintf(`[SERVICE]
    flush 0.2
    log_level info
[INPUT]
    name forward
    listen 127.0.0.1
    port %d
    mem_buf_limit 64M
[OUTPUT]
    name forward
    match *
    host 127.0.0.1
    port %s
%s`, port, sinkPort, outputExtra)
		if env.Peer != nil {
			a, err = env.StartPeer(cfg, ".conf", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		} else {
			a, err = env.StartAgent(cfg)
		}
		if err != nil {
			return Result{}, err
		}
		target = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	start := time.Now()
	if err := loadgen(target, env.Records); err != nil {
		return Result{}, fmt.Errorf("load generator: %w", err)
	}
	select {
	case <-sk.done:
	case <-time.After(10 * time.Minute):
		return Result{}, fmt.Errorf("sink got %d of %d records in 10 minutes", sk.count.Load(), env.Records)
	}
	elapsed := time.Since(start)
	res := Result{Records: int(sk.count.Load()), Elapsed: elapsed}
	if a != nil {
		res.PeakRSS = a.PeakRSS()
		res.AgentCPU = a.CPU()
		in, out, err := a.Stop()
		if err != nil {
			return Result{}, err
		}
		if env.Peer == nil && (in != env.Records || out != env.Records) {
			return Result{}, fmt.Errorf("agent records in %d, out %d; want %d", in, out, env.Records)
		}
	}
	if got := sk.count.Load(); got != int64(env.Records) {
		res.Note = fmt.Sprintf("sink got %d records", got)
	}
	return res, nil
}

// loadgen sends n records to addr as PackedForward messages of forwardBatch records,
// over one connection, without acks (TCP holds it back when the receiver is slower).
func loadgen(addr string, n int) error {
	var c net.Conn
	var err error
	for i := 0; i < 100; i++ { // the agent may be a moment from listening
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	msg := func(count int) ([]byte, error) {
		var entries []byte
		now := time.Now()
		for i := 0; i < count; i++ {
			ev := event.Event{Time: now, Record: event.Map{{"message", "dummy"}, {"level", "info"}, {"temp", 21.5}, {"device", "sensor-1"}}}
			if entries, err = event.AppendEntry(entries, &ev); err != nil {
				return nil, err
			}
		}
		return forward.AppendPackedForward(nil, "bench.forward", entries, forward.Options{Size: count}), nil
	}
	full, err := msg(forwardBatch)
	if err != nil {
		return err
	}
	for sent := 0; sent < n; {
		m := full
		if n-sent < forwardBatch {
			if m, err = msg(n - sent); err != nil {
				return err
			}
		}
		if _, err := c.Write(m); err != nil {
			return err
		}
		sent += min(forwardBatch, n-sent)
	}
	return nil
}

// sink counts the records of every forward message it receives and acks those that ask.
type sink struct {
	*tcpServer
	target int64
	count  atomic.Int64
	done   chan struct{}
	once   sync.Once
}

func startSink(target int) (*sink, error) {
	s := &sink{target: int64(target), done: make(chan struct{})}
	srv, err := listenTCP(func(_ *tcpServer, c net.Conn) {
		serveForward(c, "sink", func(m *forward.Message) {
			if s.count.Add(int64(m.Count)) >= s.target {
				s.once.Do(func() { close(s.done) })
			}
		})
	})
	if err != nil {
		return nil, err
	}
	s.tcpServer = srv
	return s, nil
}

// relay copies bytes both ways between each accepted connection and the sink: the
// cheapest possible thing in the agent's place (io.Copy between TCP sockets splices in the
// kernel on Linux).
type relay struct{ *tcpServer }

func startRelay(to string) (*relay, error) {
	srv, err := listenTCP(func(s *tcpServer, c net.Conn) {
		up, err := net.Dial("tcp", to)
		if err != nil {
			c.Close()
			return
		}
		s.track(up)
		s.spawn(func() { _, _ = io.Copy(c, up) })
		_, _ = io.Copy(up, c)
		_ = up.(*net.TCPConn).CloseWrite() // the sink sees the end; acks still flow back
	})
	if err != nil {
		return nil, err
	}
	return &relay{srv}, nil
}
