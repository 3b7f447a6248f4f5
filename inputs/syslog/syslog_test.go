package syslog

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const waitFor = 10 * time.Second

type served struct {
	in   *Input
	run  *pipelinetest.Running
	logs *pipelinetest.Logs
	addr string
}

func serve(t *testing.T, kv ...string) *served {
	t.Helper()
	in := pipelinetest.Input[*Input](t, "syslog", append([]string{"listen", "127.0.0.1", "port", "0"}, kv...)...)
	logs := &pipelinetest.Logs{}
	run := pipelinetest.StartInput(t, in, logs.Env("syslog.0"), nil)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &served{in: in, run: run, logs: logs, addr: in.ListenAddr()}
}

// logger runs util-linux's logger with args.
func logger(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("logger")
	if err != nil {
		t.Skip("util-linux logger not installed (apt-get install bsdutils)")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("logger %v: %v: %s", args, err, out)
	}
}

func (s *served) port() string {
	_, p, _ := net.SplitHostPort(s.addr)
	return p
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// check compares the record's keys with want; a want value starting with ~ is a regexp.
func check(t *testing.T, rec event.Map, want map[string]string) {
	t.Helper()
	for k, w := range want {
		v, ok := rec.Get(k)
		if !ok {
			t.Errorf("record %s: no key %s", event.AppendJSON(nil, rec), k)
			continue
		}
		s := fmt.Sprint(v)
		if strings.HasPrefix(w, "~") {
			if !regexp.MustCompile(w[1:]).MatchString(s) {
				t.Errorf("%s = %q, want match of %s", k, s, w[1:])
			}
		} else if s != w {
			t.Errorf("%s = %q, want %q", k, s, w)
		}
	}
	if len(rec) != len(want) {
		t.Errorf("record %s: %d keys, want %d", event.AppendJSON(nil, rec), len(rec), len(want))
	}
}

func rfc5424Record(t *testing.T, msg, src string) map[string]string {
	m := map[string]string{
		"pri": "13", "time": `~^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$`, "host": hostname(t),
		"ident": "app", "pid": `~^\d+$`, "msgid": "ID7", "extradata": `~^\[timeQuality .*\]$`, "message": msg,
	}
	if src != "" {
		m["src"] = src
	}
	return m
}

func TestLoggerRFC5424OverUDP(t *testing.T) {
	s := serve(t, "mode", "udp", "source_address_key", "src")
	logger(t, "--server", "127.0.0.1", "--port", s.port(), "--udp", "--rfc5424", "-t", "app", "-i", "--msgid", "ID7", "hello over udp")
	rec := s.run.Wait(1, waitFor)[0]
	check(t, rec.Event.Record, rfc5424Record(t, "hello over udp", `~^udp://127\.0\.0\.1:\d+$`))
	if d := time.Since(rec.Event.Time); d < 0 || d > time.Minute {
		t.Errorf("time %v is not the message's (now %v)", rec.Event.Time, time.Now())
	}
}

func TestLoggerRFC5424OverTCPNewlineFraming(t *testing.T) {
	s := serve(t, "mode", "tcp")
	logger(t, "--server", "127.0.0.1", "--port", s.port(), "--tcp", "--rfc5424", "-t", "app", "-i", "--msgid", "ID7", "first over tcp")
	logger(t, "--server", "127.0.0.1", "--port", s.port(), "--tcp", "--rfc5424", "-t", "app", "-i", "--msgid", "ID7", "second over tcp")
	recs := s.run.Wait(2, waitFor)
	check(t, recs[0].Event.Record, rfc5424Record(t, "first over tcp", ""))
	check(t, recs[1].Event.Record, rfc5424Record(t, "second over tcp", ""))
}

func TestLoggerOctetCountingOverTCP(t *testing.T) {
	s := serve(t, "mode", "tcp", "format", "octet_counting", "raw_message_key", "raw")
	logger(t, "--server", "127.0.0.1", "--port", s.port(), "--tcp", "--octet-count", "--rfc5424", "-t", "app", "-i", "--msgid", "ID7", "counted")
	rec := s.run.Wait(1, waitFor)[0].Event.Record
	want := rfc5424Record(t, "counted", "")
	want["raw"] = `~^<13>1 .* counted$`
	check(t, rec, want)
}

func TestLoggerRFC3164OverUDP(t *testing.T) {
	s := serve(t, "mode", "udp", "parser", "syslog-rfc3164")
	logger(t, "--server", "127.0.0.1", "--port", s.port(), "--udp", "--rfc3164", "-p", "local0.warning", "-t", "bsdapp", "-i", "old style")
	rec := s.run.Wait(1, waitFor)[0]
	check(t, rec.Event.Record, map[string]string{
		"pri": "132", "time": `~^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d$`, "host": `~^[^ ]+$`,
		"ident": "bsdapp", "pid": `~^\d+$`, "message": "old style",
	})
	// No year and no zone in RFC 3164: this year, UTC, as Fluent Bit reads it.
	if rec.Event.Time.Year() != time.Now().Year() {
		t.Errorf("time %v", rec.Event.Time)
	}
}

func TestLoggerOnUnixDatagramSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	s := serve(t, "mode", "unix_udp", "path", path, "unix_perm", "0600", "source_address_key", "src")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v, want mode 0600", fi, err)
	}
	logger(t, "--socket", s.addr, "--socket-errors=on", "-d", "-t", "localapp", "-i", "local message")
	check(t, s.run.Wait(1, waitFor)[0].Event.Record, map[string]string{
		"pri": "13", "time": `~^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d$`, "ident": "localapp", "pid": `~^\d+$`,
		"message": "local message", "src": "unix://unavailable", // as Fluent Bit 5.1.1 for logger
	})
}

func TestLoggerOnUnixStreamSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	s := serve(t, "mode", "unix_tcp", "path", path)
	logger(t, "--socket", s.addr, "--socket-errors=on", "-T", "-t", "localapp", "stream one")
	logger(t, "--socket", s.addr, "--socket-errors=on", "-T", "-t", "localapp", "stream two")
	recs := s.run.Wait(2, waitFor)
	for i, msg := range []string{"stream one", "stream two"} {
		check(t, recs[i].Event.Record, map[string]string{
			"pri": "13", "time": `~^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d$`, "ident": "localapp", "message": msg,
		})
	}
}

func TestTLSOnTCP(t *testing.T) {
	cert := testcert.New(t)
	s := serve(t, "mode", "tcp", "tls", "on", "tls.crt_file", cert.CertFile, "tls.key_file", cert.KeyFile)
	c, err := tls.Dial("tcp", s.addr, cert.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - An application event\n")
	c.Close()
	rec := s.run.Wait(1, waitFor)[0]
	check(t, rec.Event.Record, map[string]string{
		"pri": "165", "time": "2003-10-11T22:14:15.003Z", "host": "mymachine.example.com", "ident": "evntslog",
		"pid": "-", "msgid": "ID47", "extradata": "-", "message": "An application event",
	})
	if want := time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC); !rec.Event.Time.Equal(want) {
		t.Errorf("time %v, want %v", rec.Event.Time, want)
	}
}

func TestUnparsableMessageIsKeptAndLogged(t *testing.T) {
	s := serve(t, "mode", "udp")
	c, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("not syslog at all\n"))
	check(t, s.run.Wait(1, waitFor)[0].Event.Record, map[string]string{"message": "not syslog at all"})
	if s.logs.Count(slog.LevelWarn) != 1 {
		t.Errorf("want one warning, got %d", s.logs.Count(slog.LevelWarn))
	}
}

func TestBadFrameClosesConnection(t *testing.T) {
	s := serve(t, "mode", "tcp", "format", "octet_counting")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "<13>1 not counted\n")
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after a bad frame")
	}
	if !s.logs.Wait(waitFor, func(rs []slog.Record) bool {
		for _, r := range rs {
			if r.Level == slog.LevelWarn && strings.Contains(r.Message, "closing connection") {
				return true
			}
		}
		return false
	}) {
		t.Error("bad frame not logged")
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{[]string{"mode", "sctp"}, "mode"},
		{[]string{"mode", "unix_udp"}, "path"},
		{[]string{"mode", "udp", "parser", "nope"}, "parser"},
		{[]string{"mode", "udp", "format", "lines"}, "format"},
		{[]string{"mode", "unix_tcp", "path", "/tmp/x", "unix_perm", "rw"}, "unix_perm"},
		{[]string{"mode", "udp", "buffer_chunk_size", "64K", "buffer_max_size", "32K"}, "buffer_max_size"},
		{[]string{"mode", "udp", "tls", "on", "tls.crt_file", "a", "tls.key_file", "b"}, "tls"},
	} {
		err := pipelinetest.Configure("input", "syslog", tc.kv...)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v: error %v, want one naming %s", tc.kv, err, tc.key)
		}
	}
}

func TestDefaultParserDependsOnMode(t *testing.T) {
	for mode, want := range map[string]string{"udp": "syslog-rfc5424", "tcp": "syslog-rfc5424", "unix_udp": "syslog-rfc3164-local", "unix_tcp": "syslog-rfc3164-local"} {
		in, err := pipelinetest.As[*Input](pipelinetest.NewInput("syslog", "mode", mode, "path", "/tmp/x.sock"))
		if err != nil {
			t.Fatal(err)
		}
		if got := in.parser.Name(); got != want {
			t.Errorf("mode %s: parser %s, want %s", mode, got, want)
		}
	}
}
