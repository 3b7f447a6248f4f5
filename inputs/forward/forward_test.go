package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	fwd "github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const waitFor = 20 * time.Second

type served struct {
	in   *Input
	logs *pipelinetest.Logs
	addr string
}

// configured is a forward input on 127.0.0.1, on a port of its own, configured from kv.
func configured(t testing.TB, kv ...string) *Input {
	t.Helper()
	return pipelinetest.Input[*Input](t, "forward", append([]string{"listen", "127.0.0.1", "port", "0"}, kv...)...)
}

// serve runs a forward input on 127.0.0.1 (or kv's unix_path) emitting into emit.
func serve(t testing.TB, emit pipeline.Emitter, kv ...string) *served {
	t.Helper()
	in := configured(t, kv...)
	logs := &pipelinetest.Logs{}
	run := pipelinetest.StartInput(t, in, logs.Env("forward.0"), emit)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &served{in: in, logs: logs, addr: in.ListenAddr()}
}

func (s *served) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// warnings returns the messages of the warnings and errors logged so far.
func (s *served) warnings() []string {
	var out []string
	for _, r := range s.logs.Records() {
		if r.Level >= slog.LevelWarn {
			msg := r.Message
			r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
			out = append(out, msg)
		}
	}
	return out
}

// record is what the tests send: nested maps, binary, floats, nil, booleans.
func record(i int) map[string]any {
	return map[string]any{
		"i":      int64(i),
		"msg":    "hello " + strconv.Itoa(i),
		"bin":    []byte{0, 0xff, byte(i)},
		"temp":   21.5 + float64(i),
		"ok":     i%2 == 0,
		"none":   nil,
		"nested": map[string]any{"list": []any{int64(i), "x", map[string]any{"deep": true}}},
	}
}

func eventTime(i int) time.Time { return time.Unix(1795366514+int64(i), int64(123456789+i)) }

// checkArrived checks that n records sent with tag came in exactly as sent.
func checkArrived(t *testing.T, rec *pipelinetest.Recorder, tag string, n int, nanos bool) {
	t.Helper()
	if !rec.Wait(n, waitFor) {
		t.Fatalf("%d records arrived, want %d", rec.Len(), n)
	}
	seen := map[int64]bool{}
	for _, r := range rec.Records() {
		i, _ := r.Event.Record.Value("i").(int64)
		if seen[i] {
			t.Fatalf("record %d arrived twice", i)
		}
		seen[i] = true
		want := eventTime(int(i))
		if !nanos {
			want = want.Truncate(time.Second)
		}
		if r.Tag != tag || !r.Event.Time.Equal(want) {
			t.Fatalf("record %d: tag %q time %v, want %q %v", i, r.Tag, r.Event.Time, tag, want)
		}
		if !reflect.DeepEqual(r.Event.Record.ToMap(), record(int(i))) {
			t.Fatalf("record %d:\n got %#v\nwant %#v", i, r.Event.Record, record(int(i)))
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records, want %d", len(seen), n)
	}
}

// TestFluentLoggerGolang sends with the real fluent-logger-golang client in its modes.
func TestFluentLoggerGolang(t *testing.T) {
	peer := testcert.New(t)
	certFile, keyFile := peer.CertFile, peer.KeyFile
	for _, tc := range []struct {
		name  string
		cfg   fluent.Config
		props []string
	}{
		{"sync", fluent.Config{SubSecondPrecision: true}, nil},
		{"sync ack", fluent.Config{SubSecondPrecision: true, RequestAck: true}, nil},
		{"async", fluent.Config{SubSecondPrecision: true, Async: true}, nil},
		{"async ack", fluent.Config{SubSecondPrecision: true, Async: true, RequestAck: true}, nil},
		{"integer times", fluent.Config{RequestAck: true}, nil},
		{"tls ack", fluent.Config{SubSecondPrecision: true, RequestAck: true, FluentNetwork: "tls", TlsInsecureSkipVerify: true},
			[]string{"tls", "on", "tls.crt_file", certFile, "tls.key_file", keyFile}},
		{"unix", fluent.Config{SubSecondPrecision: true, RequestAck: true, FluentNetwork: "unix"},
			[]string{"unix_path", filepath.Join(t.TempDir(), "fwd.sock"), "unix_perm", "0600"}},
		{"tag prefix", fluent.Config{SubSecondPrecision: true, TagPrefix: "dev"}, []string{"tag_prefix", "in."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := pipelinetest.NewRecorder()
			s := serve(t, rec, tc.props...)
			cfg := tc.cfg
			if cfg.FluentNetwork == "unix" {
				cfg.FluentSocketPath = s.in.UnixPath
				fi, err := os.Stat(s.in.UnixPath)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("socket %v %v", fi, err)
				}
			} else {
				host, port, _ := net.SplitHostPort(s.addr)
				cfg.FluentHost = host
				cfg.FluentPort, _ = strconv.Atoi(port)
			}
			cfg.Timeout = waitFor
			logger, err := fluent.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 300
			for i := 0; i < n; i++ {
				if err := logger.PostWithTime("app.log", eventTime(i), record(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := logger.Close(); err != nil {
				t.Fatal(err)
			}
			tag := "app.log"
			if tc.name == "tag prefix" {
				tag = "in.dev.app.log"
			}
			checkArrived(t, rec, tag, n, cfg.SubSecondPrecision)
			if w := s.warnings(); len(w) > 0 {
				t.Fatalf("warnings: %v", w)
			}
		})
	}
}

// rawEmitter keeps what EmitRaw gets, as bytes, and can hold calls back.
type rawEmitter struct {
	mu      sync.Mutex
	batches [][]byte
	counts  []int
	tags    []string
	paused  bool
	polls   int
	during  func() // called inside EmitRaw, before it returns
	changed chan struct{}
}

func (r *rawEmitter) Emit(tag string, ev event.Event) error {
	b, err := event.AppendEntry(nil, &ev)
	if err != nil {
		return err
	}
	return r.EmitRaw(tag, b, 1)
}

func (r *rawEmitter) EmitRaw(tag string, entries []byte, n int) error {
	if r.during != nil {
		r.during()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]byte(nil), entries...))
	r.counts = append(r.counts, n)
	r.tags = append(r.tags, tag)
	r.signal()
	return nil
}

func (r *rawEmitter) signal() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

func (r *rawEmitter) Paused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polls++
	r.signal()
	return r.paused
}

