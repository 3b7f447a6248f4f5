package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/forward"
)

// The memory-attack scenario (issue 16): the agent, with memory_limit 48M, is flooded
// while a well-behaved forward client sends its records beside the attack:
//
//   - a gzip forward flood: 8 connections, each sending valid CompressedPackedForward
//     messages of ~130 KB that inflate to ~46 MB (under the per-message limit), acked;
//   - 64 concurrent HTTP gzip bombs: ~920 KB bodies of zeros (about 900 MB inflated);
//   - 20 slowloris connections, one header byte every 100 ms.
//
// It reports the peak RSS against the limit, whether the well-behaved client's records
// all arrived (the run fails otherwise) and the bytes the agent refused.
func init() {
	register(&Scenario{
		Name:    "memory-attack",
		Desc:    "memory_limit 48M under a gzip forward flood (8 conns), 64 HTTP gzip bombs and slowloris, beside a well-behaved forward client",
		Records: 2_000_000,
		Run:     runMemoryAttack,
	})
}

// memAttackLimit is the scenario's memory_limit, in bytes (48M: Fluent Bit's sizes are
// decimal).
const memAttackLimit = 48_000_000

// attackFloodMessage is one gzip CompressedPackedForward message inflating to ~46 MB.
func attackFloodMessage() ([]byte, error) {
	pad := strings.Repeat("x", 6000)
	var entries []byte
	var err error
	for i := 0; len(entries) < 46<<20; i++ {
		ev := event.Event{Time: time.Unix(1700000000, int64(i)), Record: event.Map{{"n", int64(i)}, {"log", pad}}}
		if entries, err = event.AppendEntry(entries, &ev); err != nil {
			return nil, err
		}
	}
	return forward.AppendCompressedPackedForward(nil, "flood", entries, forward.Options{Chunk: "flood"}), nil
}

// attackBomb is a gzip body of zeros about 920 KB long.
func attackBomb() []byte {
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for z.Len() < 920<<10 {
		w.Write(zeros)
	}
	w.Close()
	return z.Bytes()
}

func runMemoryAttack(env *Env) (Result, error) {
	sk, err := startSink(env.Records)
	if err != nil {
		return Result{}, err
	}
	defer sk.close()
	var ports [3]int
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return Result{}, err
		}
	}
	goodPort, floodPort, httpPort := ports[0], ports[1], ports[2]
	_, sinkPort, _ := net.SplitHostPort(sk.addr())
	a, err := env.StartAgent(fmt.Sprintf(`service:
  flush: 0.2
  log_level: info
  memory_limit: 48M
pipeline:
  inputs:
    - name: forward
      listen: 127.0.0.1
      port: %d
      tag: good
    - name: forward
      listen: 127.0.0.1
      port: %d
      tag: flood
    - name: http
      listen: 127.0.0.1
      port: %d
      tag: bombs
  outputs:
    - name: forward
      match: good
      host: 127.0.0.1
      port: %s
    - name: "null"
      match: flood
    - name: "null"
      match: bombs
`, goodPort, floodPort, httpPort, sinkPort))
	if err != nil {
		return Result{}, err
	}
	idle := a.RSS()
	flood, err := attackFloodMessage()
	if err != nil {
		return Result{}, err
	}
	bomb := attackBomb()
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }

	stop := make(chan struct{})
	var attackers sync.WaitGroup
	var floodAcked, floodRefused, refusedBytes, bombsRefused, bombsTaken atomic.Int64
	rounds := 1
	if env.Records >= 1_000_000 {
		rounds = 3
	}
	// The gzip forward flood.
	for c := 0; c < 8; c++ {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			for r := 0; r < rounds; r++ {
				conn, err := net.DialTimeout("tcp", addr(floodPort), 5*time.Second)
				if err != nil {
					floodRefused.Add(1)
					continue
				}
				conn.SetDeadline(time.Now().Add(5 * time.Minute))
				_, werr := conn.Write(flood)
				raw, rerr := forward.NewDecoder(conn, forward.Limits{}).ReadRaw()
				if id, perr := forward.ParseAck(raw); werr == nil && rerr == nil && perr == nil && id == "flood" {
					floodAcked.Add(1)
				} else {
					floodRefused.Add(1)
					refusedBytes.Add(int64(len(flood)))
				}
				conn.Close()
			}
		}()
	}
	// 64 concurrent HTTP gzip bombs.
	head := fmt.Sprintf("POST /bomb HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(bomb))
	for c := 0; c < 64; c++ {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			conn, err := net.DialTimeout("tcp", addr(httpPort), 5*time.Second)
			if err != nil {
				bombsRefused.Add(1)
				refusedBytes.Add(int64(len(bomb)))
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			conn.Write([]byte(head))
			conn.Write(bomb)
			code, _, err := readResponse(bufio.NewReader(conn))
			if err != nil || code >= 300 {
				bombsRefused.Add(1)
				refusedBytes.Add(int64(len(bomb)))
			} else {
				bombsTaken.Add(1)
			}
		}()
	}
	// Slowloris, until the well-behaved client is done.
	var slow sync.WaitGroup
	for c := 0; c < 20; c++ {
		slow.Add(1)
		go func() {
			defer slow.Done()
			conn, err := net.DialTimeout("tcp", addr(httpPort), 5*time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			req := "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("a", 1000)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for i := 0; i < len(req); i++ {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if _, err := conn.Write([]byte{req[i]}); err != nil {
					return
				}
			}
		}()
	}

	start := time.Now()
	cpu0 := a.CPU()
	gerr := loadgen(addr(goodPort), env.Records)
	var waitErr error
	if gerr == nil {
		select {
		case <-sk.done:
		case <-time.After(5 * time.Minute):
			waitErr = fmt.Errorf("the well-behaved client's records: the sink got %d of %d in 5 minutes", sk.count.Load(), env.Records)
		}
	}
	elapsed := time.Since(start)
	attackers.Wait()
	close(stop)
	slow.Wait()
	cpu := a.CPU() - cpu0
	rss := a.PeakRSS()
	if _, _, err := a.Stop(); err != nil {
		return Result{}, err
	}
	if gerr != nil {
		return Result{}, fmt.Errorf("well-behaved client: %w", gerr)
	}
	if waitErr != nil {
		return Result{}, waitErr
	}
	res := Result{Records: int(sk.count.Load()), Elapsed: elapsed, AgentCPU: cpu, PeakRSS: rss}
	verdict := "within"
	if rss > memAttackLimit+idle {
		verdict = "PAST"
	}
	res.Note = fmt.Sprintf("peak RSS %s memory_limit 48M + idle %.1f MB; well-behaved %d/%d delivered; flood %d acked, %d refused (%d × %d KB → %d MB inflated each); bombs %d refused, %d taken; %.1f MB refused",
		verdict, float64(idle)/(1<<20), sk.count.Load(), env.Records, floodAcked.Load(), floodRefused.Load(),
		8*rounds, len(flood)>>10, 46, bombsRefused.Load(), bombsTaken.Load(), float64(refusedBytes.Load())/(1<<20))
	return res, nil
}
