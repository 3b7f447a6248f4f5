package modbus

import (
	"context"
	"encoding/binary"
	"github.com/fluentbit-go/fluentbit-go/event"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// meter is a Modbus device for simonvetter/modbus's TCP server: unit 1 is a power meter
// (input registers: float32 voltage at 0, current at 6 word-swapped, int16 temperature at
// 12, uint64 energy at 20, a string at 100; addresses 150 to 159 missing; coil 3 on),
// unit 2 a small I/O module, unit 3 a device that always fails, unit 9 one that answers
// too late.
type meter struct {
	mu       sync.Mutex
	requests int
	late     time.Duration
}

func (m *meter) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests
}

func (m *meter) hit() {
	m.mu.Lock()
	m.requests++
	m.mu.Unlock()
}

func (m *meter) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	m.hit()
	if req.UnitId != 1 || req.IsWrite {
		return nil, mb.ErrIllegalFunction
	}
	out := make([]bool, req.Quantity)
	for i := range out {
		out[i] = int(req.Addr)+i == 3
	}
	return out, nil
}

func (m *meter) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	m.hit()
	return nil, mb.ErrIllegalFunction
}

func (m *meter) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	m.hit()
	if req.UnitId == 3 {
		return nil, mb.ErrServerDeviceFailure
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		out[i] = req.Addr + uint16(i) + 1000
	}
	return out, nil
}

func (m *meter) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	m.hit()
	regs := map[uint16]uint16{}
	switch req.UnitId {
	case 1:
		f := math.Float32bits(230.5)
		regs[0], regs[1] = uint16(f>>16), uint16(f)
		c := math.Float32bits(5.25)
		regs[6], regs[7] = uint16(c), uint16(c>>16) // CDAB
		regs[12] = uint16(0xffd8)                   // -40
		e := uint64(1) << 40
		for i := range 4 {
			regs[20+uint16(i)] = uint16(e >> (48 - 16*i))
		}
		for i, s := range []string{"EM", "24", "-D", "IN"} {
			regs[100+uint16(i)] = binary.BigEndian.Uint16([]byte(s))
		}
		for a := req.Addr; a < req.Addr+req.Quantity; a++ {
			if a >= 150 && a < 160 {
				return nil, mb.ErrIllegalDataAddress
			}
		}
		regs[148], regs[160] = 148, 160
	case 2:
		regs[0] = 77
	case 9:
		m.mu.Lock()
		late := m.late
		m.mu.Unlock()
		time.Sleep(late)
		regs[0] = 9
	default:
		return nil, mb.ErrGWTargetFailedToRespond
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		out[i] = regs[req.Addr+uint16(i)]
	}
	return out, nil
}

// startServer runs a Modbus TCP server for h on a free port of 127.0.0.1.
func startServer(t testing.TB, h mb.RequestHandler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, Timeout: 30 * time.Second, MaxClients: 4}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return addr
}

var meterPoints = []string{
	"point", "name=voltage table=input_register address=0 type=float32 unit=V",
	"point", "name=current table=input_register address=6 type=float32 byte_order=CDAB unit=A",
	"point", "name=temp table=input_register address=12 type=int16 scale=0.1",
	"point", "name=energy table=input_register address=20 type=uint64",
	"point", "name=model table=input_register address=100 type=string length=4",
	"point", "name=relay table=coil address=3",
	"point", "name=setpoint table=holding_register address=7",
	"point", "name=io unit_id=2 table=input_register address=0",
	"point", "name=broken unit_id=3 table=holding_register address=0",
}

