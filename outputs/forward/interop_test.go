package forward

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	fwdin "github.com/fluentbit-go/fluentbit-go/inputs/forward"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// startInput runs our forward input on 127.0.0.1 with extra keys, recording what it
// emits; stop ends it and waits for it.
func startInput(t *testing.T, addr string, kv ...string) (rec *pipelinetest.Recorder, port int, stop func()) {
	t.Helper()
	host, p, _ := net.SplitHostPort(addr)
	props := []config.Property{{Key: "listen", Value: host}, {Key: "port", Value: p}}
	for _, s := range kv {
		k, v, _ := cutSpace(s)
		props = append(props, config.Property{Key: k, Value: v})
	}
	in := fwdin.New()
	if err := pipeline.Configure(in, props); err != nil {
		t.Fatal(err)
	}
	var err error
	// A port just freed may take a moment.
	if !pipelinetest.Eventually(time.Second, func() bool { err = in.Init(context.Background(), env); return err == nil }) {
		t.Fatal(err)
	}
	_, ps, _ := net.SplitHostPort(in.ListenAddr())
	port, _ = strconv.Atoi(ps)
	run := pipelinetest.StartInput(t, struct{ pipeline.Input }{in}, env, nil) // Init was above
	stop = func() {
		if err := run.Stop(); err != nil {
			t.Errorf("input: %v", err)
		}
	}
	return run.Rec, port, stop
}

var env = pipeline.Env{Name: "forward.0", Tag: "forward.0"}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Our output to our input, every mode, plain and over TLS with shared key and users:
// every record arrives as sent (tag, time to the nanosecond, metadata, nested values,
// binary).
func TestOutputToOurInput(t *testing.T) {
	cert := testcert.New(t, "aggregator.test")
	certFile, keyFile := cert.CertFile, cert.KeyFile
	secure := struct{ in, out []string }{
		in:  []string{"tls on", "tls.crt_file " + certFile, "tls.key_file " + keyFile, "shared_key k3y", "self_hostname agg", "security.users edge pw"},
		out: []string{"tls on", "tls.ca_file " + certFile, "shared_key k3y", "username edge", "password pw"},
	}
	modes := map[string][]string{
		"packed":          nil,
		"forward":         {"forward_mode forward"},
		"gzip":            {"compress gzip"},
		"acks":            {"require_ack_response on", "send_options on"},
		"time_as_integer": {"time_as_integer on"},
	}
	for _, sec := range []string{"plain", "tls+shared_key"} {
		for name, kv := range modes {
			t.Run(sec+"/"+name, func(t *testing.T) {
				var inKV, outKV []string
				if sec != "plain" {
					inKV, outKV = secure.in, secure.out
				}
				rec, port, _ := startInput(t, "127.0.0.1:0", inKV...)
				o, _ := newOutput(t, append(append([]string{"port " + strconv.Itoa(port)}, outKV...), kv...)...)
				evs := sample(120, oneDevice)
				for i := 0; i < 3; i++ {
					if err := o.Flush(context.Background(), pipelinetest.MakeChunk("edge.app", evs[i*40:i*40+40]...)); err != nil {
						t.Fatal(err)
					}
				}
				if !rec.Wait(len(evs), 10*time.Second) {
					t.Fatalf("input got %d records, want %d", rec.Len(), len(evs))
				}
				got := rec.Records()
				for i, want := range evs {
					if name == "time_as_integer" {
						want.Time, want.Metadata = time.Unix(want.Time.Unix(), 0), nil
					}
					g := got[i]
					if g.Tag != "edge.app" || !g.Event.Time.Equal(want.Time) || !reflect.DeepEqual(g.Event.Record, want.Record) || !reflect.DeepEqual(g.Event.Metadata, want.Metadata) {
						t.Fatalf("record %d:\n got %s %v %#v %v\nwant %v %#v %v", i, g.Tag, g.Event.Time, g.Event.Record, g.Event.Metadata, want.Time, want.Record, want.Metadata)
					}
				}
			})
		}
	}
}

// Our input stops in the middle of a stream and comes back on the same port: with
// require_ack_response every record arrives.
func TestOurInputRestartedMidStreamWithAcks(t *testing.T) {
	rec1, port, stop := startInput(t, "127.0.0.1:0")
	o, _ := newOutput(t, "port "+strconv.Itoa(port), "require_ack_response on", "net.io_timeout 5s")
	evs := sample(200, oneDevice)
	var rec2 *pipelinetest.Recorder
	for i := 0; i < 20; i++ {
		if i == 8 {
			stop()
		}
		retryUntil(t, o, pipelinetest.MakeChunk("t", evs[i*10:i*10+10]...), func(int) {
			if rec2 == nil {
				rec2, _, _ = startInput(t, "127.0.0.1:"+strconv.Itoa(port))
			}
		})
	}
	if rec2 == nil {
		t.Fatal("no chunk failed while the input was down")
	}
	var all []event.Event
	for _, r := range append(rec1.Records(), rec2.Records()...) {
		all = append(all, r.Event)
	}
	s := seqs(all)
	for i := range evs {
		if s[int64(i)] == 0 {
			t.Fatalf("record %d lost", i)
		}
	}
}

// Two of our inputs as an upstream in failover: the first stops mid-stream, the second
// takes over within the same flushes, and nothing is lost.
func TestFailoverBetweenOurInputs(t *testing.T) {
	rec1, p1, stop1 := startInput(t, "127.0.0.1:0")
	rec2, p2, _ := startInput(t, "127.0.0.1:0")
	up := writeUpstreamPorts(t, p1, p2)
	o, _ := newOutput(t, "upstream "+up, "upstream_mode failover", "require_ack_response on")
	evs := sample(200, oneDevice)
	for i := 0; i < 20; i++ {
		if i == 10 {
			stop1()
		}
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", evs[i*10:i*10+10]...)); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if rec1.Len() != 100 || rec2.Len() != 100 {
		t.Fatalf("first input got %d, second %d; want 100 and 100", rec1.Len(), rec2.Len())
	}
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fwd.sock")
	in := fwdin.New()
	if err := pipeline.Configure(in, []config.Property{{Key: "unix_path", Value: path}}); err != nil {
		t.Fatal(err)
	}
	rec := pipelinetest.StartInput(t, in, env, nil).Rec
	o, _ := newOutput(t, "unix_path "+path, "require_ack_response on")
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("u", sample(7, oneDevice)...)); err != nil {
		t.Fatal(err)
	}
	if rec.Len() != 7 {
		t.Fatalf("got %d records over the Unix socket, want 7", rec.Len())
	}
}
