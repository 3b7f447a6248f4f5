package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
	"github.com/fluentbit-go/fluentbit-go/upstream"
)

// newOutput configures an output from "key value" pairs, as the engine would, and inits it.
func newOutput(t *testing.T, kv ...string) (*Output, *pipelinetest.Logs) {
	t.Helper()
	o, err := configure(kv...)
	if err != nil {
		t.Fatal(err)
	}
	logs := &pipelinetest.Logs{}
	pipelinetest.Init(t, o, logs.Env("forward.0"))
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o, logs
}

// configure configures an output from "key value" strings, as the engine would.
func configure(lines ...string) (*Output, error) {
	var kv []string
	for _, l := range lines {
		k, v, _ := strings.Cut(l, " ")
		kv = append(kv, k, v)
	}
	return pipelinetest.As[*Output](pipelinetest.NewOutput("forward", kv...))
}

// sample returns n events with what must survive the trip: nanosecond times, nested
// maps, arrays, binary values, metadata on some.
func sample(n int, device func(i int) string) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			Time:   time.Unix(1795366514+int64(i), int64(i*7919+1)%1e9),
			Record: event.Map{{"seq", int64(i)}, {"device_id", device(i)}, {"nested", event.Map{{"a", []any{int64(1), "two", 3.5}}, {"b", event.Map{{"deep", true}}}}}, {"blob", []byte{0, 1, 2, 0xff, byte(i)}}, {"msg", strings.Repeat("x", i%50)}},
		}
		if i%3 == 0 {
			evs[i].Metadata = event.Map{{"source", "test"}}
		}
	}
	return evs
}

func oneDevice(int) string { return "dev-1" }

func TestModesDeliverEveryRecordAsSent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kv       []string
		mode     forward.Mode
		intTimes bool
	}{
		{"packed", nil, forward.ModePackedForward, false},
		{"forward", []string{"forward_mode forward"}, forward.ModeForward, false},
		{"gzip", []string{"compress gzip"}, forward.ModeCompressedPackedForward, false},
		{"acks", []string{"require_ack_response on"}, forward.ModePackedForward, false},
		{"send_options", []string{"send_options on", "add_option region eu"}, forward.ModePackedForward, false},
		{"time_as_integer", []string{"time_as_integer on"}, forward.ModePackedForward, true},
		{"time_as_integer gzip acks", []string{"time_as_integer on", "compress gzip", "require_ack_response on"}, forward.ModeCompressedPackedForward, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, nil, nil)
			o, _ := newOutput(t, append([]string{"host 127.0.0.1", "port " + strconv.Itoa(srv.port())}, tc.kv...)...)
			evs := sample(200, oneDevice)
			for _, part := range [][]event.Event{evs[:100], evs[100:]} {
				if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app.log", part...)); err != nil {
					t.Fatal(err)
				}
			}
			srv.waitRecords(t, len(evs))
			for _, m := range srv.messages() {
				if m.Mode != tc.mode {
					t.Errorf("mode %s, want %s", m.Mode, tc.mode)
				}
			}
			tags, got := srv.events(t)
			if len(got) != len(evs) {
				t.Fatalf("got %d records, want %d", len(got), len(evs))
			}
			for i := range evs {
				want := evs[i]
				if tc.intTimes {
					want.Time = time.Unix(want.Time.Unix(), 0)
					want.Metadata = nil
				}
				if tags[i] != "app.log" || !got[i].Time.Equal(want.Time) || !reflect.DeepEqual(got[i].Record, want.Record) || !reflect.DeepEqual(got[i].Metadata, want.Metadata) {
					t.Fatalf("record %d:\n got %s %v %#v %v\nwant %v %#v %v", i, tags[i], got[i].Time, got[i].Record, got[i].Metadata, want.Time, want.Record, want.Metadata)
				}
			}
		})
	}
}

