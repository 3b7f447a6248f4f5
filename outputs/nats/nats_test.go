package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/natstest"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// wait bounds every wait of these tests.
const wait = 30 * time.Second

// newOutput configures an output as the engine does (host and port of s first, then kv)
// and runs Init; it is closed when the test ends.
func newOutput(t *testing.T, host string, port int, kv ...string) (*Output, *pipelinetest.Logs) {
	t.Helper()
	kv = append([]string{"host", host, "port", fmt.Sprint(port), "timeout", "10s", "reconnect_wait", "50ms"}, kv...)
	o := pipelinetest.Output[*Output](t, "nats", kv...)
	logs := &pipelinetest.Logs{}
	if err := o.Init(context.Background(), logs.Env("nats.0")); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o, logs
}

// logged waits until a log record's message or attributes hold substr.
func logged(t *testing.T, logs *pipelinetest.Logs, substr string) {
	t.Helper()
	text := func(r slog.Record) string {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
		return b.String()
	}
	if !logs.Wait(wait, func(rs []slog.Record) bool {
		for _, r := range rs {
			if strings.Contains(text(r), substr) {
				return true
			}
		}
		return false
	}) {
		var all []string
		for _, r := range logs.Records() {
			all = append(all, text(r))
		}
		t.Fatalf("nothing logged with %q in:\n%s", substr, strings.Join(all, "\n"))
	}
}

// connected waits until the output's client is connected.
func connected(t *testing.T, o *Output) {
	t.Helper()
	if !pipelinetest.Eventually(wait, o.nc.IsConnected) {
		t.Fatalf("the output did not connect to %s", o.Addr())
	}
}

// collector subscribes to subject on nc and keeps the messages.
type collector struct {
	mu   sync.Mutex
	msgs []*natsgo.Msg
	sig  chan struct{}
}

