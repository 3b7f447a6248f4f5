package udp

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const waitFor = 10 * time.Second

type served struct {
	run  *pipelinetest.Running
	logs *pipelinetest.Logs
	addr string
}

func serve(t *testing.T, kv ...string) *served {
	t.Helper()
	in := pipelinetest.Input[*Input](t, "udp", append([]string{"listen", "127.0.0.1", "port", "0"}, kv...)...)
	logs := &pipelinetest.Logs{}
	run := pipelinetest.StartInput(t, in, logs.Env("udp.0"), nil)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &served{run: run, logs: logs, addr: in.ListenAddr()}
}

func (s *served) send(t *testing.T, dgrams ...string) {
	t.Helper()
	c, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range dgrams {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func records(recs []pipelinetest.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(event.AppendJSON(nil, r.Event.Record)))
	}
	return out
}

func TestJSONDatagrams(t *testing.T) {
	s := serve(t, "source_address_key", "from")
	s.send(t, `{"a":1}`, `{"b":2}{"c":3}`+"\n", `not json`, `[1]`)
	got := records(s.run.Wait(4, waitFor))
	for i, w := range []string{`{"a":1,"from":"udp://127.0.0.1:`, `{"b":2,"from":`, `{"c":3,"from":`, `{"msg":[1],"from":`} {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("record %d: %s, want prefix %s", i, got[i], w)
		}
	}
	if s.logs.Count(slog.LevelWarn) != 1 {
		t.Errorf("want one warning for the bad datagram, got %d", s.logs.Count(slog.LevelWarn))
	}
}

func TestFormatNoneSplitsADatagramIntoLines(t *testing.T) {
	s := serve(t, "format", "none")
	s.send(t, "one\ntwo\n", "three")
	got := records(s.run.Wait(3, waitFor))
	if strings.Join(got, " ") != `{"log":"one"} {"log":"two"} {"log":"three"}` {
		t.Errorf("got %v", got)
	}
}

func TestLongDatagramIsCutAtBufferSize(t *testing.T) {
	s := serve(t, "format", "none", "chunk_size", "1", "buffer_size", "1")
	s.send(t, strings.Repeat("z", 3000))
	got := s.run.Wait(1, waitFor)
	if v, _ := got[0].Event.Record.Get("log"); len(v.(string)) != 1024 {
		t.Errorf("got %d bytes, want 1024", len(v.(string)))
	}
}

func TestWithSocat(t *testing.T) {
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat not installed (apt-get install socat)")
	}
	s := serve(t, "format", "none")
	cmd := exec.Command(socat, "-u", "-", "UDP:"+s.addr)
	cmd.Stdin = strings.NewReader("from socat\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("socat: %v: %s", err, out)
	}
	if got := records(s.run.Wait(1, waitFor)); got[0] != `{"log":"from socat"}` {
		t.Errorf("got %v", got)
	}
}

func TestSamePortCanBeBoundAgainWhileOpen(t *testing.T) {
	// A reload starts the new pipeline's input before the old one lets go of its port.
	s := serve(t)
	in := pipelinetest.Input[*Input](t, "udp", "listen", "127.0.0.1", "port", strings.Split(s.addr, ":")[1])
	pipelinetest.Init(t, in, (&pipelinetest.Logs{}).Env("udp.1"))
	in.Close(context.Background())

}

func TestPortHeldByAnotherSocketIsAnError(t *testing.T) {
	// Another process's socket, bound with SO_REUSEPORT as ours are: still "in use".
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1) })
	}}
	other, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	in := pipelinetest.Input[*Input](t, "udp", "listen", "127.0.0.1", "port", strings.Split(other.LocalAddr().String(), ":")[1])
	if err := in.Init(context.Background(), (&pipelinetest.Logs{}).Env("udp.0")); err == nil {
		in.Close(context.Background())
		t.Fatal("bound a port another socket holds")
	}
}