func TestOptionsAndTagOverride(t *testing.T) {
	srv := newServer(t, nil, nil)
	o, _ := newOutput(t, "port "+strconv.Itoa(srv.port()), "tag aggregated", "require_ack_response on", "add_option region eu-1")
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("app", sample(3, oneDevice)...)); err != nil {
		t.Fatal(err)
	}
	m := srv.messages()[0]
	if m.Tag != "aggregated" || m.Options.Size != 3 || len(m.Options.Chunk) != 24 {
		t.Fatalf("tag %q, options %+v", m.Tag, m.Options)
	}
	if !bytes.Contains(m.Raw, []byte("\xa6region\xa4eu-1")) {
		t.Errorf("add_option not in the message: %q", m.Raw)
	}
}

// TestBytesMatchFluentBit compares what the output sends, in Forward mode (the form
// Fluent Bit sends), with what Fluent Bit v5.1.1 sent for the same entries and settings.
func TestBytesMatchFluentBit(t *testing.T) {
	for _, tc := range []struct {
		file string
		kv   []string
	}{
		{"out_forward_default.bin", nil},
		{"out_forward_no_metadata.bin", nil},
		{"out_forward_send_options.bin", []string{"send_options on"}},
		{"out_forward_require_ack.bin", []string{"require_ack_response on"}},
		{"out_forward_time_as_integer.bin", []string{"time_as_integer on"}},
		{"out_forward_gzip.bin", []string{"compress gzip"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fluentbit-captures", "forward", tc.file))
			if err != nil {
				t.Skipf("capture not available: %v", err)
			}
			dec := forward.NewDecoder(bytes.NewReader(data), forward.Limits{})
			want, err := dec.ReadRaw()
			if err != nil {
				t.Fatal(err)
			}
			m, err := forward.DecodeMessage(want, forward.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			chunk := &pipeline.Chunk{Tag: m.Tag, Data: append([]byte(nil), m.Entries...), Records: m.Count}
			if strings.Contains(tc.file, "time_as_integer") {
				// Fluent Bit held EventTimes; the capture shows them made integers.
				// Build such entries, records kept byte for byte (a Go map would reorder keys).
				chunk.Data = nil
				for b := m.Entries; len(b) > 0; {
					rest, err := event.SkipEntry(b)
					if err != nil {
						t.Fatal(err)
					}
					entry := b[:len(b)-len(rest)]
					b = rest
					sec, record, err := splitEntry(entry)
					if err != nil {
						t.Fatal(err)
					}
					chunk.Data = append(chunk.Data, 0x92, 0x92)
					chunk.Data = event.AppendTime(chunk.Data, time.Unix(int64(sec), 123456789))
					chunk.Data = append(chunk.Data, 0x80)
					chunk.Data = append(chunk.Data, record...)
				}
			}
			srv := newServer(t, nil, nil)
			o, _ := newOutput(t, append([]string{"port " + strconv.Itoa(srv.port()), "forward_mode forward"}, tc.kv...)...)
			if err := o.Flush(context.Background(), chunk); err != nil {
				t.Fatal(err)
			}
			srv.waitRecords(t, m.Count)
			got := srv.messages()[0].Raw
			switch {
			case strings.Contains(tc.file, "require_ack"):
				// The chunk id is random: compare with it blanked.
				got = bytes.Replace(got, []byte(srv.messages()[0].Options.Chunk), []byte(m.Options.Chunk), 1)
			case strings.Contains(tc.file, "gzip"):
				// Compressors differ; the entries inside and the options must not.
				gm, err := forward.DecodeMessage(got, forward.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gm.Entries, m.Entries) || gm.Options != m.Options {
					t.Fatalf("gzip message differs: options %+v, want %+v", gm.Options, m.Options)
				}
				if !bytes.Equal(optionBytes(t, got), optionBytes(t, want)) {
					t.Fatalf("option bytes %x, want %x", optionBytes(t, got), optionBytes(t, want))
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("bytes differ from Fluent Bit's\n got %x\nwant %x", got, want)
			}
		})
	}
}

// optionBytes returns the option map at the end of a 3-element message.
func optionBytes(t *testing.T, msg []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(msg, []byte{0xdf})
	if i < 0 {
		t.Fatalf("no map32 in %x", msg)
	}
	return msg[i:]
}

func TestTLSWithSharedKeyAndUsers(t *testing.T) {
	cert := testcert.New(t, "aggregator.test")
	certFile, keyFile, srvTLS := cert.CertFile, cert.KeyFile, cert.ServerConfig()
	_ = keyFile
	auth := &forward.ServerAuth{SharedKey: "s3cret", Hostname: "aggregator", Users: map[string]string{"edge": "pw"}, Keepalive: true}
	srv := newServer(t, srvTLS, auth)
	port := "port " + strconv.Itoa(srv.port())
	o, _ := newOutput(t, port, "tls on", "tls.verify on", "tls.ca_file "+certFile, "tls.vhost aggregator.test",
		"shared_key s3cret", "self_hostname pi-7", "username edge", "password pw", "require_ack_response on", "compress gzip")
	evs := sample(50, oneDevice)
	for i := 0; i < 5; i++ {
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("secure", evs[i*10:i*10+10]...)); err != nil {
			t.Fatal(err)
		}
	}
	_, got := srv.events(t)
	if len(got) != 50 || !reflect.DeepEqual(got[49].Record, evs[49].Record) {
		t.Fatalf("got %d records", len(got))
	}
	if n := srv.connections(); n != 1 {
		t.Errorf("%d connections for 5 chunks, want 1 (keepalive)", n)
	}

	for name, kv := range map[string][]string{
		"wrong shared key": {port, "tls on", "tls.ca_file " + certFile, "shared_key nope", "username edge", "password pw"},
		"wrong password":   {port, "tls on", "tls.ca_file " + certFile, "shared_key s3cret", "username edge", "password nope"},
		"untrusted cert":   {port, "tls on", "shared_key s3cret", "username edge", "password pw"},
		"no tls":           {port, "shared_key s3cret", "username edge", "password pw", "net.io_timeout 2s"},
	} {
		t.Run(name, func(t *testing.T) {
			bad, _ := newOutput(t, kv...)
			err := bad.Flush(context.Background(), pipelinetest.MakeChunk("secure", evs[0]))
			if err == nil || !pipeline.IsRetry(err) {
				t.Fatalf("err = %v, want a retryable error", err)
			}
		})
	}
	if _, got := srv.events(t); len(got) != 50 {
		t.Fatalf("records from refused clients were kept: %d", len(got))
	}
}

func TestKeepaliveReusesAndRecycles(t *testing.T) {
	for _, tc := range []struct {
		kv    []string
		conns int
	}{
		{nil, 1},
		{[]string{"net.keepalive off"}, 6},
		{[]string{"net.keepalive_max_recycle 2"}, 3},
	} {
		srv := newServer(t, nil, nil)
		o, _ := newOutput(t, append([]string{"port " + strconv.Itoa(srv.port()), "require_ack_response on"}, tc.kv...)...)
		for i := 0; i < 6; i++ {
			if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(2, oneDevice)...)); err != nil {
				t.Fatal(err)
			}
		}
		if got := srv.connections(); got != tc.conns {
			t.Errorf("%v: %d connections for 6 chunks, want %d", tc.kv, got, tc.conns)
		}
	}
}