func subscribe(t *testing.T, nc *natsgo.Conn, subject string) *collector {
	t.Helper()
	c := &collector{sig: make(chan struct{}, 1)}
	if _, err := nc.Subscribe(subject, func(m *natsgo.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
		select {
		case c.sig <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitRecords waits until the messages hold n records and returns the messages.
func (c *collector) waitRecords(t *testing.T, n int) []*natsgo.Msg {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		msgs := append([]*natsgo.Msg(nil), c.msgs...)
		c.mu.Unlock()
		got := 0
		for _, m := range msgs {
			got += len(decode(t, m.Data))
		}
		if got >= n {
			return msgs
		}
		select {
		case <-c.sig:
		case <-timer.C:
			t.Fatalf("%d records received, want %d", got, n)
		}
	}
}

// pair is one [time, record] of a message.
type pair struct {
	Time   float64
	Record map[string]any
}

func decode(t *testing.T, data []byte) []pair {
	t.Helper()
	var raw [][2]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("message %q is not a JSON array of pairs: %v", data, err)
	}
	out := make([]pair, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r[0], &out[i].Time); err != nil {
			t.Fatalf("time %s: %v", r[0], err)
		}
		if err := json.Unmarshal(r[1], &out[i].Record); err != nil {
			t.Fatalf("record %s: %v", r[1], err)
		}
	}
	return out
}

func records(tag string, n int, from int) *pipeline.Chunk {
	var evs []event.Event
	for i := from; i < from+n; i++ {
		evs = append(evs, event.Event{Time: time.Unix(1700000000+int64(i), 250000000), Record: event.Map{{"seq", int64(i)}, {"msg", "hello"}}})
	}
	return pipelinetest.MakeChunk(tag, evs...)
}

// The record shape is Fluent Bit's nats output's, byte for byte, as v5.1.1 published
// it (captured with a raw subscriber).
func TestRecordShapeAsFluentBit(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		ev   event.Event
		want string
	}{
		// fluent-bit -i dummy -p 'dummy={"message":"h\u00e9\"\n","f":1.0,"g":0.1,...}' -t my.tag -o nats
		// wrote "h\u00e9\"\n": it escapes every non-ASCII character; this output sends
		// them as UTF-8, the same JSON string (docs/nats.md).
		{"my.tag", event.Event{Time: time.Unix(1700000000, 817359000), Record: event.Map{{"message", "hé\"\n"}, {"f", 1.0}, {"g", 0.1}, {"big", uint64(18446744073709551615)}, {"neg", int64(-3)}}},
			`[1700000000.817359,{"tag":"my.tag","message":"hé\"\n","f":1.0,"g":0.1,"big":18446744073709551615,"neg":-3}]`},
		// A record with a "tag" key of its own keeps it, where it is, and gets no other.
		{"my.tag", event.Event{Time: time.Unix(1796521741, 474453000), Record: event.Map{{"message", "hi"}, {"n", int64(1)}, {"f", 1.5}, {"tag", "x"}, {"m", event.Map{{"a", []any{int64(1), int64(2)}}}}}},
			`[1796521741.474453,{"message":"hi","n":1,"f":1.5,"tag":"x","m":{"a":[1,2]}}]`},
		{"t", event.Event{Time: time.Unix(1700000000, 0), Record: event.Map{}}, `[1700000000.0,{"tag":"t"}]`},
	} {
		got := string(appendRecord(nil, &tc.ev, event.AppendJSON(nil, tc.tag)))
		if got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// Core NATS: what a subscriber receives is the chunk's records, in order, on the tag.
func TestCorePublishSubscribe(t *testing.T) {
	s := natstest.Start(t)
	sub := natstest.Connect(t, s.URL())
	col := subscribe(t, sub, ">")
	o, _ := newOutput(t, s.Host(), s.Port())
	connected(t, o)
	if err := o.Flush(context.Background(), records("sensors.kitchen", 50, 0)); err != nil {
		t.Fatal(err)
	}
	msgs := col.waitRecords(t, 50)
	if len(msgs) != 1 || msgs[0].Subject != "sensors.kitchen" {
		t.Fatalf("%d messages, first on %q: want one on the tag", len(msgs), msgs[0].Subject)
	}
	for i, p := range decode(t, msgs[0].Data) {
		if p.Time != 1700000000.25+float64(i) || p.Record["seq"] != float64(i) || p.Record["tag"] != "sensors.kitchen" || p.Record["msg"] != "hello" {
			t.Fatalf("record %d: %+v", i, p)
		}
	}
}

// A chunk larger than the server's max_payload goes out as several messages within it,
// every record once and in order; a record that alone is larger is left out and logged.
func TestSplitsAtMaxPayload(t *testing.T) {
	s := natstest.Start(t, natstest.WithLines("max_payload: 2048"))
	sub := natstest.Connect(t, s.URL())
	col := subscribe(t, sub, "big")
	o, logs := newOutput(t, s.Host(), s.Port())
	connected(t, o)
	c := records("big", 300, 0)
	huge := pipelinetest.MakeChunk("big", event.Event{Time: time.Unix(1, 0), Record: event.Map{{"blob", strings.Repeat("x", 4096)}}})
	if err := o.Flush(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background(), huge); err != nil {
		t.Fatal(err)
	}
	msgs := col.waitRecords(t, 300)
	next := 0
	for _, m := range msgs {
		if len(m.Data) > 2048 {
			t.Errorf("a message of %d bytes, over max_payload", len(m.Data))
		}
		for _, p := range decode(t, m.Data) {
			if p.Record["seq"] != float64(next) {
				t.Fatalf("record %v, want seq %d", p.Record, next)
			}
			next++
		}
	}
	if len(msgs) < 8 || next != 300 {
		t.Fatalf("%d messages with %d records", len(msgs), next)
	}
	logged(t, logs, "larger than a message")
}

// The subject template takes record keys; records go out grouped by subject.
func TestSubjectTemplate(t *testing.T) {
	s := natstest.Start(t)
	sub := natstest.Connect(t, s.URL())
	col := subscribe(t, sub, "fleet.>")
	o, logs := newOutput(t, s.Host(), s.Port(), "subject", "fleet.$device.$TAG[1]")
	connected(t, o)
	c := pipelinetest.MakeChunk("sensors.temp",
		event.Event{Time: time.Unix(1, 0), Record: event.Map{{"device", "pi 7"}, {"v", int64(1)}}},
		event.Event{Time: time.Unix(2, 0), Record: event.Map{{"device", "pi8"}, {"v", int64(2)}}},
		event.Event{Time: time.Unix(3, 0), Record: event.Map{{"v", int64(3)}}},
		event.Event{Time: time.Unix(4, 0), Record: event.Map{{"device", "pi 7"}, {"v", int64(4)}}},
		event.Event{Time: time.Unix(5, 0), Record: event.Map{{"device", strings.Repeat("d", 3000)}, {"v", int64(5)}}})
	if err := o.Flush(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	msgs := col.waitRecords(t, 3)
	got := map[string][]any{}
	for _, m := range msgs {
		for _, p := range decode(t, m.Data) {
			got[m.Subject] = append(got[m.Subject], p.Record["v"])
		}
	}
	if fmt.Sprint(got) != "map[fleet.pi8.temp:[2] fleet.pi_7.temp:[1 4]]" {
		t.Fatalf("by subject: %v", got)
	}
	logged(t, logs, "records without the subject's record key")
}

func TestBadKeys(t *testing.T) {
	for _, kv := range [][]string{
		{"port", "0"},
		{"subject", "a.*"},
		{"subject", "a b"},
		{"stream", "S"},
		{"jetstream", "on", "stream", "a.b"},
		{"password", "p"},
		{"user", "u", "token", "t"},
		{"servers", "127.0.0.1"},
		{"servers", "http://127.0.0.1:1"},
		{"max_pending", "0"},
	} {
		if err := pipelinetest.Configure("output", "nats", kv...); err == nil {
			t.Errorf("%v: accepted", kv)
		} else if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(kv[len(kv)-2])) && !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%v: %v does not name the key", kv, err)
		}
	}
}

// Flushing while the server is down is a retry; once it is back the same chunk goes out.
func TestCoreServerDownIsRetried(t *testing.T) {
	s := natstest.Start(t)
	o, _ := newOutput(t, s.Host(), s.Port())
	connected(t, o)
	s.Kill()
	if !pipelinetest.Eventually(wait, func() bool { return !o.nc.IsConnected() }) {
		t.Fatal("the output did not see the server go")
	}
	err := o.Flush(context.Background(), records("down", 5, 0))
	if !pipeline.IsRetry(err) {
		t.Fatalf("flush with the server down: %v, want a retry", err)
	}
	s.Start()
	sub := natstest.Connect(t, s.URL())
	col := subscribe(t, sub, "down")
	connected(t, o)
	if err := o.Flush(context.Background(), records("down", 5, 0)); err != nil {
		t.Fatal(err)
	}
	col.waitRecords(t, 5)
}

// A publish the server's permissions deny is not reported delivered.
func TestCoreDeniedPublishIsRetried(t *testing.T) {
	s := natstest.Start(t, natstest.WithLines(`authorization { users = [ { user: dev, password: pw, permissions: { publish: "allowed.>" } } ] }`))
	o, _ := newOutput(t, s.Host(), s.Port(), "user", "dev", "password", "pw")
	connected(t, o)
	if err := o.Flush(context.Background(), records("allowed.x", 2, 0)); err != nil {
		t.Fatalf("allowed subject: %v", err)
	}
	err := o.Flush(context.Background(), records("denied", 2, 0))
	if !pipeline.IsRetry(err) || !strings.Contains(err.Error(), "Permissions Violation") {
		t.Fatalf("denied subject: %v, want a retry naming the violation", err)
	}
}

// Credentials: user/password, token and an nkey seed file; a wrong password never
// connects and flushes are retried.
func TestAuthentication(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := t.TempDir() + "/user.nk"
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		server string
		kv     []string
	}{
		{"user", `authorization { user: dev, password: "s3 cret" }`, []string{"user", "dev", "password", "s3 cret"}},
		{"token", `authorization { token: "t0ken" }`, []string{"token", "t0ken"}},
		{"nkey", `authorization { users = [ { nkey: ` + pub + ` } ] }`, []string{"nkey", seedFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := natstest.Start(t, natstest.WithLines(tc.server))
			o, _ := newOutput(t, s.Host(), s.Port(), tc.kv...)
			connected(t, o)
			if err := o.Flush(context.Background(), records("auth", 1, 0)); err != nil {
				t.Fatal(err)
			}
		})
	}
	s := natstest.Start(t, natstest.WithLines(`authorization { user: dev, password: right }`))
	o, logs := newOutput(t, s.Host(), s.Port(), "user", "dev", "password", "wrong")
	logged(t, logs, "uthorization")
	if err := o.Flush(context.Background(), records("auth", 1, 0)); !pipeline.IsRetry(err) {
		t.Fatalf("wrong password: %v, want a retry", err)
	}
	if err := pipelinetest.Configure("output", "nats", "nkey", "/nonexistent/seed"); err != nil {
		t.Fatalf("configure: %v", err)
	}
	bad := pipelinetest.Output[*Output](t, "nats", "nkey", "/nonexistent/seed")
	if err := bad.Init(context.Background(), pipeline.Env{}); err == nil || !strings.Contains(err.Error(), "nkey") {
		t.Fatalf("a missing seed file: %v, want an error naming nkey", err)
	}
}

