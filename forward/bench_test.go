package forward

import (
	"bytes"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// benchRecords is the number of entries per message in the benchmarks: about what a
// Fluent Bit forward output sends per flush at a few thousand records per second.
const benchRecords = 1000

// BenchmarkDecode measures Decoder.Next over a stream of messages in each mode, beside
// the baseline of walking the same entries with event.SkipEntry (event.Count), which is
// the least any validating decoder does. records/s is per entry.
func BenchmarkDecode(b *testing.B) {
	wires, chunk := encodings(b, "bench.tag", sample(benchRecords))
	b.Run("baseline-SkipEntry", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if n, _, err := event.Count(chunk); err != nil || n != benchRecords {
				b.Fatal(n, err)
			}
		}
		b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds(), "records/s")
	})
	for _, mode := range []Mode{ModeMessage, ModeForward, ModePackedForward, ModeCompressedPackedForward} {
		wire := wires[mode]
		b.Run(mode.String(), func(b *testing.B) {
			// One stream holding the message(s) b.N times, read by one Decoder.
			const per = 16
			stream := bytes.Repeat(wire, per)
			r := bytes.NewReader(stream)
			d := NewDecoder(r, Limits{BatchBytes: 512 << 10})
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				if i%per == 0 {
					r.Reset(stream)
				}
				for got := 0; got < benchRecords; {
					m, err := d.Next()
					if err != nil {
						b.Fatal(err)
					}
					got += m.Count
					n += m.Count
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkEncode measures building a PackedForward and a CompressedPackedForward from a
// chunk, beside the baseline of copying the chunk's bytes.
func BenchmarkEncode(b *testing.B) {
	_, chunk := encodings(b, "bench.tag", sample(benchRecords))
	var dst []byte
	b.Run("baseline-copy", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst = append(dst[:0], chunk...)
		}
	})
	b.Run("PackedForward", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst = AppendPackedForward(dst[:0], "bench.tag", chunk, Options{Size: benchRecords, Chunk: "0123456789abcdef"})
		}
	})
	b.Run("CompressedPackedForward", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst = AppendCompressedPackedForward(dst[:0], "bench.tag", chunk, Options{Size: benchRecords})
		}
	})
}