// A server that closed an idle connection must not swallow the next chunk, even without
// acks: the output sees the connection is gone and opens another.
func TestClosedIdleConnectionIsNotUsed(t *testing.T) {
	cert := testcert.New(t, "aggregator.test")
	certFile, srvTLS := cert.CertFile, cert.ServerConfig()
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"plain", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *server
			kv := []string{}
			if tc.tls {
				srv = newServer(t, srvTLS, nil)
				kv = append(kv, "tls on", "tls.ca_file "+certFile)
			} else {
				srv = newServer(t, nil, nil)
			}
			o, _ := newOutput(t, append(kv, "port "+strconv.Itoa(srv.port()))...)
			for i := 1; i <= 3; i++ {
				if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(1, oneDevice)...)); err != nil {
					t.Fatal(err)
				}
				srv.waitRecords(t, i)
				srv.kill()
				srv.revive()
			}
			if n := srv.connections(); n != 3 {
				t.Errorf("%d connections, want 3 (one per server life)", n)
			}
		})
	}
}

// retryUntil flushes c like the engine: again after each retryable error, until it is
// delivered, within a bounded number of tries. between runs before each retry.
func retryUntil(t *testing.T, o *Output, c *pipeline.Chunk, between func(try int)) {
	t.Helper()
	for try := 0; try < 200; try++ {
		err := o.Flush(context.Background(), c)
		if err == nil {
			return
		}
		if !pipeline.IsRetry(err) {
			t.Fatalf("chunk dropped: %v", err)
		}
		between(try)
	}
	t.Fatal("chunk not delivered in 200 tries")
}