// TLS with the shared tls.* keys: the server's certificate verified against tls.ca_file.
func TestTLS(t *testing.T) {
	cert := testcert.New(t)
	s := natstest.Start(t, natstest.WithLines(fmt.Sprintf("tls { cert_file: %q, key_file: %q }", cert.CertFile, cert.KeyFile)))
	sub := natstest.Connect(t, s.URL(), natsgo.Secure(cert.ClientConfig()))
	col := subscribe(t, sub, "secure")
	o, _ := newOutput(t, s.Host(), s.Port(), "tls", "on", "tls.ca_file", cert.CertFile)
	connected(t, o)
	if err := o.Flush(context.Background(), records("secure", 3, 0)); err != nil {
		t.Fatal(err)
	}
	col.waitRecords(t, 3)
	// Without the CA the certificate is not trusted: never connected, flushes retried.
	o2, logs := newOutput(t, s.Host(), s.Port(), "tls", "on")
	logged(t, logs, "certificate")
	if err := o2.Flush(context.Background(), records("secure", 1, 0)); !pipeline.IsRetry(err) {
		t.Fatalf("untrusted server: %v, want a retry", err)
	}
}

// addStream creates a stream capturing subjects with the given replicas.
func addStream(t *testing.T, urls, name string, replicas int, subjects ...string) jetstream.JetStream {
	t.Helper()
	nc := natstest.Connect(t, urls)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Replicas: replicas, Duplicates: 5 * time.Minute}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
	return js
}

