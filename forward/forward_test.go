package forward

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
)

const capturesDir = "../../shared/fluentbit-captures/forward"

// sample returns n events with nested maps, binary values, nanosecond times and, every
// other one, metadata (Fluent Bit's v2 entries).
func sample(n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			Time:   time.Unix(1795366514, int64(448372796+i)),
			Record: event.Map{{"device", "sensor-1"}, {"i", int64(i)}, {"temp", 21.5}, {"raw", []byte{0, 1, 2, 0xff}}, {"nested", event.Map{{"a", []any{int64(1), "two", nil, true}}}}},
		}
		if i%2 == 1 {
			evs[i].Metadata = event.Map{{"trace", "t" + strings.Repeat("x", i%7)}}
		}
	}
	return evs
}

func chunkOf(t testing.TB, evs []event.Event) []byte {
	t.Helper()
	var b []byte
	for i := range evs {
		var err error
		if b, err = event.AppendEntry(b, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func decodeAll(t testing.TB, entries []byte) []event.Event {
	t.Helper()
	var out []event.Event
	if err := event.Entries(entries, func(ev event.Event) error { out = append(out, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// encodings returns the same events as a stream of messages in every mode.
// Map order is random, so the chunk comes from the Message mode encoding.
func encodings(t testing.TB, tag string, evs []event.Event) (map[Mode][]byte, []byte) {
	out := map[Mode][]byte{}
	var msgs, chunk []byte
	for i := range evs {
		var err error
		n := len(msgs)
		if msgs, err = AppendMessage(msgs, tag, &evs[i], Options{}); err != nil {
			t.Fatal(err)
		}
		chunk = append(append(chunk, 0x92), msgs[n+2+len(tag):]...)
	}
	out[ModeMessage] = msgs
	out[ModeForward] = AppendForward(nil, tag, chunk, len(evs), Options{Size: len(evs)})
	out[ModePackedForward] = AppendPackedForward(nil, tag, chunk, Options{Size: len(evs), Chunk: "abc"})
	out[ModeCompressedPackedForward] = AppendCompressedPackedForward(nil, tag, chunk, Options{Size: len(evs)})
	return out, chunk
}

func TestEveryModeRoundTrips(t *testing.T) {
	evs := sample(9)
	wires, chunk := encodings(t, "app.log", evs)
	for mode, wire := range wires {
		t.Run(mode.String(), func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(wire), Limits{ChunkSize: 7}) // many small reads
			var got []byte
			n := 0
			for {
				m, err := d.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if m.Mode != mode || m.Tag != "app.log" || m.Dropped != 0 {
					t.Fatalf("mode %v tag %q dropped %d, want %v app.log 0", m.Mode, m.Tag, m.Dropped, mode)
				}
				got = append(got, m.Entries...)
				n += m.Count
			}
			if n != len(evs) || !bytes.Equal(got, chunk) {
				t.Fatalf("got %d entries %x\nwant %d %x", n, got, len(evs), chunk)
			}
			if back := decodeAll(t, got); !reflect.DeepEqual(back, evs) {
				t.Fatalf("decoded %v\nwant %v", back, evs)
			}
		})
	}
}

func TestOptionsDecode(t *testing.T) {
	chunk := chunkOf(t, sample(2))
	m, err := DecodeMessage(AppendPackedForward(nil, "t", chunk, Options{Size: 2, Chunk: "id-1"}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Options != (Options{Size: 2, Chunk: "id-1"}) {
		t.Fatalf("options %+v", m.Options)
	}
	// compressed "text" is uncompressed; unknown keys are ignored.
	raw := msgp.AppendArrayHeader(nil, 3)
	raw = msgp.AppendString(raw, "t")
	raw = msgp.AppendString(raw, string(chunk))
	raw = msgp.AppendMapHeader(raw, 2)
	raw = msgp.AppendString(raw, "compressed")
	raw = msgp.AppendString(raw, "text")
	raw = msgp.AppendString(raw, "other")
	raw = msgp.AppendMapHeader(raw, 0)
	if m, err = DecodeMessage(raw, Limits{}); err != nil || m.Count != 2 || m.Mode != ModePackedForward {
		t.Fatalf("str packed with text: %v %+v", err, m)
	}
}

func TestTimesIntegerFloatAndEventTime(t *testing.T) {
	rec := msgp.AppendMapHeader(nil, 1)
	rec = msgp.AppendString(rec, "k")
	rec = msgp.AppendString(rec, "v")
	for _, tc := range []struct {
		name string
		time []byte
		want time.Time
	}{
		{"int", msgp.AppendInt64(nil, 1700000000), time.Unix(1700000000, 0)},
		{"uint", msgp.AppendUint64(nil, 1700000000), time.Unix(1700000000, 0)},
		{"float", msgp.AppendFloat64(nil, 1700000000.25), time.Unix(1700000000, 250000000)},
		{"eventtime", event.AppendTime(nil, time.Unix(1700000000, 123456789)), time.Unix(1700000000, 123456789)},
		{"ext8 eventtime", []byte{0xc7, 8, 0, 0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15}, time.Unix(1700000000, 123456789)},
	} {
		raw := msgp.AppendArrayHeader(nil, 3)
		raw = msgp.AppendString(raw, "t")
		raw = append(append(raw, tc.time...), rec...)
		m, err := DecodeMessage(raw, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		evs := decodeAll(t, m.Entries)
		if len(evs) != 1 || !evs[0].Time.Equal(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, evs, tc.want)
		}
		// The time is kept as the client sent it.
		if !bytes.Contains(m.Entries, tc.time) {
			t.Errorf("%s: time re-encoded: %x", tc.name, m.Entries)
		}
	}
}

func TestBadEntriesAreDroppedOthersKept(t *testing.T) {
	evs := sample(3)
	good := chunkOf(t, evs)
	bad := msgp.AppendArrayHeader(nil, 2)
	bad = msgp.AppendString(bad, "not a time")
	bad = msgp.AppendMapHeader(bad, 0)
	// entries: good0, bad, good1, good2
	first, _ := event.SkipEntry(good)
	e0 := good[:len(good)-len(first)]
	packed := append(append(append([]byte(nil), e0...), bad...), first...)
	for _, wire := range [][]byte{
		AppendPackedForward(nil, "t", packed, Options{}),
		AppendForward(nil, "t", packed, 4, Options{}),
		AppendCompressedPackedForward(nil, "t", packed, Options{}),
	} {
		m, err := DecodeMessage(wire, Limits{BatchBytes: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.Count != 3 || m.Dropped != 1 || m.DropErr == nil || !bytes.Equal(m.Entries, good) {
			t.Fatalf("%v: count %d dropped %d (%v)", m.Mode, m.Count, m.Dropped, m.DropErr)
		}
		if len(m.Batches) != 3 {
			t.Fatalf("%v: %d batches, want one per entry", m.Mode, len(m.Batches))
		}
	}
}

func TestBatchesCoverEntries(t *testing.T) {
	evs := sample(1000)
	chunk := chunkOf(t, evs)
	m, err := DecodeMessage(AppendPackedForward(nil, "t", chunk, Options{}), Limits{BatchBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var joined []byte
	n := 0
	for _, b := range m.Batches {
		if len(b.Entries) > 4096 {
			t.Fatalf("batch of %d bytes", len(b.Entries))
		}
		if c, _, err := event.Count(b.Entries); err != nil || c != b.Count {
			t.Fatalf("batch count %d, holds %d (%v)", b.Count, c, err)
		}
		joined = append(joined, b.Entries...)
		n += b.Count
	}
	if n != 1000 || !bytes.Equal(joined, chunk) || len(m.Batches) < 2 {
		t.Fatalf("batches: %d entries in %d batches", n, len(m.Batches))
	}
}

func TestMultiMemberGzip(t *testing.T) {
	evs := sample(4)
	chunk := chunkOf(t, evs)
	var z bytes.Buffer
	for _, part := range [][]byte{chunk[:len(chunk)/3], chunk[len(chunk)/3:]} {
		w := gzip.NewWriter(&z)
		w.Write(part)
		w.Close()
	}
	raw := msgp.AppendArrayHeader(nil, 3)
	raw = msgp.AppendString(raw, "t")
	raw = msgp.AppendBytes(raw, z.Bytes())
	raw = AppendOptions(raw, Options{Compressed: "gzip"})
	m, err := DecodeMessage(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != ModeCompressedPackedForward || m.Count != 4 || !bytes.Equal(m.Entries, chunk) {
		t.Fatalf("%v %d", m.Mode, m.Count)
	}
}

func TestGzipBombIsRefused(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(make([]byte, 10<<20))
	w.Close()
	raw := msgp.AppendArrayHeader(nil, 3)
	raw = msgp.AppendString(raw, "t")
	raw = msgp.AppendBytes(raw, z.Bytes())
	raw = AppendOptions(raw, Options{Compressed: "gzip"})
	_, err := DecodeMessage(raw, Limits{MaxDecompressed: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "decompressed") {
		t.Fatalf("err = %v", err)
	}
}

func TestHeartbeatsAreSkipped(t *testing.T) {
	wire := AppendPackedForward([]byte{0xc0, 0xc0}, "t", chunkOf(t, sample(1)), Options{})
	wire = append(wire, 0xc0)
	d := NewDecoder(bytes.NewReader(wire), Limits{})
	if m, err := d.Next(); err != nil || m.Count != 1 {
		t.Fatal(m, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("after the last heartbeat: %v, want EOF", err)
	}
}

// countingReader counts the bytes the decoder asked for.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestHostileInputIsRefusedEarly(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
		want error
	}{
		{"bin32 of 4 GiB", []byte{0x93, 0xa1, 't', 0xc6, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"str32 tag of 4 GiB", []byte{0x93, 0xdb, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"array32 of 4G entries", []byte{0x92, 0xa1, 't', 0xdd, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"map32 of 4G pairs", []byte{0x93, 0xa1, 't', 0x00, 0xdf, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"ext32 of 4 GiB", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x00}, ErrTooLarge},
		{"invalid byte", []byte{0x92, 0xc1}, nil},
		{"truncated", []byte{0x93, 0xa1, 't', 0xc4, 0x10, 1, 2}, io.ErrUnexpectedEOF},
		{"deep nesting", bytes.Repeat([]byte{0x91}, 10000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An endless source after the hostile header: the decoder must stop on its own.
			cr := &countingReader{r: io.MultiReader(bytes.NewReader(tc.wire), zeros{})}
			if tc.want == io.ErrUnexpectedEOF {
				cr.r = bytes.NewReader(tc.wire)
			}
			d := NewDecoder(cr, Limits{ChunkSize: 4096, MaxSize: 64 << 10})
			_, err := d.Next()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if cr.read > 64<<10 || cap(d.buf) > 64<<10 {
				t.Fatalf("read %d bytes, buffer %d: past the limit", cr.read, cap(d.buf))
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestMessageTooLargeForLimit(t *testing.T) {
	wire := AppendPackedForward(nil, "t", chunkOf(t, sample(2000)), Options{})
	d := NewDecoder(bytes.NewReader(wire), Limits{ChunkSize: 1024, MaxSize: len(wire) - 1})
	if _, err := d.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	d = NewDecoder(bytes.NewReader(wire), Limits{ChunkSize: 1024, MaxSize: len(wire)})
	if m, err := d.Next(); err != nil || m.Count != 2000 {
		t.Fatalf("at the limit: %v", err)
	}
}

func TestNotForwardMessages(t *testing.T) {
	for name, raw := range map[string][]byte{
		"map":          AppendAck(nil, "x"),
		"one element":  {0x91, 0xa1, 't'},
		"empty tag":    {0x92, 0xa0, 0x90},
		"int tag":      {0x92, 0x01, 0x90},
		"signal":       AppendForward(nil, "t", nil, 0, Options{Signal: 1}),
		"zstd":         append(AppendPackedForward(nil, "t", nil, Options{})[:0], 0x93, 0xa1, 't', 0xc4, 0, 0x81, 0xaa, 'c', 'o', 'm', 'p', 'r', 'e', 's', 's', 'e', 'd', 0xa4, 'z', 's', 't', 'd'),
		"count lies":   {0x92, 0xa1, 't', 0x92, 0x92, 0x01, 0x80},
		"trailing":     {0x93, 0xa1, 't', 0x90, 0x80, 0x01},
		"options list": {0x93, 0xa1, 't', 0x90, 0x90},
		"bad gzip":     {0x93, 0xa1, 't', 0xc4, 2, 1, 2, 0x81, 0xaa, 'c', 'o', 'm', 'p', 'r', 'e', 's', 's', 'e', 'd', 0xa4, 'g', 'z', 'i', 'p'},
	} {
		if _, err := DecodeMessage(raw, Limits{}); err == nil {
			t.Errorf("%s: accepted %x", name, raw)
		}
	}
}

func TestAck(t *testing.T) {
	id, err := ParseAck(AppendAck(nil, "prAEwzWG06l76iRIxhnZOg=="))
	if err != nil || id != "prAEwzWG06l76iRIxhnZOg==" {
		t.Fatal(id, err)
	}
	if _, err := ParseAck([]byte{0x80}); err == nil {
		t.Fatal("empty map accepted as an ack")
	}
}

// TestFluentBitCaptures decodes every wire capture of Fluent Bit v5.1.1's forward output.
func TestFluentBitCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.bin"))
	if len(files) == 0 {
		t.Skip("no captures in " + capturesDir)
	}
	wantMode := map[string]Mode{
		"out_forward_gzip.bin": ModeCompressedPackedForward,
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(bytes.NewReader(data), Limits{})
			msgs, records := 0, 0
			for {
				m, err := d.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("message %d: %v", msgs, err)
				}
				want, ok := wantMode[filepath.Base(f)]
				if !ok {
					want = ModeForward
				}
				if m.Mode != want || m.Tag != "sensor.dummy" || m.Dropped != 0 {
					t.Fatalf("mode %v tag %q dropped %d (%v)", m.Mode, m.Tag, m.Dropped, m.DropErr)
				}
				if m.Options.Size != 0 && m.Options.Size != m.Count {
					t.Fatalf("size option %d, %d entries", m.Options.Size, m.Count)
				}
				if strings.Contains(f, "require_ack") && m.Options.Chunk == "" {
					t.Fatal("no chunk id with require_ack")
				}
				for _, ev := range decodeAll(t, m.Entries) {
					if ev.Record.Value("device") != "sensor-1" || ev.Record.Value("temp") != 21.5 {
						t.Fatalf("record %v", ev.Record)
					}
					if ev.Time.Year() < 2026 {
						t.Fatalf("time %v", ev.Time)
					}
					if strings.Contains(f, "time_as_integer") && ev.Time.Nanosecond() != 0 {
						t.Fatalf("integer time with nanoseconds: %v", ev.Time)
					}
				}
				msgs++
				records += m.Count
			}
			if msgs == 0 || records == 0 {
				t.Fatal("nothing decoded")
			}
			t.Logf("%d messages, %d records", msgs, records)
		})
	}
}

func TestHandshake(t *testing.T) {
	users := map[string]string{"alice": "s3cret"}
	for _, tc := range []struct {
		name       string
		server     ServerAuth
		client     ClientAuth
		wantReject bool
	}{
		{"shared key", ServerAuth{SharedKey: "k", Hostname: "srv"}, ClientAuth{SharedKey: "k", Hostname: "cli"}, false},
		{"empty shared key", ServerAuth{Hostname: "srv", Keepalive: true}, ClientAuth{Hostname: "cli"}, false},
		{"wrong key", ServerAuth{SharedKey: "k", Hostname: "srv"}, ClientAuth{SharedKey: "x", Hostname: "cli"}, true},
		{"user", ServerAuth{SharedKey: "k", Hostname: "srv", Users: users}, ClientAuth{SharedKey: "k", Hostname: "cli", Username: "alice", Password: "s3cret"}, false},
		{"wrong password", ServerAuth{SharedKey: "k", Hostname: "srv", Users: users}, ClientAuth{SharedKey: "k", Hostname: "cli", Username: "alice", Password: "no"}, true},
		{"unknown user", ServerAuth{SharedKey: "k", Hostname: "srv", Users: users}, ClientAuth{SharedKey: "k", Hostname: "cli", Username: "bob", Password: "s3cret"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, cc := net.Pipe()
			defer sc.Close()
			defer cc.Close()
			type result struct {
				ping Ping
				err  error
			}
			done := make(chan result, 1)
			go func() {
				p, err := ServerHandshake(sc, NewDecoder(sc, Limits{}), tc.server)
				done <- result{p, err}
			}()
			helo, cerr := ClientHandshake(cc, NewDecoder(cc, Limits{}), tc.client)
			r := <-done
			if tc.wantReject {
				if !errors.Is(cerr, ErrAuth) || !errors.Is(r.err, ErrAuth) {
					t.Fatalf("client %v, server %v: want both ErrAuth", cerr, r.err)
				}
				return
			}
			if cerr != nil || r.err != nil {
				t.Fatalf("client %v, server %v", cerr, r.err)
			}
			if r.ping.Hostname != "cli" || helo.Keepalive != tc.server.Keepalive {
				t.Fatalf("ping %+v helo %+v", r.ping, helo)
			}
			if (len(helo.Auth) > 0) != (len(tc.server.Users) > 0) {
				t.Fatalf("auth salt %x with users %v", helo.Auth, tc.server.Users)
			}
		})
	}
}

// TestHandshakeKnownDigest pins the digest to the spec's formula with fixed inputs.
func TestHandshakeKnownDigest(t *testing.T) {
	// sha512_hex("salt" + "host" + "nonce" + "key")
	got := SharedKeyDigest([]byte("salt"), "host", []byte("nonce"), "key")
	want := "22ec4f9c36a2f046a7b4655800a5ddfb182586919b3cd9677fdec97a04c86982043491985b89d8ad2ca716289d8daf1521a9bd98ef009f54d9db291d83284e98" // printf salthostnoncekey | sha512sum
	if got != want || got != PasswordDigest([]byte("salthost"), "nonce", "key") {
		t.Fatalf("digest %s", got)
	}
}

func TestServerRejectsClientThatIsNotAClientServerWrongDigest(t *testing.T) {
	// A server that does not know the key: the client must refuse its PONG.
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	go func() {
		d := NewDecoder(sc, Limits{})
		sc.Write(AppendHelo(nil, Helo{Nonce: []byte("n")}))
		if _, err := d.ReadRaw(); err != nil {
			return
		}
		sc.Write(AppendPong(nil, Pong{AuthResult: true, Hostname: "evil", SharedKeyDigest: "00"}))
	}()
	_, err := ClientHandshake(cc, NewDecoder(cc, Limits{}), ClientAuth{SharedKey: "k", Hostname: "c"})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v", err)
	}
}

// TestMessageModeMetadataOption: Fluent Bit's Message mode carries v2 metadata in the
// option map; it becomes the entry's [time, metadata] header.
func TestMessageModeMetadataOption(t *testing.T) {
	raw := msgp.AppendArrayHeader(nil, 4)
	raw = msgp.AppendString(raw, "t")
	raw = event.AppendTime(raw, time.Unix(1700000000, 5))
	raw = msgp.AppendMapHeader(raw, 1)
	raw = msgp.AppendString(raw, "k")
	raw = msgp.AppendString(raw, "v")
	raw = msgp.AppendMapHeader(raw, 2)
	raw = msgp.AppendString(raw, "metadata")
	raw = msgp.AppendMapHeader(raw, 1)
	raw = msgp.AppendString(raw, "m")
	raw = msgp.AppendInt(raw, 1)
	raw = msgp.AppendString(raw, "chunk")
	raw = msgp.AppendString(raw, "c1")
	m, err := DecodeMessage(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	evs := decodeAll(t, m.Entries)
	want := event.Event{Time: time.Unix(1700000000, 5), Metadata: event.Map{{"m", int64(1)}}, Record: event.Map{{"k", "v"}}}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], want) || m.Options.Chunk != "c1" {
		t.Fatalf("got %+v %+v", evs, m.Options)
	}
}

// TestHandshakeWireTypes: Fluent Bit's in_forward refuses a PING field that is not a str,
// and sends HELO with str nonce and auth and no keepalive.
func TestHandshakeWireTypes(t *testing.T) {
	p := AppendPing(nil, Ping{Hostname: "h", SharedKeySalt: []byte{0xff, 0}, SharedKeyDigest: "d", Username: "", PasswordDigest: ""})
	rest := p[1:] // after the fixarray header
	for i := 0; i < 6; i++ {
		if kind(rest) != kindStr {
			t.Fatalf("PING field %d is not a str: %x", i, rest[0])
		}
		rest, _ = skipN(rest, 1)
	}
	// A Fluent Bit style HELO: {nonce: str, auth: str}.
	helo := msgp.AppendArrayHeader(nil, 2)
	helo = msgp.AppendString(helo, "HELO")
	helo = msgp.AppendMapHeader(helo, 2)
	helo = msgp.AppendString(helo, "nonce")
	helo = msgp.AppendStringFromBytes(helo, []byte{1, 2, 0xfe})
	helo = msgp.AppendString(helo, "auth")
	helo = msgp.AppendStringFromBytes(helo, []byte{9})
	h, err := ParseHelo(helo)
	if err != nil || !bytes.Equal(h.Nonce, []byte{1, 2, 0xfe}) || !bytes.Equal(h.Auth, []byte{9}) {
		t.Fatalf("%+v %v", h, err)
	}
}