func seqs(evs []event.Event) map[int64]int {
	m := map[int64]int{}
	for _, ev := range evs {
		m[ev.Record.Value("seq").(int64)]++
	}
	return m
}

// The receiver dies in the middle of a stream, with a chunk read but not acknowledged:
// with require_ack_response that chunk is sent again and no record is lost.
func TestReceiverKilledMidStreamLosesNothingWithAcks(t *testing.T) {
	srv := newServer(t, nil, nil)
	srv.dropAcksFrom(4)
	o, _ := newOutput(t, "port "+strconv.Itoa(srv.port()), "require_ack_response on", "net.io_timeout 5s")
	evs := sample(100, oneDevice)
	revived := false
	for i := 0; i < 10; i++ {
		retryUntil(t, o, pipelinetest.MakeChunk("t", evs[i*10:i*10+10]...), func(int) {
			if !revived {
				srv.kill()
				srv.revive()
				revived = true
			}
		})
	}
	if !revived {
		t.Fatal("the server never died")
	}
	_, got := srv.events(t)
	s := seqs(got)
	for i := range evs {
		if s[int64(i)] == 0 {
			t.Fatalf("record %d lost", i)
		}
	}
}

// Two nodes in failover: the first dies mid-stream and the second takes over at once;
// once the first is back and its pause has passed it gets the chunks again.
func TestFailoverTakesOverAndFailsBack(t *testing.T) {
	a, b := newServer(t, nil, nil), newServer(t, nil, nil)
	up := writeUpstream(t, a, b)
	o, logs := newOutput(t, "upstream "+up, "upstream_mode failover", "upstream_max_fails 1", "upstream_fail_timeout 50ms", "require_ack_response on")
	evs := sample(3000, oneDevice)
	flush := func(from, to int) {
		t.Helper()
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", evs[from:to]...)); err != nil {
			t.Fatalf("records %d-%d: %v", from, to, err)
		}
	}
	for i := 0; i < 5; i++ {
		flush(i*10, i*10+10)
	}
	a.dropAcksFrom(len(a.messages()) + 1) // dies reading the next chunk
	for i := 5; i < 10; i++ {
		flush(i*10, i*10+10) // never an error: b takes over within the same flush
	}
	_, onA := a.events(t)
	_, onB := b.events(t)
	if len(onA) != 50 || len(onB) != 50 {
		t.Fatalf("a has %d, b %d; want 50 and 50", len(onA), len(onB))
	}
	a.kill()
	a.revive()
	// Chunks keep going to b until a's pause passes; then a is tried and used again.
	next := 100
	// a's pause (50ms) has to pass: time is what is awaited, a flush at each check.
	pipelinetest.Eventually(10*time.Second, func() bool {
		if len(a.messages()) != 5 || next+1 > len(evs) {
			return true
		}
		flush(next, next+1)
		next++
		return false
	})
	if len(a.messages()) == 5 {
		t.Fatal("a was not tried again after it came back")
	}
	flush(next, next+1)
	next++
	_, onA = a.events(t)
	_, onB = b.events(t)
	all := seqs(append(onA, onB...))
	for i := 0; i < next; i++ {
		if all[int64(i)] != 1 {
			t.Fatalf("record %d arrived %d times", i, all[int64(i)])
		}
	}
	if logs.Count(0) == 0 {
		t.Error("nothing logged about the node going out or back")
	}
}

