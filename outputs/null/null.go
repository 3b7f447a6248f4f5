// Package null is an output that discards every chunk, like Fluent Bit's null output: for
// benchmarks, and for routes whose records should be counted but kept nowhere. It counts
// nothing itself; the engine's per-output metrics count what it "delivers". It has no keys.
package null

import (
	"context"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() { pipeline.RegisterOutput("null", func() pipeline.Output { return Output{} }) }

// Output discards chunks.
type Output struct{}

// Flush discards c and reports it delivered.
func (Output) Flush(context.Context, *pipeline.Chunk) error { return nil }

// Interface guard: a method with a wrong signature fails the build.
var _ pipeline.Output = Output{}
