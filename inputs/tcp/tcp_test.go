package tcp

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
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
	in := pipelinetest.Input[*Input](t, "tcp", append([]string{"listen", "127.0.0.1", "port", "0"}, kv...)...)
	logs := &pipelinetest.Logs{}
	run := pipelinetest.StartInput(t, in, logs.Env("tcp.0"), nil)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &served{run: run, logs: logs, addr: in.ListenAddr()}
}

func (s *served) send(t *testing.T, parts ...string) {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range parts {
		if _, err := c.Write([]byte(p)); err != nil {
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

func TestFormatNoneLinesAreLogRecords(t *testing.T) {
	s := serve(t, "format", "none")
	s.send(t, "first line\nsecond ", "line\r\n", "\nthird")
	got := records(s.run.Wait(3, waitFor))
	want := []string{`{"log":"first line"}`, `{"log":"second line"}`, `{"log":"third"}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if tm := s.run.Rec.Records()[0].Event.Time; time.Since(tm) > time.Minute {
		t.Errorf("time %v, want now", tm)
	}
}

func TestFormatNoneCustomSeparator(t *testing.T) {
	s := serve(t, "format", "none", "separator", `\r\n\r\n`)
	s.send(t, "a\r\nb\r\n\r\nc\r\n\r\n")
	got := records(s.run.Wait(2, waitFor))
	if want := `{"log":"a\r\nb"} {"log":"c"}`; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestJSONSeveralObjectsOnAConnection(t *testing.T) {
	s := serve(t, "source_address_key", "src")
	s.send(t, `{"a":1,"z":"x"}{"b":`, `[1,2]}`+"\n", ` [1,"two"] `, `{"c":{"d":"}"}}`)
	recs := s.run.Wait(4, waitFor)
	got := records(recs)
	for i, w := range []string{`{"a":1,"z":"x","src":"tcp://127.0.0.1:`, `{"b":[1,2],"src":`, `{"msg":[1,"two"],"src":`, `{"c":{"d":"}"},"src":`} {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("record %d: %s, want prefix %s", i, got[i], w)
		}
	}
}

func TestMalformedJSONIsLoggedAndConnectionKept(t *testing.T) {
	s := serve(t)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, `{"ok":1}`+"\n"+`this is not json`+"\n"+`{"bad": tru}`+"\n")
	fmt.Fprint(c, `{"ok":2}`)
	got := records(s.run.Wait(2, waitFor))
	if strings.Join(got, " ") != `{"ok":1} {"ok":2}` {
		t.Errorf("got %v", got)
	}
	if s.logs.Count(slog.LevelWarn) != 2 {
		t.Errorf("want 2 warnings, got %d", s.logs.Count(slog.LevelWarn))
	}
	for _, r := range s.logs.Records() {
		if r.Level == slog.LevelWarn && !strings.Contains(r.Message, "invalid JSON") {
			t.Errorf("warning %q", r.Message)
		}
	}
}

func TestOversizedMessageClosesOnlyItsConnection(t *testing.T) {
	s := serve(t, "format", "none", "chunk_size", "1", "buffer_size", "2")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "fits\n%s\n", strings.Repeat("x", 4096))
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection kept after a message over buffer_size")
	}
	s.send(t, "next\n")
	got := records(s.run.Wait(2, waitFor))
	if strings.Join(got, " ") != `{"log":"fits"} {"log":"next"}` {
		t.Errorf("got %v", got)
	}
}

func TestTLS(t *testing.T) {
	cert := testcert.New(t)
	s := serve(t, "format", "none", "tls", "on", "tls.crt_file", cert.CertFile, "tls.key_file", cert.KeyFile)
	c, err := tls.Dial("tcp", s.addr, cert.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "over tls\n")
	c.Close()
	if got := records(s.run.Wait(1, waitFor)); got[0] != `{"log":"over tls"}` {
		t.Errorf("got %v", got)
	}
}

func TestPausedInputHoldsClientBack(t *testing.T) {
	s := serve(t, "format", "none")
	s.run.Rec.SetPaused(true)
	s.send(t, "while paused\n")
	if !s.run.Rec.Paused() || s.run.Rec.Len() != 0 {
		t.Fatal("recorded while paused")
	}
	s.run.Rec.SetPaused(false)
	if got := records(s.run.Wait(1, waitFor)); got[0] != `{"log":"while paused"}` {
		t.Errorf("got %v", got)
	}
}

func TestWithSocat(t *testing.T) {
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat not installed (apt-get install socat)")
	}
	s := serve(t)
	cmd := exec.Command(socat, "-u", "-", "TCP:"+s.addr)
	cmd.Stdin = strings.NewReader("{\"from\":\"socat\",\"n\":1}\n{\"from\":\"socat\",\"n\":2}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("socat: %v: %s", err, out)
	}
	got := records(s.run.Wait(2, waitFor))
	if strings.Join(got, " ") != `{"from":"socat","n":1} {"from":"socat","n":2}` {
		t.Errorf("got %v", got)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{[]string{"format", "xml"}, "format"},
		{[]string{"chunk_size", "128", "buffer_size", "64"}, "chunk_size"},
		{[]string{"buffer_size", "lots"}, "buffer_size"},
		{[]string{"port", "70000"}, "port"},
		{[]string{"parser", "nope"}, "parser"},
		{[]string{"tls", "on"}, "tls"},
	} {
		err := pipelinetest.Configure("input", "tcp", tc.kv...)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v: error %v, want one naming %s", tc.kv, err, tc.key)
		}
	}
}

func TestFormatNoneWithParser(t *testing.T) {
	s := serve(t, "format", "none", "parser", "syslog-rfc5424")
	s.send(t, "<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 - An application event\nnot syslog\n")
	recs := s.run.Wait(2, waitFor)
	got := records(recs)
	if want := `{"pri":"165","time":"2003-10-11T22:14:15.003Z","host":"mymachine","ident":"evntslog","pid":"-","msgid":"ID47","extradata":"-","message":"An application event"}`; got[0] != want {
		t.Errorf("parsed: %s\nwant    %s", got[0], want)
	}
	if !recs[0].Event.Time.Equal(time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC)) {
		t.Errorf("time %v", recs[0].Event.Time)
	}
	if got[1] != `{"log":"not syslog"}` {
		t.Errorf("unparsed: %s", got[1])
	}
}
