package offheap

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestAllocFreeCountsMappedBytes(t *testing.T) {
	before := Mapped()
	b := Alloc(3 << 20)
	if cap(b) < 3<<20 || len(b) != 0 {
		t.Fatalf("Alloc(3 MiB): len %d cap %d", len(b), cap(b))
	}
	if cap(b) != Size(3<<20) {
		t.Errorf("cap %d, Size says %d", cap(b), Size(3<<20))
	}
	b = b[:cap(b)]
	for i := range b {
		if b[i] != 0 {
			t.Fatalf("byte %d is %d: not zeroed", i, b[i])
		}
	}
	b[0], b[len(b)-1] = 1, 2 // writable end to end
	if runtime.GOOS == "linux" {
		if got := Mapped() - before; got != int64(cap(b)) {
			t.Errorf("Mapped grew by %d, want %d", got, cap(b))
		}
	}
	Free(b[:0:cap(b)])
	if got := Mapped(); got != before {
		t.Errorf("Mapped %d after Free, want %d", got, before)
	}
}

func TestFreeLeavesHeapMemoryAlone(t *testing.T) {
	before := Mapped()
	h := make([]byte, 10, 4096)
	Free(h) // not a mapping: nothing happens, nothing is counted
	if Mapped() != before {
		t.Errorf("Mapped changed by freeing heap memory")
	}
	Free(nil)
	if Alloc(0) != nil {
		t.Error("Alloc(0) is not nil")
	}
}

func TestSetLimitLeavesRoomForMappedBytes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no mappings here: the limit is the whole")
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	const total = 256 << 20
	SetLimit(total)
	defer SetLimit(0)
	// Go's limit is the total less what is mapped and less the executable's resident
	// pages (which a running test binary always has some of, and which move a little).
	inRange := func(what string, mappedNow int64) {
		t.Helper()
		got := debug.SetMemoryLimit(-1)
		file := fileResident()
		if file <= 0 {
			t.Fatalf("no file-backed resident pages read from /proc/self/statm")
		}
		if hi := total - mappedNow - 1; got > hi {
			t.Errorf("%s: Go limit %d, want below %d (total less mapped %d, less file pages)", what, got, hi, mappedNow)
		}
		if lo := total - mappedNow - 2*file - (8 << 20); got < lo {
			t.Errorf("%s: Go limit %d, want about %d less file pages %d", what, got, total-mappedNow, file)
		}
	}
	inRange("nothing of ours mapped", Mapped())
	b := Alloc(8 << 20)
	inRange("with 8 MiB mapped", Mapped())
	Free(b)
	inRange("after Free", Mapped())
	// Never below a quarter of the whole.
	big := Alloc(250 << 20)
	if got := debug.SetMemoryLimit(-1); got != total/4 {
		t.Errorf("with 250 MiB mapped: Go limit %d, want the floor %d", got, total/4)
	}
	Free(big)
	SetLimit(0)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("untied: Go limit %d, want none", got)
	}
}
