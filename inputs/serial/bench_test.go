package serial

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// benchData is n lines of about 64 bytes, as a sensor would send them.
func benchData(n int, json bool) []byte {
	var b bytes.Buffer
	for i := range n {
		if json {
			fmt.Fprintf(&b, `{"id":"sensor-%03d","temp":%d.%d,"hum":%d,"seq":%d}`+"\n", i%1000, 20+i%10, i%10, 40+i%20, i)
		} else {
			fmt.Fprintf(&b, "sensor-%03d temp=%d.%d hum=%d seq=%d status=ok\n", i%1000, 20+i%10, i%10, 40+i%20, i)
		}
	}
	return b.Bytes()
}

// BenchmarkLines measures cutting lines out of 4 KiB reads (what a serial read gives at
// most here) against bufio.Scanner over the same bytes, the baseline, and then the whole
// line handling of each format into an emitter that keeps nothing.
func BenchmarkLines(b *testing.B) {
	data := benchData(10000, false)
	jsonData := benchData(10000, true)
	feed := func(b *testing.B, data []byte, line func([]byte)) {
		s := splitter{sep: []byte("\n"), max: DefaultMaxLineLength}
		for off := 0; off < len(data); off += 4096 {
			s.feed(data[off:min(off+4096, len(data))], line, func(int) {})
		}
	}
	run := func(name string, data []byte, fn func(b *testing.B) int) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			lines := 0
			start := time.Now()
			for b.Loop() {
				lines += fn(b)
			}
			b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
		})
	}
	run("splitter", data, func(b *testing.B) int {
		n := 0
		feed(b, data, func([]byte) { n++ })
		return n
	})
	run("baseline-bufio.Scanner", data, func(b *testing.B) int {
		n := 0
		sc := bufio.NewScanner(&chunkReader{data: data, chunk: 4096})
		for sc.Scan() {
			n++
		}
		return n
	})
	for _, f := range []struct {
		name string
		json bool
		data []byte
	}{{"format-none", false, data}, {"format-json", true, jsonData}} {
		run(f.name, f.data, func(b *testing.B) int {
			in := &Input{sep: []byte("\n"), json: f.json, rep: reporter{log: slog.New(slog.DiscardHandler)}}
			var d discardEmitter
			feed(b, f.data, func(l []byte) {
				if err := in.line(&d, l); err != nil {
					b.Fatal(err)
				}
			})
			return d.n
		})
	}
}

// chunkReader reads data at most chunk bytes at a time.
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}
