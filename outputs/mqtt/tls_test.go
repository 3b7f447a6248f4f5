package mqtt

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/mosquittotest"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestPublishesOverTLSWithClientCertificate(t *testing.T) {
	f := mosquittotest.MakeTLSFiles(t)
	b := mosquittotest.Start(t, mosquittotest.WithTLS(f, true))
	// mosquitto_sub (Debian package mosquitto-clients) is the subscriber: a real client
	// with its own TLS stack. -C 1 exits after one message, -W bounds the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, "mosquitto_sub", "-h", b.Host(), "-p", fmt.Sprint(b.Port()), "-q", "1",
		"--cafile", f.CA, "--cert", f.ClientCert, "--key", f.ClientKey, "-t", "tls/#", "-C", "1", "-W", "25", "-v")
	var out strings.Builder
	sub.Stdout = &out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	o, _ := newOutput(t, b, "topic", "tls/$TAG", "tls", "on", "tls.ca_file", f.CA, "tls.crt_file", f.ClientCert, "tls.key_file", f.ClientKey)
	chunk := pipelinetest.MakeChunk("secure", event.Event{Time: time.Unix(1, 0), Record: event.Map{{"ok", true}}})
	// mosquitto_sub may not have subscribed yet: a retained message reaches it either way.
	o.Retain = true
	if err := o.Flush(context.Background(), chunk); err != nil {
		t.Fatal(err)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v; output %q", err, out.String())
	}
	if !strings.Contains(out.String(), `tls/secure {"date":1.0,"ok":true}`) {
		t.Fatalf("mosquitto_sub got %q", out.String())
	}
}
