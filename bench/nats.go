package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The nats scenarios: the dummy input as fast as it goes into the nats output, publishing
// to a real nats-server on 127.0.0.1. dummy-nats is core NATS, which a fluent-bit peer runs
// too (same classic configuration); a subscriber in the bench process counts the records
// it receives, and a run where it got fewer than were sent fails. dummy-nats-jetstream
// publishes to a JetStream stream (R1, file storage) and waits for every acknowledgement;
// the run ends when the output has delivered every record, and the stream is then read
// back and must hold each record once. Fluent Bit has no JetStream publishing.
func init() {
	register(&Scenario{
		Name:    "dummy-nats",
		Desc:    "dummy -> nats output (core NATS) -> a real nats-server -> a subscriber that counts",
		Records: 1_000_000,
		Peers:   []string{"fluent-bit"},
		Run:     func(env *Env) (Result, error) { return runDummyNats(env, false) },
	})
	register(&Scenario{
		Name:    "dummy-nats-jetstream",
		Desc:    "dummy -> nats output (jetstream on, acknowledgements awaited) -> a real nats-server, R1 file stream",
		Records: 500_000,
		Run:     func(env *Env) (Result, error) { return runDummyNats(env, true) },
	})
}

// natsMaxPayload is the server's max_payload in the scenarios: Fluent Bit publishes a
// whole chunk as one message, over the default 1 MB for large chunks.
const natsMaxPayload = 8 << 20

func startNatsServer(env *Env, js bool) (*Agent, int, error) {
	bin, err := serverBinary("/usr/sbin/nats-server", "nats-server")
	if err != nil {
		return nil, 0, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	conf := []string{
		fmt.Sprintf("listen: 127.0.0.1:%d", port),
		fmt.Sprintf("max_payload: %d", natsMaxPayload),
		"max_pending: 256MB", // the bench's subscriber must not be cut off as a slow consumer
	}
	if js {
		conf = append(conf, "jetstream {", "  store_dir: "+strconv.Quote(filepath.Join(env.Dir, "js")), "}")
	}
	path := filepath.Join(env.Dir, "nats.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Dir = env.Dir
	s, err := env.start(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("nats-server: %w", err)
	}
	s.peer = true
	if err := s.WaitLog("Server is ready", 15*time.Second); err != nil {
		return nil, 0, fmt.Errorf("nats-server: %w", err)
	}
	return s, port, nil
}

// natsCounter counts the records of the messages a subscriber receives.
type natsCounter struct {
	mu      sync.Mutex
	records int
	bad     error
	reached chan struct{}
	want    int
}

func (c *natsCounter) add(m *natsgo.Msg) {
	var pairs []json.RawMessage
	err := json.Unmarshal(m.Data, &pairs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil && c.bad == nil {
		c.bad = fmt.Errorf("a message is not a JSON array: %v", err)
	}
	c.records += len(pairs)
	if c.records >= c.want && c.reached != nil {
		close(c.reached)
		c.reached = nil
	}
}

func runDummyNats(env *Env, js bool) (Result, error) {
	records := max(dummyCopies, env.Records/dummyCopies*dummyCopies)
	srv, port, err := startNatsServer(env, js)
	if err != nil {
		return Result{}, err
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	nc, err := natsgo.Connect(url)
	if err != nil {
		return Result{}, err
	}
	defer nc.Close()
	count := &natsCounter{want: records, reached: make(chan struct{})}
	var jsx jetstream.JetStream
	var extra string
	if js {
		jsx, err = jetstream.New(nc)
		if err != nil {
			return Result{}, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = jsx.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage})
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("create stream: %w", err)
		}
		extra = "    jetstream on\n    stream BENCH\n"
	} else {
		sub, err := nc.Subscribe("bench.>", count.add)
		if err != nil {
			return Result{}, err
		}
		_ = sub.SetPendingLimits(-1, -1)
		if err := nc.Flush(); err != nil {
			return Result{}, err
		}
	}
	apiPort, err := FreePort()
	if err != nil {
		return Result{}, err
	}
	cfg := fmt.Sprintf(`[SERVICE]
    flush 0.05
    log_level info
    http_server on
    http_listen 127.0.0.1
    http_port %d
[INPUT]
    name dummy
    tag bench.dummy
    dummy {"message":"dummy","level":"info","temp":21.5,"Mem.used":1024}
    rate 100000
    copies %d
    samples %d
[OUTPUT]
    name nats
    match *
    host 127.0.0.1
    port %d
%s`, apiPort, dummyCopies, records/dummyCopies, port, extra)
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	var a *Agent
	if env.Peer != nil {
		a, err = env.StartPeer(cfg, ".conf", apiAddr)
	} else {
		a, err = env.StartAgent(cfg)
	}
	if err != nil {
		return Result{}, err
	}
	cpu0, srvCPU0 := a.CPU(), srv.CPU()
	start := time.Now()
	if err := waitOutputRecords(apiAddr, "nats", records, 10*time.Minute); err != nil {
		return Result{}, fmt.Errorf("%w\nagent log:\n%s", err, a.Log())
	}
	res := Result{Records: records, Elapsed: time.Since(start), AgentCPU: a.CPU() - cpu0, PeakRSS: a.PeakRSS()}
	srvCPU := srv.CPU() - srvCPU0
	in, out, err := a.Stop()
	if err != nil {
		return Result{}, err
	}
	if env.Peer == nil && (in != records || out != records) {
		return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, records)
	}
	got, msgs := 0, 0
	if js {
		got, msgs, err = readBenchStream(jsx)
		if err != nil {
			return Result{}, err
		}
	} else {
		// Core NATS: the output's count says the server had them; the subscriber gets
		// them a moment later.
		count.mu.Lock()
		reached := count.reached // nil once add closed it
		count.mu.Unlock()
		if reached != nil {
			select {
			case <-reached:
			case <-time.After(30 * time.Second):
			}
		}
		count.mu.Lock()
		got, err = count.records, count.bad
		count.mu.Unlock()
		if err != nil {
			return Result{}, err
		}
	}
	if got != records {
		return Result{}, fmt.Errorf("%d records reached the server's other side, want %d", got, records)
	}
	res.Note = fmt.Sprintf("nats-server CPU s/M records %.2f", srvCPU.Seconds()/float64(records)*1e6)
	if js {
		res.Note += fmt.Sprintf("; %d stream messages read back holding every record", msgs)
	}
	return res, nil
}

// readBenchStream reads the BENCH stream back and returns how many records its messages
// hold, and how many messages it has. The dummy records are all alike, so the check is the
// count: as many as were sent.
func readBenchStream(js jetstream.JetStream) (records, msgs int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, "BENCH")
	if err != nil {
		return 0, 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return 0, 0, fmt.Errorf("stream message %d: %w", seq, err)
		}
		var pairs []json.RawMessage
		if err := json.Unmarshal(m.Data, &pairs); err != nil {
			return 0, 0, fmt.Errorf("stream message %d: %w", seq, err)
		}
		records += len(pairs)
		msgs++
	}
	return records, msgs, nil
}
