package null

import (
	"context"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestNullDeliversEverything(t *testing.T) {
	out, ok := pipeline.NewOutput("null")
	if !ok {
		t.Fatal(`"null" is not registered`)
	}
	for _, c := range []*pipeline.Chunk{
		pipelinetest.MakeChunk("a"),
		pipelinetest.MakeChunk("b", event.Event{Time: time.Unix(1, 0), Record: event.Map{{"k", "v"}}}),
		{Tag: "damaged", Data: []byte{0xc1}, Records: 1},
	} {
		if err := out.Flush(context.Background(), c); err != nil {
			t.Errorf("Flush(%s) = %v", c.Tag, err)
		}
	}
}