func (r *rawEmitter) setPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

// waitUntil blocks until cond (called under the lock) holds.
func (r *rawEmitter) waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if cond() {
			r.mu.Unlock()
			return
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatal("condition not reached")
		}
	}
}

func (r *rawEmitter) total() (n int, data []byte) {
	for i, b := range r.batches {
		n += r.counts[i]
		data = append(data, b...)
	}
	return n, data
}

// chunk returns n entries (odd ones with metadata, Fluent Bit's v2 form) and their bytes.
func chunk(t testing.TB, n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		ev := event.Event{Time: eventTime(i), Record: event.FromMap(record(i))}
		if i%2 == 1 {
			ev.Metadata = event.Map{{"otel", event.Map{{"trace_id", "abc"}}}}
		}
		var err error
		if b, err = event.AppendEntry(b, &ev); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// readAck reads one response and checks it acknowledges id.
func readAck(t *testing.T, dec *fwd.Decoder, id string) {
	t.Helper()
	raw, err := dec.ReadRaw()
	if err != nil {
		t.Fatalf("reading the ack for %s: %v", id, err)
	}
	got, err := fwd.ParseAck(raw)
	if err != nil || got != id {
		t.Fatalf("ack %q (%v), want %q", got, err, id)
	}
}

// TestEveryModePassesThroughUnchanged sends each mode with an ack id: the entries reach
// EmitRaw byte for byte, v2 metadata included.
func TestEveryModePassesThroughUnchanged(t *testing.T) {
	data := chunk(t, 50)
	var msgs []byte
	for rest := data; len(rest) > 0; {
		ev, r, err := event.ReadEntry(rest)
		if err != nil {
			t.Fatal(err)
		}
		_ = ev
		// Message mode: [tag, time-or-[time, metadata], record, option]
		entry := rest[:len(rest)-len(r)]
		m := []byte{0x94, 0xa1, 't'}
		m = append(m, entry[1:]...)
		m = fwd.AppendOptions(m, fwd.Options{Chunk: "m"})
		msgs = append(msgs, m...)
		rest = r
	}
	for _, tc := range []struct {
		mode  fwd.Mode
		wire  []byte
		acks  int
		ackID string
	}{
		{fwd.ModeMessage, msgs, 50, "m"},
		{fwd.ModeForward, fwd.AppendForward(nil, "t", data, 50, fwd.Options{Size: 50, Chunk: "f"}), 1, "f"},
		{fwd.ModePackedForward, fwd.AppendPackedForward(nil, "t", data, fwd.Options{Size: 50, Chunk: "p"}), 1, "p"},
		{fwd.ModeCompressedPackedForward, fwd.AppendCompressedPackedForward(nil, "t", data, fwd.Options{Size: 50, Chunk: "c"}), 1, "c"},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			em := &rawEmitter{}
			s := serve(t, em)
			c := s.dial(t)
			if _, err := c.Write(tc.wire); err != nil {
				t.Fatal(err)
			}
			dec := fwd.NewDecoder(c, fwd.Limits{})
			for i := 0; i < tc.acks; i++ {
				readAck(t, dec, tc.ackID)
			}
			em.mu.Lock()
			n, got := em.total()
			em.mu.Unlock()
			if n != 50 || !bytes.Equal(got, data) {
				t.Fatalf("%d entries, bytes equal %v", n, bytes.Equal(got, data))
			}
		})
	}
}

