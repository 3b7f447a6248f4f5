package pipeline

import (
	"fmt"
	"os"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/internal/offheap"
)

// TestMain fails the package's run when a chunk buffer allocated off the heap outlives
// every test: engines stopped, reloads done, nothing may still be mapped (a buffer no
// release path freed would be a leak the garbage collector never sees).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if n := offheap.Mapped(); n != 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d bytes of chunk buffers still mapped off the heap after every test\n", n)
			code = 1
		}
	}
	os.Exit(code)
}
