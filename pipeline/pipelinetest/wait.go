package pipelinetest

import "time"

// Eventually checks cond until it holds and reports whether it did before timeout passed.
// It is the one place in the tests that polls (every millisecond at first, backing off to
// 20ms): use it only for a change nothing signals, such as the engine's metrics or a retry
// timer, and wait on a channel, Recorder.Wait or Logs.Wait wherever one exists.
//
//	if !pipelinetest.Eventually(10*time.Second, func() bool { return e.Metrics().Outputs[0].Retries > 0 }) {
//		t.Fatalf("no retry: %+v", e.Metrics().Outputs[0])
//	}
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, 20*time.Millisecond)
	}
	return true
}
