package pipelinetest

import (
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

// Eventually checks cond until it holds and reports whether it did before timeout passed
// (see package internal/poll, the one place the tests poll). Use it only for a change
// nothing signals, such as the engine's metrics or a retry timer; wait on a channel,
// Recorder.Wait or Logs.Wait wherever one exists.
//
//	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].Retries > 0 }) {
//		t.Fatalf("no retry: %+v", e.Metrics().Outputs[0])
//	}
func Eventually(timeout time.Duration, cond func() bool) bool { return poll.Until(timeout, cond) }