// TestAckOnlyOnceBuffered: while EmitRaw runs the client has no ack yet.
func TestAckOnlyOnceBuffered(t *testing.T) {
	em := &rawEmitter{}
	s := serve(t, em)
	c := s.dial(t)
	checked := make(chan error, 1)
	em.during = func() {
		// Nothing may be readable yet: the ack comes after EmitRaw returns.
		_ = c.SetReadDeadline(time.Now())
		var b [1]byte
		_, err := c.Read(b[:])
		_ = c.SetReadDeadline(time.Time{})
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			checked <- fmt.Errorf("read during EmitRaw: %v, want a timeout", err)
			return
		}
		checked <- nil
	}
	if _, err := c.Write(fwd.AppendPackedForward(nil, "t", chunk(t, 3), fwd.Options{Chunk: "id"})); err != nil {
		t.Fatal(err)
	}
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	readAck(t, fwd.NewDecoder(c, fwd.Limits{}), "id")
}

// TestLargeMessageIsSplit: a PackedForward of several MB reaches EmitRaw in batches of at
// most BatchBytes, all of it, and then one ack.
func TestLargeMessageIsSplit(t *testing.T) {
	em := &rawEmitter{}
	s := serve(t, em)
	data := chunk(t, 30000)
	if len(data) < 4*BatchBytes {
		t.Fatalf("test data of %d bytes is too small", len(data))
	}
	c := s.dial(t)
	if _, err := c.Write(fwd.AppendPackedForward(nil, "big", data, fwd.Options{Chunk: "big"})); err != nil {
		t.Fatal(err)
	}
	readAck(t, fwd.NewDecoder(c, fwd.Limits{}), "big")
	em.mu.Lock()
	defer em.mu.Unlock()
	for _, b := range em.batches {
		if len(b) > BatchBytes {
			t.Fatalf("a batch of %d bytes", len(b))
		}
	}
	if n, got := em.total(); n != 30000 || !bytes.Equal(got, data) || len(em.batches) < 4 {
		t.Fatalf("%d entries in %d batches", n, len(em.batches))
	}
}

// TestPausedInputStopsReading: while paused nothing is read (TCP holds the client back);
// once resumed everything arrives.
func TestPausedInputStopsReading(t *testing.T) {
	em := &rawEmitter{paused: true}
	s := serve(t, em)
	c := s.dial(t)
	data := chunk(t, 10)
	const msgs = 20
	go func() {
		for i := 0; i < msgs; i++ {
			if _, err := c.Write(fwd.AppendPackedForward(nil, "t", data, fwd.Options{})); err != nil {
				return
			}
		}
	}()
	// The connection looked at Paused several times: it would have read by now.
	em.waitUntil(t, func() bool { return em.polls >= 5 })
	em.mu.Lock()
	if len(em.batches) != 0 {
		t.Fatalf("%d batches emitted while paused", len(em.batches))
	}
	em.mu.Unlock()
	em.setPaused(false)
	em.waitUntil(t, func() bool { n, _ := em.total(); return n == msgs*10 })
}

