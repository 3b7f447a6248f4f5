package main

import (
	"cmp"
	"errors"
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

// forwardRecords is the default run: with fewer records the flush interval, not the
// CPU, bounds the figure.
const forwardRecords = 3_000_000

// forwardBatch is how many records the load generator puts in one message.
const forwardBatch = 1000

// runForward runs one scenario run. Through the agent, it runs forwardPairs pairs of a
// direct pass and an agent pass of the same size, back to back, and reports the agent
// pass of the median pair by ratio: the note gives the agent's throughput as a share of
// the direct ceiling measured moments before, so a busy machine moves both alike.
func runForward(env *Env, viaAgent bool, outputExtra string) (Result, error) {
	if !viaAgent {
		return forwardPass(env, false, "")
	}
	type pair struct {
		agent   Result
		ceiling float64
		ratio   float64
	}
	var pairs []pair
	for i := 0; i < forwardPairs; i++ {
		ceiling, err := forwardPass(env, false, "")
		if err != nil {
			return Result{}, fmt.Errorf("direct pass: %w", err)
		}
		res, err := forwardPass(env, true, outputExtra)
		if err != nil {
			return res, err
		}
		pairs = append(pairs, pair{res, ceiling.RecordsPerSec(), res.RecordsPerSec() / ceiling.RecordsPerSec()})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.ratio, b.ratio) })
	var all []string
	for _, p := range pairs {
		all = append(all, fmt.Sprintf("%.0f%%", 100*p.ratio))
	}
	m := pairs[len(pairs)/2]
	res := m.agent
	res.Note = strings.TrimSpace(fmt.Sprintf("%s %.0f%% of direct (%.0f records/s); pairs %s", res.Note,
		100*m.ratio, m.ceiling, strings.Join(all, " ")))
	return res, nil
}

// forwardPairs is how many direct/agent pairs one agent run measures.
const forwardPairs = 3

func forwardPass(env *Env, viaAgent bool, outputExtra string) (Result, error) {
	sk, err := startSink(env.Records)
	if err != nil {
		return Result{}, err
	}
	defer sk.close()
	target := sk.addr()
	var a *Agent
	if viaAgent {
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
			ev := event.Event{Time: now, Record: map[string]any{"message": "dummy", "level": "info", "temp": 21.5, "device": "sensor-1"}}
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
	ln     net.Listener
	target int64
	count  atomic.Int64
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startSink(target int) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln, target: int64(target), done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	return s, nil
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	dec := forward.NewDecoder(c, forward.Limits{ChunkSize: 4 << 20, MaxSize: 64 << 20})
	for {
		m, err := dec.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				fmt.Printf("bench: sink: %v\n", err)
			}
			return
		}
		if m.Options.Chunk != "" {
			if _, err := c.Write(forward.AppendAck(nil, m.Options.Chunk)); err != nil {
				return
			}
		}
		if s.count.Add(int64(m.Count)) >= s.target {
			s.once.Do(func() { close(s.done) })
		}
	}
}

func (s *sink) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
