package forward

import (
	"errors"
	"testing"
)

// scanRef is framer.scan as it was before its run of scalars: one value at a time through
// header. FuzzFramer checks scan against it and BenchmarkFramer compares the two.
func (f *framer) scanRef(buf []byte, max int) (int, error) {
	for {
		if f.skip > 0 {
			avail := len(buf) - f.pos
			if avail < f.skip {
				f.pos += avail
				f.skip -= avail
				return 0, nil
			}
			f.pos += f.skip
			f.skip = 0
			if f.valueDone() {
				return f.pos, nil
			}
		}
		if f.pos >= len(buf) {
			return 0, nil
		}
		hdr, payload, items, err := header(buf[f.pos:])
		if err != nil {
			return 0, err
		}
		if hdr == 0 {
			return 0, nil
		}
		rest := f.pending - uint64(len(f.stack))
		if uint64(f.pos)+uint64(hdr)+payload+items+rest > uint64(max) {
			return 0, ErrTooLarge
		}
		f.pos += hdr
		switch {
		case items > 0:
			if len(f.stack) >= maxFrameDepth {
				return 0, errors.New("forward: msgpack nested too deep")
			}
			f.stack = append(f.stack, uint32(items))
			f.pending += items
		case payload > 0:
			f.skip = int(payload)
		default:
			if f.valueDone() {
				return f.pos, nil
			}
		}
	}
}

// frameBoth feeds data to a framer and a reference framer in pieces of step bytes (the
// reads of a connection) and fails t where they part.
func frameBoth(t *testing.T, data []byte, max, step int) {
	t.Helper()
	var f, ref framer
	for end := min(step, len(data)); ; end = min(end+step, len(data)) {
		n, err := f.scan(data[:end], max)
		rn, rerr := ref.scanRef(data[:end], max)
		if n != rn || (err == nil) != (rerr == nil) || errors.Is(err, ErrTooLarge) != errors.Is(rerr, ErrTooLarge) {
			t.Fatalf("after %d of %d bytes (max %d): scan %d %v, reference %d %v", end, len(data), max, n, err, rn, rerr)
		}
		if n > 0 || err != nil {
			if f.pos != ref.pos || f.pending != ref.pending || len(f.stack) != len(ref.stack) {
				t.Fatalf("state: pos %d/%d pending %d/%d depth %d/%d", f.pos, ref.pos, f.pending, ref.pending, len(f.stack), len(ref.stack))
			}
			return
		}
		if end == len(data) {
			return
		}
	}
}

func TestFramerAgreesWithReference(t *testing.T) {
	wires, _ := encodings(t, "frame.tag", sample(20))
	for mode, wire := range wires {
		for _, step := range []int{1, 3, 7, 64, len(wire)} {
			for _, max := range []int{len(wire), len(wire) - 1, len(wire) / 2, 1 << 20} {
				t.Run(mode.String(), func(t *testing.T) { frameBoth(t, wire, max, step) })
			}
		}
	}
}

// FuzzFramer checks that scan finds the same end (or error) as the reference, whatever the
// bytes, the limit and the sizes of the reads.
func FuzzFramer(f *testing.F) {
	wires, _ := encodings(f, "fuzz.tag", sample(3))
	for _, w := range wires {
		f.Add(w, uint16(len(w)), uint8(0))
		f.Add(w, uint16(len(w)/2), uint8(5))
	}
	f.Add([]byte{0x92, 0x91, 0x92, 0x01, 0x81, 0xa1, 'k', 0x90}, uint16(100), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, max uint16, step uint8) {
		s := int(step)
		if s == 0 {
			s = len(data) + 1
		}
		frameBoth(t, data, int(max), s)
	})
}

// BenchmarkFramer frames one Forward-mode message of benchRecords entries (all in the
// buffer) with scan beside the reference it replaced.
func BenchmarkFramer(b *testing.B) {
	wires, _ := encodings(b, "bench.tag", sample(benchRecords))
	wire := wires[ModeForward]
	for _, impl := range []struct {
		name string
		scan func(*framer, []byte, int) (int, error)
	}{{"reference", (*framer).scanRef}, {"scan", (*framer).scan}} {
		b.Run(impl.name, func(b *testing.B) {
			var f framer
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f.reset()
				if n, err := impl.scan(&f, wire, DefaultMaxSize); n != len(wire) || err != nil {
					b.Fatal(n, err)
				}
			}
			b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds(), "records/s")
		})
	}
}