func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		props  []string
		client fwd.ClientAuth
		ok     bool
	}{
		{"shared key", []string{"shared_key", "s3cret", "self_hostname", "agg"}, fwd.ClientAuth{SharedKey: "s3cret", Hostname: "edge"}, true},
		{"wrong key", []string{"shared_key", "s3cret"}, fwd.ClientAuth{SharedKey: "nope", Hostname: "edge"}, false},
		{"empty key", []string{"empty_shared_key", "on"}, fwd.ClientAuth{Hostname: "edge"}, true},
		{"user", []string{"shared_key", "k", "security.users", "alice pw1", "security.users", "bob pw2"}, fwd.ClientAuth{SharedKey: "k", Hostname: "edge", Username: "bob", Password: "pw2"}, true},
		{"wrong password", []string{"shared_key", "k", "security.users", "alice pw1"}, fwd.ClientAuth{SharedKey: "k", Hostname: "edge", Username: "alice", Password: "pw2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := pipelinetest.NewRecorder()
			s := serve(t, rec, tc.props...)
			c := s.dial(t)
			dec := fwd.NewDecoder(c, fwd.Limits{})
			_, err := fwd.ClientHandshake(c, dec, tc.client)
			if !tc.ok {
				if !errors.Is(err, fwd.ErrAuth) {
					t.Fatalf("handshake: %v, want ErrAuth", err)
				}
				// The server closes the connection and says why.
				if _, err := dec.ReadRaw(); err == nil {
					t.Fatal("connection still open after a failed handshake")
				}
				if w := s.warnings(); len(w) != 1 || !strings.Contains(w[0], "handshake") {
					t.Fatalf("warnings %v", w)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wire := fwd.AppendCompressedPackedForward(nil, "secure", chunkPlain(t, 5), fwd.Options{Chunk: "x"})
			if _, err := c.Write(wire); err != nil {
				t.Fatal(err)
			}
			readAck(t, dec, "x")
			checkArrived(t, rec, "secure", 5, true)
		})
	}
}

// TestHandshakeRequired: a client that skips the handshake gets nothing in.
func TestHandshakeRequired(t *testing.T) {
	rec := pipelinetest.NewRecorder()
	s := serve(t, rec, "shared_key", "k")
	c := s.dial(t)
	if _, err := c.Write(fwd.AppendPackedForward(nil, "t", chunkPlain(t, 1), fwd.Options{Chunk: "x"})); err != nil {
		t.Fatal(err)
	}
	dec := fwd.NewDecoder(c, fwd.Limits{})
	if raw, err := dec.ReadRaw(); err != nil {
		t.Fatal(err)
	} else if _, err := fwd.ParseHelo(raw); err != nil {
		t.Fatalf("first message: %v, want HELO", err)
	}
	for {
		if _, err := dec.ReadRaw(); err != nil {
			break // closed
		}
	}
	if rec.Len() != 0 {
		t.Fatalf("%d records in without a handshake", rec.Len())
	}
}

// chunkPlain is chunk without metadata, for the Recorder's comparison.
func chunkPlain(t testing.TB, n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		ev := event.Event{Time: eventTime(i), Record: event.FromMap(record(i))}
		var err error
		if b, err = event.AppendEntry(b, &ev); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestHostileInput: every one of these closes its connection with a warning, records
// nothing, and allocates nowhere near what it declares.
func TestHostileInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"bin of 4 GiB", []byte{0x93, 0xa1, 't', 0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}},
		{"2^32 entries", []byte{0x92, 0xa1, 't', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x92}},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"invalid byte", []byte{0x92, 0xc1}},
		{"truncated", fwd.AppendPackedForward(nil, "t", chunkPlain(t, 3), fwd.Options{})[:40]},
		{"not an array", []byte{0x81, 0xa1, 'a', 0x01}},
		{"gzip bomb", gzipBomb(t)},
		{"deep nesting", bytes.Repeat([]byte{0x91}, 100000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := pipelinetest.NewRecorder()
			s := serve(t, rec, "buffer_max_size", "64K", "buffer_chunk_size", "8K")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c := s.dial(t)
			if _, err := c.Write(tc.wire); err != nil {
				t.Fatal(err)
			}
			if tc.name == "truncated" {
				c.(*net.TCPConn).CloseWrite()
			}
			// The server closes the connection.
			if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) {
				var oe *net.OpError
				if !errors.As(err, &oe) {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 32<<20 {
				t.Fatalf("allocated %d bytes for a hostile message", d)
			}
			if rec.Len() != 0 {
				t.Fatalf("%d records", rec.Len())
			}
			// The warning is logged before the connection is closed.
			if w := s.warnings(); len(w) != 1 || !strings.Contains(w[0], "closing connection") {
				t.Fatalf("warnings %v", w)
			}
		})
	}
}

