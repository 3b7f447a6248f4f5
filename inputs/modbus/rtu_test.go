package modbus

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// pymodbus is Debian's python3-pymodbus, a real Modbus RTU server (simonvetter/modbus
// serves TCP only).
const python = "/usr/bin/python3"

func needPymodbus(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import pymodbus.server").Run(); err != nil {
		t.Skipf("no RTU server: %s cannot import pymodbus (Debian package python3-pymodbus): %v", python, err)
	}
}

// startProcess starts a command and stops it (SIGTERM, then SIGKILL) when the test ends.
func startProcess(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout = os.Stderr // visible with -v when something goes wrong
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

var rtuPoints = []string{
	"point", "name=voltage table=input_register address=0 type=float32 unit=V",
	"point", "name=current table=input_register address=6 type=float32 byte_order=CDAB unit=A",
	"point", "name=setpoint table=holding_register address=7",
	"point", "name=relay table=coil address=3",
	"point", "name=io unit_id=2 table=input_register address=0",
	"point", "name=ghost unit_id=7 table=input_register address=0",
}

// pollUntil polls until both units answered every read, bounded, and returns the records.
// The first polls may fail while the server starts.
func pollUntil(t *testing.T, in *Input) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if recs := in.Poll(context.Background()); len(recs) == 2 && len(recs[0]) == 5 {
			out := make([]map[string]any, len(recs))
			for i := range recs {
				out[i] = recs[i].ToMap()
			}
			return out
		}
		time.Sleep(50 * time.Millisecond) // the server starting up; no signal to await from it
	}
	t.Fatalf("no answer from both units within 20s")
	return nil
}

func checkRTURecords(t *testing.T, recs []map[string]any) {
	t.Helper()
	want := map[string]any{"unit_id": int64(1), "voltage_V": float64(float32(230.5)), "current_A": 5.25, "setpoint": int64(1007), "relay": true}
	for k, v := range want {
		if recs[0][k] != v {
			t.Errorf("unit 1 %s = %#v, want %#v", k, recs[0][k], v)
		}
	}
	if recs[1]["unit_id"] != int64(2) || recs[1]["io"] != int64(77) {
		t.Errorf("unit 2: %v", recs[1])
	}
}

func TestRTUOverTCP(t *testing.T) {
	needPymodbus(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	startProcess(t, python, "testdata/rtu_server.py", "tcp", port)
	var logs pipelinetest.Logs
	p, err := pipelinetest.NewInput("modbus", append([]string{"mode", "rtu_over_tcp", "host", "127.0.0.1", "port", port, "timeout", "300ms"}, rtuPoints...)...)
	if err != nil {
		t.Fatal(err)
	}
	in := p.(*Input)
	if err := in.Init(context.Background(), logs.Env("modbus.0")); err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	checkRTURecords(t, pollUntil(t, in))
	// The silent unit 7 timed out without costing the others their answers.
	if !strings.Contains(strings.Join(logMessages(&logs), "\n"), "unit=7 table=input_register address=0") {
		t.Errorf("no warning about unit 7: %v", logMessages(&logs))
	}
}

func logMessages(l *pipelinetest.Logs) []string {
	var out []string
	for _, r := range l.Records() {
		out = append(out, attrs(r))
	}
	return out
}

// startPTY joins two pseudo-terminals with socat: the input opens dir/dev, the RTU server
// dir/peer. stop ends socat, which removes both: the adapter unplugged.
func startPTY(t *testing.T, dir string) (dev, peer string, stop func()) {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed (Debian package socat)")
	}
	dev, peer = filepath.Join(dir, "dev"), filepath.Join(dir, "peer")
	cmd := exec.Command("socat", "-d", "-d", "pty,raw,echo=0,link="+dev, "pty,raw,echo=0,link="+peer)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "starting data transfer loop") {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
		cmd.Wait()
		close(exited)
	}()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("socat exited before relaying")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("socat did not start relaying within 10s")
	}
	return dev, peer, stop
}

func TestRTUOverSerial(t *testing.T) {
	needPymodbus(t)
	dir := t.TempDir()
	dev, peer, unplug := startPTY(t, dir)
	const bitrate = 19200
	// Parity none: Linux pseudo-terminals refuse PARENB (tcsetattr: EINVAL), so parity
	// cannot be exercised here.
	server := startProcess(t, python, "testdata/rtu_server.py", "serial", peer, strconv.Itoa(bitrate), "N")
	var logs pipelinetest.Logs
	p, err := pipelinetest.NewInput("modbus", append([]string{"mode", "rtu", "file", dev,
		"bitrate", strconv.Itoa(bitrate), "timeout", "300ms"}, rtuPoints...)...)
	if err != nil {
		t.Fatal(err)
	}
	in := p.(*Input)
	if err := in.Init(context.Background(), logs.Env("modbus.0")); err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	checkRTURecords(t, pollUntil(t, in))
	// Once it runs, every poll is complete: after unit 7's timeouts the line was drained
	// and the framing holds.
	for range 3 {
		if recs := in.Poll(context.Background()); len(recs) == 2 {
			out := make([]map[string]any, len(recs))
			for i := range recs {
				out[i] = recs[i].ToMap()
			}
			checkRTURecords(t, out)
		} else {
			t.Errorf("steady-state poll: %v; logs %v", recs, logMessages(&logs))
		}
	}

	// The adapter is unplugged: polls give nothing and say why, once.
	unplug()
	server.Process.Kill()
	for range 3 {
		if recs := in.Poll(context.Background()); len(recs) != 0 {
			t.Fatalf("records from an unplugged adapter: %v", recs)
		}
	}
	if msgs := strings.Join(logMessages(&logs), "\n"); !strings.Contains(msgs, "connection lost") {
		t.Errorf("no warning about the lost line: %s", msgs)
	}
	// Plugged in again (same device path): the input reopens it by itself.
	_, peer, _ = startPTY(t, dir)
	startProcess(t, python, "testdata/rtu_server.py", "serial", peer, strconv.Itoa(bitrate), "N")
	checkRTURecords(t, pollUntil(t, in))
}

func TestRTUSerialDeviceMissingAtStartIsWaitedFor(t *testing.T) {
	var logs pipelinetest.Logs
	p, err := pipelinetest.NewInput("modbus", "mode", "rtu", "file", filepath.Join(t.TempDir(), "ttyUSB9"), "point", "name=x")
	if err != nil {
		t.Fatal(err)
	}
	in := p.(*Input)
	if err := in.Init(context.Background(), logs.Env("modbus.0")); err != nil {
		t.Fatalf("a missing device stopped the start: %v", err)
	}
	if recs := in.Poll(context.Background()); len(recs) != 0 {
		t.Errorf("records from a missing device: %v", recs)
	}
	if !strings.Contains(strings.Join(logMessages(&logs), "\n"), "cannot connect") {
		t.Errorf("logs %v", logMessages(&logs))
	}
	// Not a serial port at all: that cannot get better, so Init refuses it.
	p, _ = pipelinetest.NewInput("modbus", "mode", "rtu", "file", "testdata/rtu_server.py", "point", "name=x")
	if err := p.(*Input).Init(context.Background(), logs.Env("modbus.0")); err == nil || !strings.Contains(err.Error(), `"file"`) {
		t.Errorf("Init on a regular file: %v", err)
	}
}
