// Package poll checks a condition again and again until it holds or time runs out. It is
// the one place the tests poll, for changes nothing signals (the engine's metrics, a retry
// timer, a port being freed); wherever a channel, pipelinetest.Recorder.Wait or
// pipelinetest.Logs.Wait can be awaited, tests wait on that instead. Plugin tests reach it
// as pipelinetest.Eventually; the pipeline package's own tests, which cannot import
// pipelinetest (it imports pipeline), use it directly. It is not for production code.
package poll

import "time"

// Until checks cond until it holds and reports whether it did before timeout passed,
// checking once more at the deadline. It waits a millisecond between the first checks,
// doubling up to 20ms, so a quick change is seen quickly and a slow one costs little CPU.
func Until(timeout time.Duration, cond func() bool) bool {
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