func gzipBomb(t testing.TB) []byte {
	wire := fwd.AppendCompressedPackedForward(nil, "t", make([]byte, 32<<20), fwd.Options{})
	if len(wire) > 60<<10 {
		t.Fatalf("bomb of %d bytes does not fit the test limit", len(wire))
	}
	return wire
}

func TestBadEntryIsLeftOutRestKept(t *testing.T) {
	rec := pipelinetest.NewRecorder()
	s := serve(t, rec)
	good := chunkPlain(t, 2)
	first, _ := event.SkipEntry(good)
	bad := []byte{0x92, 0xa3, 'b', 'a', 'd', 0x80} // time is a string
	data := append(append(append([]byte(nil), good[:len(good)-len(first)]...), bad...), first...)
	c := s.dial(t)
	if _, err := c.Write(fwd.AppendPackedForward(nil, "t", data, fwd.Options{Chunk: "a"})); err != nil {
		t.Fatal(err)
	}
	readAck(t, fwd.NewDecoder(c, fwd.Limits{}), "a")
	checkArrived(t, rec, "t", 2, true)
	if w := s.warnings(); len(w) != 1 || !strings.Contains(w[0], "dropped=1") {
		t.Fatalf("warnings %v", w)
	}
}

func TestStoppedEngineSendsNoAck(t *testing.T) {
	rec := pipelinetest.NewRecorder()
	rec.FailWith(pipeline.ErrStopped)
	s := serve(t, rec)
	c := s.dial(t)
	if _, err := c.Write(fwd.AppendPackedForward(nil, "t", chunkPlain(t, 2), fwd.Options{Chunk: "a"})); err != nil {
		t.Fatal(err)
	}
	if _, err := fwd.NewDecoder(c, fwd.Limits{}).ReadRaw(); err == nil {
		t.Fatal("got a response from a stopped engine")
	}
}

// TestTagKeyOverrides: a tag configured on the instance replaces incoming tags.
func TestTagKeyOverrides(t *testing.T) {
	in := configured(t)
	rec := pipelinetest.StartInput(t, in, pipeline.Env{Name: "forward.0", Tag: "fixed"}, nil).Rec
	c, err := net.Dial("tcp", in.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(fwd.AppendPackedForward(nil, "orig", chunkPlain(t, 1), fwd.Options{}))
	checkArrived(t, rec, "fixed", 1, true)
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct{ kv []string }{
		{[]string{"port", "70000"}},
		{[]string{"buffer_max_size", "0"}},
		{[]string{"buffer_chunk_size", "8M"}},
		{[]string{"unix_perm", "999"}},
		{[]string{"security.users", "alice"}},
		{[]string{"security.users", "alice pw"}},
		{[]string{"tls", "on"}},
		{[]string{"empty_shared_key", "on", "shared_key", "x"}},
	} {
		var props []config.Property
		for i := 0; i < len(tc.kv); i += 2 {
			props = append(props, config.Property{Key: tc.kv[i], Value: tc.kv[i+1]})
		}
		err := pipeline.Configure(New(), props)
		if err == nil || !strings.Contains(err.Error(), tc.kv[0]) {
			t.Errorf("%v: error %v does not name the key", tc.kv, err)
		}
	}
}

// TestThroughEngine runs the input in a real engine with a small mem_buf_limit and an
// output held back until the input is paused: the client is slowed down, every record
// sent with acks arrives, none is dropped.
func TestThroughEngine(t *testing.T) {
	var mu sync.Mutex
	got := 0
	const n = 8000
	all := make(chan struct{})
	release := make(chan struct{})
	e := pipeline.NewEngine(pipeline.Options{Flush: 10 * time.Millisecond})
	e.AddOutput(pipeline.OutputSpec{Plugin: "count", Match: "*", Output: pipeline.OutputFunc(func(ctx context.Context, c *pipeline.Chunk) error {
		select {
		case <-release:
		case <-ctx.Done():
			return pipeline.Retry(ctx.Err())
		}
		mu.Lock()
		got += c.Records
		if got == n {
			close(all)
		}
		mu.Unlock()
		return nil
	})})
	in := configured(t)
	e.AddInput(pipeline.InputSpec{Plugin: "forward", Input: in, MemBufLimit: 128 << 10})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	host, port, _ := net.SplitHostPort(in.ListenAddr())
	p, _ := strconv.Atoi(port)
	logger, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: p, RequestAck: true, SubSecondPrecision: true, Timeout: waitFor})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := logger.PostWithTime("app", eventTime(i), record(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- logger.Close()
	}()
	// The engine has no pause signal to wait on: poll its metrics.
	if !pipelinetest.Eventually(waitFor, func() bool { return e.Metrics().Inputs[0].Paused }) {
		t.Fatalf("input never paused: %+v", e.Metrics().Inputs[0])
	}
	close(release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(waitFor):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d records delivered, want %d", got, n)
	}
	// (Pauses counts only waits inside Emit; this input stops reading before it.)
	if m := e.Metrics().Inputs[0]; m.Records != n {
		t.Fatalf("metrics %+v", m)
	}
}