// readStream reads every message of the stream, one request a sequence number to the
// stream leader (which needs no consumer, so it works with a node down), and returns the
// records' seq values in stream order.
func readStream(t *testing.T, js jetstream.JetStream, stream string) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d of %d..%d: %v", seq, info.State.FirstSeq, info.State.LastSeq, err)
		}
		for _, p := range decode(t, m.Data) {
			seqs = append(seqs, int(p.Record["seq"].(float64)))
		}
	}
	return seqs
}

// exactlyOnce checks seqs holds 0..n-1, each once.
func exactlyOnce(t *testing.T, seqs []int, n int) {
	t.Helper()
	count := make([]int, n)
	for _, s := range seqs {
		if s < 0 || s >= n {
			t.Fatalf("seq %d out of range", s)
		}
		count[s]++
	}
	var missing, dup []int
	for i, c := range count {
		if c == 0 {
			missing = append(missing, i)
		} else if c > 1 {
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d records stored for %d: missing %d (%v...), stored more than once %d (%v...)", len(seqs), n, len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []int) []int { return s[:min(len(s), 10)] }

// JetStream: a flush returns once the stream stored the records; the same chunk flushed
// again (a retry) is recognised by its Nats-Msg-Ids and not stored twice.
func TestJetStreamStoresOnceAcrossRetries(t *testing.T) {
	s := natstest.Start(t, natstest.WithJetStream(), natstest.WithLines("max_payload: 4096"))
	js := addStream(t, s.URL(), "TELEMETRY", 1, "tele.>")
	o, _ := newOutput(t, s.Host(), s.Port(), "jetstream", "on", "stream", "TELEMETRY", "max_pending", "3")
	connected(t, o)
	c := records("tele.a", 200, 0)
	for i := 0; i < 3; i++ {
		if err := o.Flush(context.Background(), c); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if err := o.Flush(context.Background(), records("tele.a", 100, 200)); err != nil {
		t.Fatal(err)
	}
	seqs := readStream(t, js, "TELEMETRY")
	exactlyOnce(t, seqs, 300)
	for i, s := range seqs {
		if s != i {
			t.Fatalf("stream order: record %d is seq %d", i, s)
		}
	}
}

// A stream that does not exist is a retry with an error that says so; so is a subject no
// stream captures.
func TestJetStreamMissingStream(t *testing.T) {
	s := natstest.Start(t, natstest.WithJetStream())
	o, _ := newOutput(t, s.Host(), s.Port(), "jetstream", "on", "stream", "NOPE")
	connected(t, o)
	err := o.Flush(context.Background(), records("x", 1, 0))
	if !pipeline.IsRetry(err) || !strings.Contains(err.Error(), `stream "NOPE" does not exist`) {
		t.Fatalf("missing stream: %v", err)
	}
	o2, _ := newOutput(t, s.Host(), s.Port(), "jetstream", "on")
	connected(t, o2)
	err = o2.Flush(context.Background(), records("nowhere", 1, 0))
	if !pipeline.IsRetry(err) || !strings.Contains(err.Error(), `no JetStream stream answered for subject "nowhere"`) {
		t.Fatalf("uncaptured subject: %v", err)
	}
	// The stream appears: the next flush delivers.
	js := addStream(t, s.URL(), "NOPE", 1, "x")
	if err := o.Flush(context.Background(), records("x", 1, 0)); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, readStream(t, js, "NOPE"), 1)
}

// A server down when the agent starts does not stop it: flushes are retried, and the
// seeds in servers are tried too.
func TestDownAtStartAndSeedServers(t *testing.T) {
	dead := natstest.Start(t)
	dead.Kill()
	o, logs := newOutput(t, dead.Host(), dead.Port())
	if err := o.Flush(context.Background(), records("seed", 1, 0)); !pipeline.IsRetry(err) {
		t.Fatalf("no server: %v, want a retry", err)
	}
	logged(t, logs, "cannot connect")

	live := natstest.Start(t)
	sub := natstest.Connect(t, live.URL())
	col := subscribe(t, sub, "seed")
	o2, _ := newOutput(t, dead.Host(), dead.Port(), "servers", fmt.Sprintf("127.0.0.1:1, %s", live.URL()))
	connected(t, o2)
	if err := o2.Flush(context.Background(), records("seed", 2, 0)); err != nil {
		t.Fatal(err)
	}
	col.waitRecords(t, 2)
}