func writeUpstream(t *testing.T, servers ...*server) string {
	t.Helper()
	ports := make([]int, len(servers))
	for i, s := range servers {
		ports[i] = s.port()
	}
	return writeUpstreamPorts(t, ports...)
}

func writeUpstreamPorts(t *testing.T, ports ...int) string { return writeUpstreamPortsB(t, ports...) }

func writeUpstreamPortsB(t testing.TB, ports ...int) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("[UPSTREAM]\n    name aggregators\n")
	for i, p := range ports {
		fmt.Fprintf(&sb, "[NODE]\n    name agg-%d\n    host 127.0.0.1\n    port %d\n", i+1, p)
	}
	path := filepath.Join(t.TempDir(), "upstream.conf")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundRobinSpreadsChunks(t *testing.T) {
	a, b, c := newServer(t, nil, nil), newServer(t, nil, nil), newServer(t, nil, nil)
	o, _ := newOutput(t, "upstream "+writeUpstream(t, a, b, c), "require_ack_response on")
	for i := 0; i < 9; i++ {
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(1, oneDevice)...)); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []*server{a, b, c} {
		if n := len(s.messages()); n != 3 {
			t.Errorf("node %d got %d chunks, want 3", i, n)
		}
	}
}

// Hash mode: each device's records reach one node, whichever chunk they come in; when a
// node dies only its devices move, and every record still arrives.
func TestHashModeKeepsDevicesOnTheirNodes(t *testing.T) {
	srvs := []*server{newServer(t, nil, nil), newServer(t, nil, nil), newServer(t, nil, nil)}
	o, _ := newOutput(t, "upstream "+writeUpstream(t, srvs...), "upstream_mode hash", "upstream_hash_key device_id",
		"upstream_max_fails 1", "upstream_fail_timeout 1h", "require_ack_response on")
	device := func(i int) string { return fmt.Sprintf("dev-%d", i%30) }
	evs := sample(600, device)
	where := func() map[string]map[int]bool {
		m := map[string]map[int]bool{}
		for n, s := range srvs {
			_, got := s.events(t)
			for _, ev := range got {
				d := ev.Record.Value("device_id").(string)
				if m[d] == nil {
					m[d] = map[int]bool{}
				}
				m[d][n] = true
			}
		}
		return m
	}
	for i := 0; i < 3; i++ {
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", evs[i*100:i*100+100]...)); err != nil {
			t.Fatal(err)
		}
	}
	before := where()
	used := map[int]bool{}
	for d, nodes := range before {
		if len(nodes) != 1 {
			t.Fatalf("device %s went to nodes %v, want one", d, nodes)
		}
		for n := range nodes {
			used[n] = true
		}
	}
	if len(used) != 3 {
		t.Fatalf("30 devices used only nodes %v", used)
	}
	// Node 1 dies: its devices move to the next node on the ring, the others stay.
	srvs[1].kill()
	for i := 3; i < 6; i++ {
		if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", evs[i*100:i*100+100]...)); err != nil {
			t.Fatal(err)
		}
	}
	after := where()
	for d, nodes := range after {
		if !before[d][1] && !reflect.DeepEqual(nodes, before[d]) {
			t.Errorf("device %s moved from %v to %v though its node is alive", d, before[d], nodes)
		}
	}
	var all []event.Event
	for _, s := range srvs {
		_, got := s.events(t)
		all = append(all, got...)
	}
	s := seqs(all)
	for i := range evs {
		if s[int64(i)] != 1 {
			t.Fatalf("record %d arrived %d times", i, s[int64(i)])
		}
	}
}

