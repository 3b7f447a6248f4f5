package pipelinetest

import (
	"sync"
	"testing"
)

// Concurrently calls fn from workers goroutines at once, n times each (i from 0), and waits
// for them. The first error a worker returns ends that worker and fails the test. It is for
// plugins of which one instance serves several inputs or output workers at the same time;
// run it under -race.
func Concurrently(t testing.TB, workers, n int, fn func(worker, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := fn(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
