package forward

import (
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// FuzzChunkWalk feeds arbitrary bytes, as a damaged chunk would hold, to the code that
// walks a chunk's entries without decoding them (time_as_integer, the hash key): it must
// never panic, and what it keeps must be valid entries.
func FuzzChunkWalk(f *testing.F) {
	f.Add(pipelinetest.MakeChunk("t", sample(3, oneDevice)...).Data)
	f.Add(pipelinetest.MakeChunk("t", event.Event{Time: time.Unix(1, 2), Record: event.Map{{"device_id", int64(7)}}}).Data)
	f.Add([]byte{0x92, 0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x81, 0xa9, 'd', 'e', 'v', 'i', 'c', 'e', '_', 'i', 'd', 0xc0})
	f.Add([]byte{0x92, 0xce, 0xff, 0xff, 0xff, 0xff, 0x81})
	plain := &Output{hashKey: accessor.MustParse("device_id")}
	nested := &Output{hashKey: accessor.MustParse("$a['b']")}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, n, _, _ := appendIntegerTimes(nil, data)
		// What it keeps passes the check the input and the engine apply to raw entries.
		count := 0
		for b := out; len(b) > 0; count++ {
			rest, err := event.SkipEntry(b)
			if err != nil {
				t.Fatalf("time_as_integer kept a bad entry: %v", err)
			}
			b = rest
		}
		if count != n {
			t.Fatalf("time_as_integer says %d entries, wrote %d", n, count)
		}
		for b := data; len(b) > 0; {
			rest, err := event.SkipEntry(b)
			if err != nil {
				break
			}
			plain.hashEntry(nil, b[:len(b)-len(rest)])
			nested.hashEntry(nil, b[:len(b)-len(rest)])
			b = rest
		}
	})
}
