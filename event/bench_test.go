package event

import (
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// A record shaped like a sensor reading, the common case on a device.
func benchEvent() Event {
	return Event{Time: time.Unix(1700000000, 1), Record: Map{{"device_id", "pi-0042"}, {"sensor", "bme280"}, {"temperature", 21.5}, {"humidity", 48.25}, {"pressure", int64(101325)}, {"ok", true}, {"message", "periodic reading from the living room"}}}
}

func BenchmarkAppendEntry(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = AppendEntry(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkAppendEntryVmihailenco is the baseline the msgpack choice was made against:
// the same entry through vmihailenco/msgpack/v5's reflection-based Marshal.
func BenchmarkAppendEntryVmihailenco(b *testing.B) {
	ev := benchEvent()
	v := []any{ev.Time.Unix(), ev.Record}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := msgpack.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadEntry(b *testing.B) {
	ev := benchEvent()
	data, _ := AppendEntry(nil, &ev)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := ReadEntry(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadEntryVmihailenco(b *testing.B) {
	ev := benchEvent()
	data, _ := msgpack.Marshal([]any{ev.Time.Unix(), ev.Record})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var v []any
		if err := msgpack.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSkipEntry walks a chunk of 1000 entries with SkipEntry (the byte loop, falling
// back to the recursive walk only for what it does not accept) beside the recursive walk
// alone (skipEntrySlow, what SkipEntry was before), for three record shapes: the sensor
// reading, the forward bench's small record, and one with metadata and nested values.
func BenchmarkSkipEntry(b *testing.B) {
	nested := Event{Time: time.Unix(1700000000, 1), Metadata: Map{{"trace", "abc"}}, Record: Map{{"kubernetes", Map{{"pod", "web-1"}, {"labels", Map{{"app", "web"}, {"tier", "front"}}}}}, {"tags", []any{"a", "b", int64(3)}}, {"log", "GET /index.html 200 1234"}}}
	for _, shape := range []struct {
		name string
		ev   Event
	}{
		{"sensor", benchEvent()},
		{"forward-bench", Event{Time: time.Unix(1700000000, 1), Record: Map{{"message", "dummy"}, {"level", "info"}, {"temp", 21.5}, {"device", "sensor-1"}}}},
		{"nested-metadata", nested},
	} {
		var chunk []byte
		for i := 0; i < 1000; i++ {
			chunk, _ = AppendEntry(chunk, &shape.ev)
		}
		for _, walk := range []struct {
			name string
			skip func([]byte) ([]byte, error)
		}{{"slow-recursive", skipEntrySlow}, {"fast", SkipEntry}} {
			b.Run(shape.name+"/"+walk.name, func(b *testing.B) {
				b.SetBytes(int64(len(chunk)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					for rest := chunk; len(rest) > 0; {
						var err error
						if rest, err = walk.skip(rest); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

func BenchmarkJSONToEntry(b *testing.B) {
	js := []byte(`{"device_id":"pi-0042","sensor":"bme280","temperature":21.5,"humidity":48.25,"pressure":101325,"ok":true,"message":"periodic reading from the living room"}`)
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rec, err := RecordFromJSON(js)
		if err != nil {
			b.Fatal(err)
		}
		ev := Event{Time: time.Unix(1, 0), Record: rec}
		if buf, err = AppendEntry(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendJSON(buf[:0], ev.Record)
	}
}
