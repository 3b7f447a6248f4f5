package forward

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// inflateAll decodes one wire message with lim.Stream and inflates it, returning the
// entries handed on (joined), the batches' largest size and the message.
func inflateAll(t testing.TB, wire []byte, lim Limits) ([]byte, int, *Message, error) {
	t.Helper()
	lim.Stream = true
	d := NewDecoder(bytes.NewReader(wire), lim)
	defer d.Close()
	m, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !m.Streaming() || m.Mode != ModeCompressedPackedForward {
		t.Fatalf("mode %v streaming %v", m.Mode, m.Streaming())
	}
	var joined []byte
	largest := 0
	err = m.Inflate(func(b []byte, n int) error {
		if c, _, cerr := event.Count(b); cerr != nil || c != n {
			t.Fatalf("a piece says %d entries, holds %d (%v)", n, c, cerr)
		}
		joined = append(joined, b...)
		largest = max(largest, len(b))
		return nil
	})
	return joined, largest, m, err
}

// Inflating piece by piece hands on exactly the entries inflating whole gives, in
// batches no larger than BatchBytes, with a window that stays at BaseSize.
func TestInflateMatchesWholeDecode(t *testing.T) {
	evs := sample(5000) // about 500 KB of entries: many windows
	chunk := chunkOf(t, evs)
	wire := AppendCompressedPackedForward(nil, "t", chunk, Options{Chunk: "id"})
	whole, err := DecodeMessage(wire, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var reserved int
	got, largest, m, err := inflateAll(t, wire, Limits{BatchBytes: 16 << 10,
		Reserve: func(n, _ int) error { reserved += n; return nil }, Release: func(n int) { reserved -= n }})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, whole.Entries) || m.Count != len(evs) || m.Options.Chunk != "id" {
		t.Fatalf("streamed %d bytes, %d entries; whole %d bytes, %d entries", len(got), m.Count, len(whole.Entries), len(evs))
	}
	if largest > 16<<10 {
		t.Fatalf("a piece of %d bytes, BatchBytes 16 KiB", largest)
	}
	if reserved != 0 {
		t.Fatalf("%d bytes reserved after the message (entries fit the base window)", reserved)
	}
}

// An entry larger than the window grows it, reserved first, and given back after.
func TestInflateGrowsForALargeEntry(t *testing.T) {
	big := event.Event{Time: sample(1)[0].Time, Record: event.Map{{"blob", strings.Repeat("x", 300<<10)}}}
	chunk := chunkOf(t, append(append(sample(3), big), sample(2)...))
	wire := AppendCompressedPackedForward(nil, "t", chunk, Options{})
	var reserved, peak int
	got, _, m, err := inflateAll(t, wire, Limits{
		Reserve: func(n, _ int) error { reserved += n; peak = max(peak, reserved); return nil },
		Release: func(n int) { reserved -= n }})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, chunk) || m.Count != 6 {
		t.Fatalf("%d entries, %d of %d bytes", m.Count, len(got), len(chunk))
	}
	if peak < 300<<10-BaseSize || reserved != 0 {
		t.Fatalf("reserved at most %d for a 300 KiB entry, %d left after", peak, reserved)
	}
	// Refused by the budget: the message is refused, nothing is left reserved.
	_, _, _, err = inflateAll(t, wire, Limits{
		Reserve: func(n, _ int) error { return errors.New("budget spent") }, Release: func(n int) { t.Fatal("released what was never reserved") }})
	if !errors.Is(err, ErrNoMemory) {
		t.Fatalf("refused reservation: %v, want ErrNoMemory", err)
	}
	// Larger than buffer_max_size.
	_, _, _, err = inflateAll(t, wire, Limits{MaxSize: 128 << 10})
	if !errors.Is(err, ErrEntryTooLarge) {
		t.Fatalf("entry past MaxSize: %v, want ErrEntryTooLarge", err)
	}
}

func TestInflateBombAndDamageAreRefused(t *testing.T) {
	chunk := chunkOf(t, sample(2000))
	wire := AppendCompressedPackedForward(nil, "t", chunk, Options{})
	if _, _, _, err := inflateAll(t, wire, Limits{MaxDecompressed: len(chunk) / 2}); err == nil || !strings.Contains(err.Error(), "decompressed") {
		t.Fatalf("past MaxDecompressed: %v", err)
	}
	// Entries cut short: the last entry is incomplete.
	cut := AppendCompressedPackedForward(nil, "t", chunk[:len(chunk)-3], Options{})
	if _, _, _, err := inflateAll(t, cut, Limits{}); err == nil {
		t.Fatal("a cut entry was accepted")
	}
	// Not gzip at all.
	raw := msgp.AppendArrayHeader(nil, 3)
	raw = msgp.AppendString(raw, "t")
	raw = msgp.AppendBytes(raw, []byte("not gzip"))
	raw = AppendOptions(raw, Options{Compressed: "gzip"})
	if _, _, _, err := inflateAll(t, raw, Limits{}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("not gzip: %v", err)
	}
	// Invalid entries are left out, the others handed on.
	bad := msgp.AppendArrayHeader(nil, 2)
	bad = msgp.AppendString(bad, "not a time")
	bad = msgp.AppendMapHeader(bad, 0)
	good := chunkOf(t, sample(2))
	wire = AppendCompressedPackedForward(nil, "t", append(append(append([]byte(nil), good...), bad...), good...), Options{})
	got, _, m, err := inflateAll(t, wire, Limits{})
	if err != nil || m.Count != 4 || m.Dropped != 1 || !bytes.Equal(got, append(append([]byte(nil), good...), good...)) {
		t.Fatalf("count %d dropped %d err %v", m.Count, m.Dropped, err)
	}
}

// FuzzInflate: whatever the payload, inflating piece by piece never panics, and when
// it succeeds it hands on what inflating whole gives.
func FuzzInflate(f *testing.F) {
	wires, _ := encodings(f, "fuzz.tag", sample(3))
	f.Add(wires[ModeCompressedPackedForward])
	f.Add(AppendCompressedPackedForward(nil, "t", []byte{0x92, 0x01, 0x80, 0x92}, Options{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxSize: 4096, MaxDecompressed: 16384, BatchBytes: 100, Stream: true}
		d := NewDecoder(bytes.NewReader(data), lim)
		defer d.Close()
		for i := 0; i < 100; i++ {
			m, err := d.Next()
			if err != nil {
				return
			}
			if !m.Streaming() {
				continue
			}
			var got []byte
			ierr := m.Inflate(func(b []byte, n int) error { got = append(got, b...); return nil })
			if ierr != nil {
				continue
			}
			if _, _, err := event.Count(got); err != nil {
				t.Fatalf("inflated entries are not valid: %v", err)
			}
		}
	})
}
