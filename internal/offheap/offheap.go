// Package offheap allocates the agent's large, short-lived byte buffers (input chunks)
// outside the Go heap, as anonymous memory mappings, and gives them back to the kernel
// the moment they are freed.
//
// Why: in the Go heap, a 2 MB chunk buffer freed by an output stays resident until a
// collection finds it garbage, and the collector lets the heap grow to about twice what
// is live before it runs (GOGC). With chunks in the heap, "live" is mostly chunk data, so
// a busy agent's resident set was twice its buffers, and every small per-record
// allocation of a filter could pile up to the size of those buffers before a collection.
// Off the heap, a buffer's pages are resident only once written, and unmapped at Free:
// the resident set follows the buffers the memory budget counts, and the Go heap (what
// is left) stays small, so its collections are small and frequent.
//
// The cost is manual ownership: a buffer must be freed exactly once, by its owner, and
// nobody may keep a slice of it after that (a use after Free faults instead of reading
// another chunk's data, as a reused pooled buffer would). The engine owns chunk buffers;
// an output's Flush must not keep the chunk's Data once it returns (it never could: the
// engine pooled and reused those buffers before).
//
// SetLimit ties Go's soft memory limit to what is mapped here: the Go runtime gets the
// service's memory_limit minus the bytes mapped off the heap and minus the executable's
// resident pages (code and tables the work touches, which no collection frees), so that
// all of them together stay under the limit.
//
// Where mappings are not available (not Linux, or a mapping fails), Alloc returns heap
// memory and Free does nothing with it: the garbage collector frees it as before.
package offheap

import (
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

var pageSize = os.Getpagesize()

var (
	mapped atomic.Int64 // bytes mapped now

	limitMu sync.Mutex
	total   int64 // the whole memory limit (0: not tied)
	applied int64 // mapped bytes when Go's limit was last set
	tied    bool  // this package set Go's limit (SetLimit(0) then gives it back)
)

// Mapped returns the bytes mapped off the heap now.
func Mapped() int64 { return mapped.Load() }

// Size returns the capacity Alloc(n) gives: n rounded up to whole pages.
func Size(n int) int {
	page := pageSize
	return (n + page - 1) / page * page
}

// Alloc returns a zeroed buffer of length 0 and capacity at least n (rounded up to whole
// pages when mapped). The buffer must be given back with Free(b), b with the same first
// byte and capacity as returned.
func Alloc(n int) []byte {
	if n <= 0 {
		return nil
	}
	n = Size(n)
	b := mmap(n)
	if b == nil {
		return make([]byte, 0, n)
	}
	grew(int64(cap(b)))
	return b[:0]
}

// Free gives back a buffer Alloc returned. A buffer Alloc took from the heap (mapping
// unavailable) is left to the garbage collector.
func Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	if munmap(b[:cap(b)]) {
		grew(-int64(cap(b)))
	}
}

// SetLimit ties Go's soft memory limit to the process's whole memory limit (bytes; 0
// unties it and gives the runtime no limit): from now on Go's limit is total minus the
// bytes mapped here and the process's file-backed resident pages, never below a quarter
// of total, adjusted as mappings come and go.
func SetLimit(t int64) {
	limitMu.Lock()
	defer limitMu.Unlock()
	total = t
	applyLocked()
}

// Refresh sets Go's limit again from what is mapped and resident now (after the
// executable's pages changed: internal/textpages), if SetLimit tied it.
func Refresh() {
	limitMu.Lock()
	defer limitMu.Unlock()
	if total > 0 {
		applyLocked()
	}
}

// grew counts n more (or fewer) mapped bytes and moves Go's limit when they changed by a
// megabyte or more since it was last set.
func grew(n int64) {
	now := mapped.Add(n)
	limitMu.Lock()
	if total > 0 && (now-applied >= 1<<20 || applied-now >= 1<<20) {
		applyLocked()
	}
	limitMu.Unlock()
}

func applyLocked() {
	if total <= 0 {
		if tied { // otherwise leave alone what GOMEMLIMIT set
			debug.SetMemoryLimit(math.MaxInt64)
			tied = false
		}
		return
	}
	m := mapped.Load()
	applied, tied = m, true
	debug.SetMemoryLimit(max(total-m-fileResident(), total/4))
}
