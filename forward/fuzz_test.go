package forward

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
)

func seedMessages(f *testing.F) {
	wires, _ := encodings(f, "fuzz.tag", sample(3))
	for _, w := range wires {
		f.Add(w)
	}
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.bin"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte{0xc0, 0x92, 0xa1, 't', 0x90})
	f.Add([]byte{0x93, 0xa1, 't', 0xc6, 0xff, 0xff, 0xff, 0xff})
}

// FuzzDecoder feeds arbitrary streams to the Decoder with small limits: it must never
// panic, never hold more than its limits, and what it returns must be valid entries.
func FuzzDecoder(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{ChunkSize: 64, MaxSize: 4096, MaxDecompressed: 16384, BatchBytes: 100}
		d := NewDecoder(bytes.NewReader(data), lim)
		for i := 0; i < 1000; i++ {
			m, err := d.Next()
			if cap(d.buf) > lim.MaxSize {
				t.Fatalf("buffer %d past MaxSize", cap(d.buf))
			}
			if err != nil {
				if errors.Is(err, io.EOF) && d.Buffered() != 0 {
					t.Fatalf("EOF with %d bytes buffered", d.Buffered())
				}
				return
			}
			n, valid, err := event.Count(m.Entries)
			if err != nil || n != m.Count || valid != len(m.Entries) {
				t.Fatalf("entries: %d counted, %d in message, err %v", n, m.Count, err)
			}
			total := 0
			for _, b := range m.Batches {
				total += b.Count
			}
			if total != m.Count {
				t.Fatalf("batches hold %d entries, message %d", total, m.Count)
			}
			if m.Tag == "" {
				t.Fatal("empty tag")
			}
		}
	})
}

// FuzzHandshake parses arbitrary bytes as each handshake message and as an ack.
func FuzzHandshake(f *testing.F) {
	f.Add(AppendHelo(nil, Helo{Nonce: []byte("nonce"), Auth: []byte("salt"), Keepalive: true}))
	f.Add(AppendPing(nil, Ping{Hostname: "h", SharedKeySalt: []byte("s"), SharedKeyDigest: "d", Username: "u", PasswordDigest: "p"}))
	f.Add(AppendPong(nil, Pong{AuthResult: true, Reason: "", Hostname: "h", SharedKeyDigest: "d"}))
	f.Add(AppendAck(nil, "chunk-id"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := ParseHelo(data); err == nil && len(h.Nonce) == 0 {
			t.Fatal("HELO without nonce accepted")
		}
		_, _ = ParsePing(data)
		_, _ = ParsePong(data)
		_, _ = ParseAck(data)
	})
}
