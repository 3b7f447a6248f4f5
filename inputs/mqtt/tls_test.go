package mqtt

import (
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestTLSWithClientCertificate(t *testing.T) {
	f := mosquittotest.MakeTLSFiles(t)
	b := mosquittotest.Start(t, mosquittotest.WithTLS(f, true))
	in, _, subscribed := newInput(t, b, "topics", "secure/#", "tls", "on",
		"tls.ca_file", f.CA, "tls.crt_file", f.ClientCert, "tls.key_file", f.ClientKey)
	rec := pipelinetest.NewRecorder()
	run(t, in, rec)
	waitSubscribed(t, subscribed)
	pubTLS(t, b, f, "secure/a", `{"ok":true}`)
	if !rec.Wait(1, 30*time.Second) {
		t.Fatal("no record over TLS")
	}
	if rec.Records()[0].Event.Record.Value("ok") != true {
		t.Fatalf("record %v", rec.Records()[0].Event.Record)
	}
}

func TestTLSRefusesAnUnknownServer(t *testing.T) {
	f := mosquittotest.MakeTLSFiles(t)
	other := mosquittotest.MakeTLSFiles(t) // a CA that did not sign the server's certificate
	b := mosquittotest.Start(t, mosquittotest.WithTLS(f, false))
	in, logs, _ := newInput(t, b, "topics", "secure/#", "tls", "on", "tls.ca_file", other.CA)
	run(t, in, pipelinetest.NewRecorder())
	waitLog(t, logs, "connect failed", "certificate")
}

func TestWrongPasswordIsLoggedAndRetried(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.WithPassword(t, "dev", "s3cret"))
	in, logs, _ := newInput(t, b, "topics", "a/#", "username", "dev", "password", "wrong")
	run(t, in, pipelinetest.NewRecorder())
	waitLog(t, logs, "connect failed", "not Authorized")

	good, _, subscribed := newInput(t, b, "topics", "a/#", "username", "dev", "password", "s3cret", "client_id", "good")
	run(t, good, pipelinetest.NewRecorder())
	waitSubscribed(t, subscribed)
}

// waitLog waits until a log record's message contains msg and its attributes contain
// detail.
func waitLog(t *testing.T, logs *pipelinetest.Logs, msg, detail string) {
	t.Helper()
	found := func(rs []slog.Record) bool {
		for _, r := range rs {
			if !strings.Contains(r.Message, msg) {
				continue
			}
			var all strings.Builder
			r.Attrs(func(a slog.Attr) bool { all.WriteString(a.String() + " "); return true })
			if strings.Contains(all.String(), detail) {
				return true
			}
		}
		return false
	}
	if logs.Wait(30*time.Second, found) {
		return
	}
	t.Fatalf("no log %q mentioning %q; logs: %v", msg, detail, logs.Records())
}

// pubTLS publishes one QoS 1 message with mosquitto_pub (Debian package
// mosquitto-clients) over TLS with the client certificate.
func pubTLS(t *testing.T, b *mosquittotest.Broker, f mosquittotest.TLSFiles, topic, payload string) {
	t.Helper()
	out, err := exec.Command("mosquitto_pub", "-h", b.Host(), "-p", fmt.Sprint(b.Port()), "-q", "1",
		"--cafile", f.CA, "--cert", f.ClientCert, "--key", f.ClientKey, "-t", topic, "-m", payload).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
}
