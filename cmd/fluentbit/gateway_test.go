package main

import (
	"bufio"
	be "encoding/binary"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
)

const gatewayConfig = "../../docs/examples/gateway.yaml"

// gatewayMeter is the power meter docs/examples/gateway.yaml reads.
type gatewayMeter struct{}

func (gatewayMeter) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	out := make([]bool, req.Quantity)
	for i := range out {
		out[i] = int(req.Addr)+i == 3
	}
	return out, nil
}

func (gatewayMeter) HandleDiscreteInputs(*mb.DiscreteInputsRequest) ([]bool, error) {
	return nil, mb.ErrIllegalFunction
}

func (gatewayMeter) HandleHoldingRegisters(*mb.HoldingRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}

func (gatewayMeter) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	regs := map[uint16]uint16{}
	v := math.Float32bits(230.5)
	regs[0], regs[1] = uint16(v>>16), uint16(v)
	c := math.Float32bits(5.25)
	regs[6], regs[7] = uint16(c), uint16(c>>16)
	regs[12] = 215
	regs[23] = 4200
	for i, s := range []string{"EM", "24", "-D", "IN"} {
		regs[100+uint16(i)] = be.BigEndian.Uint16([]byte(s))
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		out[i] = regs[req.Addr+uint16(i)]
	}
	return out, nil
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// gatewayEnv is the environment the example config expects, pointing at the test's
// collaborators.
func gatewayEnv(t *testing.T, meterPort, mqttPort, forwardPort string) []string {
	sysfs, err := filepath.Abs("../../inputs/sensors/testdata/rpi4/sys")
	if err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"METER_HOST=127.0.0.1", "METER_PORT="+meterPort, "SYSFS_ROOT="+sysfs,
		"MQTT_HOST=127.0.0.1", "MQTT_PORT="+mqttPort,
		"FORWARD_HOST=127.0.0.1", "FORWARD_PORT="+forwardPort,
		"SITE=hall-3", "STORAGE_PATH="+t.TempDir())
}

func TestGatewayExampleDryRun(t *testing.T) {
	cmd := exec.Command(binary, "--dry-run", "-c", gatewayConfig)
	cmd.Env = gatewayEnv(t, "502", "1883", "24224")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration test is successful") {
		t.Fatalf("--dry-run of %s: %v\n%s", gatewayConfig, err, out)
	}
}

// TestGatewayExample runs the example: a Modbus TCP meter, the Pi 4 fixture tree,
// mosquitto, and a second agent as the forward server.
func TestGatewayExample(t *testing.T) {
	meterPort := freeTCPPort(t)
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://127.0.0.1:" + meterPort}, gatewayMeter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	broker := mosquittotest.Start(t)
	live := broker.Subscribe(t, "gateway-test", "gateways/#", 1)

	// The aggregator: our own agent with a forward input, printing what it receives.
	forwardPort := freeTCPPort(t)
	aggOut := filepath.Join(t.TempDir(), "aggregator.out")
	agg := startAgent(t, aggOut, nil, "-i", "forward", "-p", "listen=127.0.0.1", "-p", "port="+forwardPort,
		"-o", "stdout", "-m", "*", "-p", "format=json_lines", "-f", "0.2")

	gwOut := filepath.Join(t.TempDir(), "gateway.out")
	gw := startAgent(t, gwOut, gatewayEnv(t, meterPort, strconv.Itoa(broker.Port()), forwardPort), "-c", gatewayConfig)

	// Live: the meter's first poll is one interval (5s) after start.
	var meter, board map[string]any
	ok := live.Wait(30*time.Second, func(ms []mosquittotest.Message) bool {
		for _, m := range ms {
			var rec map[string]any
			if json.Unmarshal(m.Payload, &rec) != nil {
				continue
			}
			switch m.Topic {
			case "gateways/hall-3/meter.main":
				meter = rec
			case "gateways/hall-3/board.sensors":
				if rec["chip"] == "rpi_volt" {
					t.Errorf("the grep filter let rpi_volt through: %s", m.Payload)
				}
				if rec["chip"] == "cpu_thermal" {
					board = rec
				}
			}
		}
		return meter != nil && board != nil
	})
	if !ok {
		t.Fatalf("MQTT: meter %v, board %v; messages %v\ngateway log:\n%s", meter, board, live.Messages(), readFile(gwOut))
	}
	for k, want := range map[string]any{"voltage_l1_V": 230.5, "current_l1_A": 5.25, "temperature_C": 21.5,
		"energy_Wh": 4200.0, "model": "EM24-DIN", "breaker_closed": true, "unit_id": 1.0, "site": "hall-3"} {
		if meter[k] != want {
			t.Errorf("meter %s = %#v, want %#v (record %v)", k, meter[k], want, meter)
		}
	}
	if board["temp1_celsius"] != 48.686 || board["site"] != "hall-3" {
		t.Errorf("board record %v", board)
	}

	// Durable: the aggregator received the meter's records over forward.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readFile(aggOut), `"voltage_l1_V":230.5`) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // another process's stdout: nothing to await but the file
	}
	if !strings.Contains(readFile(aggOut), `"voltage_l1_V":230.5`) {
		t.Errorf("the forward server got no meter record:\n%s", readFile(aggOut))
	}
	gw.stop(t)
	agg.stop(t)
}

type agent struct {
	cmd  *exec.Cmd
	done chan error
}

// startAgent runs the binary with args, its output into out, and kills it at the end
// of the test if stop was not called.
func startAgent(t *testing.T, out string, env []string, args ...string) *agent {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{cmd: cmd, done: make(chan error, 1)}
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-a.done
		}
	})
	// Started means its inputs listen: wait for the log line that says so.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readFile(out), "fluentbit-go started") {
		if time.Now().After(deadline) {
			t.Fatalf("%v did not start:\n%s", args, readFile(out))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return a
}

func (a *agent) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("agent exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("agent did not stop within 15s of SIGTERM")
	}
}

func readFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}