// TestTLSWithSharedKey: the handshake runs inside TLS.
func TestTLSWithSharedKey(t *testing.T) {
	peer := testcert.New(t)
	certFile, keyFile := peer.CertFile, peer.KeyFile
	rec := pipelinetest.NewRecorder()
	s := serve(t, rec, "tls", "on", "tls.crt_file", certFile, "tls.key_file", keyFile,
		"shared_key", "k", "security.users", "edge pw")
	c, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dec := fwd.NewDecoder(c, fwd.Limits{})
	if _, err := fwd.ClientHandshake(c, dec, fwd.ClientAuth{SharedKey: "k", Hostname: "edge-1", Username: "edge", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(fwd.AppendForward(nil, "sec", chunkPlain(t, 4), 4, fwd.Options{Chunk: "z"})); err != nil {
		t.Fatal(err)
	}
	readAck(t, dec, "z")
	checkArrived(t, rec, "sec", 4, true)
}

// TestTLSClientCertificates: with tls.ca_file, a client without a certificate signed by
// that CA gets nothing in; one with it is served.
func TestTLSClientCertificates(t *testing.T) {
	peer := testcert.New(t)
	certFile, keyFile := peer.CertFile, peer.KeyFile
	rec := pipelinetest.NewRecorder()
	s := serve(t, rec, "tls", "on", "tls.crt_file", certFile, "tls.key_file", keyFile, "tls.ca_file", certFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(certFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)

	// Without a client certificate the handshake fails (TLS 1.3 reports it on first read).
	c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err == nil {
		c.Write(fwd.AppendPackedForward(nil, "t", chunkPlain(t, 1), fwd.Options{Chunk: "a"}))
		_, err = fwd.NewDecoder(c, fwd.Limits{}).ReadRaw()
		c.Close()
	}
	if err == nil {
		t.Fatal("served a client without a certificate")
	}

	c, err = tls.Dial("tcp", s.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(fwd.AppendPackedForward(nil, "t", chunkPlain(t, 3), fwd.Options{Chunk: "a"})); err != nil {
		t.Fatal(err)
	}
	readAck(t, fwd.NewDecoder(c, fwd.Limits{}), "a")
	checkArrived(t, rec, "t", 3, true)
}

// TestConcurrentClients: several clients at once, each on its own connection and tag.
func TestConcurrentClients(t *testing.T) {
	rec := pipelinetest.NewRecorder()
	s := serve(t, rec)
	host, port, _ := net.SplitHostPort(s.addr)
	p, _ := strconv.Atoi(port)
	const clients, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logger, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: p, RequestAck: true, SubSecondPrecision: true, Timeout: waitFor})
			if err != nil {
				errs <- err
				return
			}
			defer logger.Close()
			for i := 0; i < each; i++ {
				if err := logger.PostWithTime("c"+strconv.Itoa(c), eventTime(i), record(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if !rec.Wait(clients*each, waitFor) {
		t.Fatalf("%d records", rec.Len())
	}
	perTag := map[string]int{}
	for _, r := range rec.Records() {
		perTag[r.Tag]++
		i := r.Event.Record.Value("i").(int64)
		if !reflect.DeepEqual(r.Event.Record.ToMap(), record(int(i))) || !r.Event.Time.Equal(eventTime(int(i))) {
			t.Fatalf("record %d of %s differs", i, r.Tag)
		}
	}
	for c := 0; c < clients; c++ {
		if perTag["c"+strconv.Itoa(c)] != each {
			t.Fatalf("per tag: %v", perTag)
		}
	}
}
