package textpages

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func dontneed(addr, n uintptr) error {
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, n, syscall.MADV_DONTNEED)
	if e != 0 {
		return e
	}
	return nil
}

// random marks the range MADV_RANDOM: a fault reads only the page it needs.
func random(addr, n uintptr) {
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, n, syscall.MADV_RANDOM)
}

// evict asks the kernel to drop path's cached pages that no process maps. Dirty pages
// (a binary written moments ago, as by an install or a build) are not dropped, so they are
// written out first; on a clean file that costs nothing.
func evict(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fdatasync(int(f.Fd()))
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