func TestHashKeyValuesHashAlike(t *testing.T) {
	o, err := configure("upstream_mode hash", "upstream_hash_key $dev['id']")
	if err == nil {
		t.Fatal("hash mode with a single host accepted")
	}
	o = New()
	o.Nodes = nil
	o.UpstreamHashKey, o.UpstreamMode = "id", "hash"
	o.Nodes = []upstream.Node{{Name: "a", Host: "127.0.0.1", Port: 1}, {Name: "b", Host: "127.0.0.1", Port: 2}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	h := func(rec map[string]any) uint64 {
		e, err := event.AppendEntry(nil, &event.Event{Time: time.Unix(1, 0), Record: event.FromMap(rec)})
		if err != nil {
			t.Fatal(err)
		}
		_, v := o.hashEntry(nil, e)
		return v
	}
	if h(map[string]any{"id": "42", "x": 1}) != h(map[string]any{"id": int64(42)}) || h(map[string]any{"id": []byte("42")}) != h(map[string]any{"id": uint64(42)}) {
		t.Error("the same key written as string, bytes or number hashes differently")
	}
	if h(map[string]any{"id": "41"}) == h(map[string]any{"id": "42"}) {
		t.Error("different keys hash alike")
	}
	o.UpstreamHashKey = "$dev['id']"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if h(map[string]any{"dev": map[string]any{"id": "42"}}) != h(map[string]any{"dev": map[string]any{"id": int64(42)}, "z": 1}) {
		t.Error("nested key hashes differently")
	}
}

func TestValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"compress zstd"}, `key "compress"`},
		{[]string{"forward_mode message"}, `key "forward_mode"`},
		{[]string{"port 0"}, `key "port"`},
		{[]string{"upstream_mode random"}, `key "upstream_mode"`},
		{[]string{"upstream_hash_key id"}, "only used with upstream_mode hash"},
		{[]string{"add_option size 3"}, `key "add_option"`},
		{[]string{"username u"}, "needs shared_key"},
		{[]string{"tls.crt_file /x"}, "go together"},
		{[]string{"upstream /nonexistent/upstream.conf"}, "no such file"},
		{[]string{"hots x"}, `did you mean "host"`},
		{[]string{"tag $namespace"}, `key "tag"`},
	} {
		_, err := configure(tc.kv...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.kv, err, tc.want)
		}
	}
}

func TestNodeSettingsOverrideOutputs(t *testing.T) {
	good := newServer(t, nil, &forward.ServerAuth{SharedKey: "node-key", Hostname: "agg", Keepalive: true})
	path := filepath.Join(t.TempDir(), "up.yaml")
	text := fmt.Sprintf("upstream_servers:\n  - name: u\n    nodes:\n      - name: n1\n        host: 127.0.0.1\n        port: %d\n        shared_key: node-key\n", good.port())
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o, _ := newOutput(t, "upstream "+path, "shared_key output-key", "require_ack_response on")
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(1, oneDevice)...)); err != nil {
		t.Fatal(err)
	}
	if _, err := configure("upstream " + writeBadNode(t)); err == nil || !strings.Contains(err.Error(), "tls.verify") {
		t.Fatalf("bad node key: %v", err)
	}
}