func newTCPInput(t *testing.T, logs *pipelinetest.Logs, addr string, kv ...string) *Input {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, err := pipelinetest.NewInput("modbus", append([]string{"host", host, "port", port, "timeout", "2s"}, kv...)...)
	if err != nil {
		t.Fatal(err)
	}
	in := p.(*Input)
	if err := in.Init(context.Background(), logs.Env("modbus.0")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

func TestTCPMeter(t *testing.T) {
	m := &meter{}
	addr := startServer(t, m)
	var logs pipelinetest.Logs
	in := newTCPInput(t, &logs, addr, meterPoints...)
	recs := in.Poll(context.Background())
	if len(recs) != 2 {
		t.Fatalf("%d records, want one per answering unit (1 and 2): %v", len(recs), recs)
	}
	want := map[string]any{"unit_id": int64(1), "voltage_V": float64(float32(230.5)), "current_A": 5.25, "temp": -4.0,
		"energy": uint64(1) << 40, "model": "EM24-DIN", "relay": true, "setpoint": int64(1007)}
	for k, v := range want {
		if recs[0].Value(k) != v {
			t.Errorf("unit 1 %s = %#v, want %#v", k, recs[0].Value(k), v)
		}
	}
	if len(recs[0]) != len(want) {
		t.Errorf("unit 1 record %v has keys beyond %v", recs[0], want)
	}
	if recs[1].Value("unit_id") != int64(2) || recs[1].Value("io") != int64(77) {
		t.Errorf("unit 2 record %v", recs[1])
	}
	// Reads: unit 1 coils, holding, input 0..103; unit 2 input; unit 3 holding = 5.
	if n := m.count(); n != 5 {
		t.Errorf("%d requests for one poll, want 5 (batched)", n)
	}
	// The failing unit: one warning naming unit, table and address, not one per poll.
	in.Poll(context.Background())
	if n := logs.Count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings after two polls, want 1: %v", n, logs.Records())
	}
	msg := attrs(logs.Records()[0])
	for _, w := range []string{"unit=3", "table=holding_register", "address=0", "server device failure"} {
		if !strings.Contains(msg, w) {
			t.Errorf("warning %q does not say %s", msg, w)
		}
	}
}

func attrs(r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	return b.String()
}

func TestTCPGapRefusedThenReadPointByPoint(t *testing.T) {
	m := &meter{}
	addr := startServer(t, m)
	var logs pipelinetest.Logs
	in := newTCPInput(t, &logs, addr,
		"point", "name=a table=input_register address=148",
		"point", "name=b table=input_register address=160")
	for poll := range 2 {
		before := m.count()
		recs := in.Poll(context.Background())
		if len(recs) != 1 || recs[0].Value("a") != int64(148) || recs[0].Value("b") != int64(160) {
			t.Fatalf("poll %d: %v", poll, recs)
		}
		// First poll: the batch, refused, then each point; later polls: each point.
		if n, want := m.count()-before, []int{3, 2}[poll]; n != want {
			t.Errorf("poll %d: %d requests, want %d", poll, n, want)
		}
	}
}

func TestTCPLateAnswerIsSkipped(t *testing.T) {
	m := &meter{late: 400 * time.Millisecond}
	addr := startServer(t, m)
	var logs pipelinetest.Logs
	in := newTCPInput(t, &logs, addr, "timeout", "100ms",
		"point", "name=slow unit_id=9 table=input_register address=0",
		"point", "name=io unit_id=2 table=input_register address=0")
	recs := in.Poll(context.Background())
	// Unit 9 timed out; unit 2's answer is queued behind unit 9's late one on the
	// server's connection, so it may time out too: what matters is the next polls.
	_ = recs
	m.mu.Lock()
	m.late = 0
	m.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		recs = in.Poll(context.Background())
		if len(recs) == 2 {
			break
		}
	}
	if len(recs) != 2 || recs[0].Value("io") != int64(77) || recs[1].Value("slow") != int64(9) {
		t.Fatalf("after the late answer: %v (a stale answer taken for a new one?)", recs)
	}
	if !strings.Contains(attrs(logs.Records()[0]), "no answer") {
		t.Errorf("first log %q, want the timeout", attrs(logs.Records()[0]))
	}
}

func TestTCPReconnectsWithBackoff(t *testing.T) {
	// Nothing listens: the poll fails fast, logs once, and the next attempt waits.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs pipelinetest.Logs
	in := newTCPInput(t, &logs, addr, "point", "name=io unit_id=2 table=input_register address=0")
	if recs := in.Poll(context.Background()); len(recs) != 0 {
		t.Fatalf("records from nowhere: %v", recs)
	}
	if in.backoff != backoffMin || logs.Count(slog.LevelWarn) != 1 {
		t.Fatalf("backoff %v, %d warnings", in.backoff, logs.Count(slog.LevelWarn))
	}
	in.Poll(context.Background()) // within the backoff: no attempt, no new warning
	if in.backoff != backoffMin {
		t.Errorf("backoff grew without an attempt: %v", in.backoff)
	}
	// The device comes up on that port.
	host, port, _ := net.SplitHostPort(addr)
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + net.JoinHostPort(host, port)}, &meter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Skipf("port %s taken meanwhile: %v", port, err)
	}
	defer srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	var recs []event.Map
	for len(recs) == 0 && time.Now().Before(deadline) {
		time.Sleep(backoffMin / 2) // polls come at intervals; this stands for them
		recs = in.Poll(context.Background())
	}
	if len(recs) != 1 || recs[0].Value("io") != int64(77) {
		t.Fatalf("after the device came up: %v", recs)
	}
	if n := logs.Count(slog.LevelInfo) - logs.Count(slog.LevelWarn); n != 1 {
		t.Errorf("%d info lines, want one saying connected", n)
	}
}

func TestRunEmitsRecords(t *testing.T) {
	addr := startServer(t, &meter{})
	var logs pipelinetest.Logs
	in := newTCPInput(t, &logs, addr, append([]string{"interval_sec", "0", "interval_nsec", "20000000"}, meterPoints...)...)
	rec := pipelinetest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, rec) }()
	ok := rec.Wait(4, 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("%d records", rec.Len())
	}
	r := rec.Records()
	if r[0].Event.Record.Value("unit_id") != int64(1) || r[1].Event.Record.Value("unit_id") != int64(2) || !r[0].Event.Time.Equal(r[1].Event.Time) {
		t.Errorf("records %v", r[:2])
	}
	if r[0].Event.Record.Value("energy") != int64(1)<<40 { // as outputs see it after msgpack
		t.Errorf("energy %#v", r[0].Event.Record.Value("energy"))
	}
	_ = strconv.Itoa
}

// BenchmarkPollTCP is one poll of the meter's nine points (five reads) over loopback.
func BenchmarkPollTCP(b *testing.B) {
	addr := startServer(b, &meter{})
	host, port, _ := net.SplitHostPort(addr)
	p, err := pipelinetest.NewInput("modbus", append([]string{"host", host, "port", port}, meterPoints...)...)
	if err != nil {
		b.Fatal(err)
	}
	in := p.(*Input)
	var logs pipelinetest.Logs
	if err := in.Init(context.Background(), logs.Env("modbus.0")); err != nil {
		b.Fatal(err)
	}
	defer in.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if recs := in.Poll(context.Background()); len(recs) != 2 {
			b.Fatalf("records %v", recs)
		}
	}
}