func writeBadNode(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(path, []byte("[UPSTREAM]\n    name u\n[NODE]\n    name n\n    host h\n    port 1\n    tls.verify maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGzipIsOneMember(t *testing.T) {
	msg := appendGzipBin(nil, []byte("hello"))
	zr, err := gzip.NewReader(bytes.NewReader(msg[5:]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil || string(b) != "hello" {
		t.Fatalf("%q %v", b, err)
	}
}

// The upstream key may name an upstream_servers entry of the configuration file it is
// written in.
func TestUpstreamByNameFromTheConfigFile(t *testing.T) {
	a, b := newServer(t, nil, nil), newServer(t, nil, nil)
	main := filepath.Join(t.TempDir(), "agent.yaml")
	text := fmt.Sprintf(`upstream_servers:
  - name: aggregators
    nodes:
      - name: a
        host: 127.0.0.1
        port: %d
      - name: b
        host: 127.0.0.1
        port: %d
pipeline:
  outputs:
    - name: forward
      match: '*'
      upstream: aggregators
      upstream_mode: failover
      require_ack_response: on
`, a.port(), b.port())
	if err := os.WriteFile(main, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(main)
	if err != nil {
		t.Fatal(err)
	}
	var props []config.Property
	for _, p := range cfg.Outputs[0].Props {
		if p.Key != "match" {
			props = append(props, p)
		}
	}
	o := New()
	if err := pipeline.Configure(o, props); err != nil {
		t.Fatal(err)
	}
	if err := o.Init(context.Background(), (&pipelinetest.Logs{}).Env("forward.0")); err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(5, oneDevice)...)); err != nil {
		t.Fatal(err)
	}
	if len(a.messages()) != 1 || len(b.messages()) != 0 {
		t.Fatalf("a got %d messages, b %d; want 1 and 0", len(a.messages()), len(b.messages()))
	}
}

// A receiver that takes chunks but never acks them: after net.io_timeout the chunk goes
// to the next node.
func TestAckTimeoutMovesChunkToNextNode(t *testing.T) {
	hung := &server{t: t, silent: true, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	hung.start("127.0.0.1:0")
	t.Cleanup(hung.kill)
	good := newServer(t, nil, nil)
	o, _ := newOutput(t, "upstream "+writeUpstream(t, hung, good), "upstream_mode failover", "require_ack_response on", "net.io_timeout 200ms")
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(5, oneDevice)...)); err != nil {
		t.Fatal(err)
	}
	if len(hung.messages()) != 1 || len(good.messages()) != 1 {
		t.Fatalf("hung node got %d messages, good node %d; want 1 and 1", len(hung.messages()), len(good.messages()))
	}
	// Alone, the hung node makes the chunk a retry, not a loss.
	alone, _ := newOutput(t, "port "+strconv.Itoa(hung.port()), "require_ack_response on", "net.io_timeout 200ms")
	if err := alone.Flush(context.Background(), pipelinetest.MakeChunk("t", sample(5, oneDevice)...)); !pipeline.IsRetry(err) {
		t.Fatalf("err = %v, want a retry", err)
	}
}

// Several workers flush at once (the engine's workers key): every record arrives once,
// and connections are shared through the pool, not per flush.
func TestConcurrentFlushes(t *testing.T) {
	a, b := newServer(t, nil, nil), newServer(t, nil, nil)
	o, _ := newOutput(t, "upstream "+writeUpstream(t, a, b), "upstream_mode hash", "upstream_hash_key device_id", "require_ack_response on")
	device := func(i int) string { return fmt.Sprintf("dev-%d", i%7) }
	evs := sample(800, device)
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func(w int) {
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				from := w*100 + i*10
				err = o.Flush(context.Background(), pipelinetest.MakeChunk("t", evs[from:from+10]...))
			}
			errs <- err
		}(w)
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_, onA := a.events(t)
	_, onB := b.events(t)
	s := seqs(append(onA, onB...))
	for i := range evs {
		if s[int64(i)] != 1 {
			t.Fatalf("record %d arrived %d times", i, s[int64(i)])
		}
	}
	if n := a.connections() + b.connections(); n > 16 {
		t.Errorf("%d connections for 8 workers on 2 nodes", n)
	}
}
