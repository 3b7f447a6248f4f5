package textpages

import "syscall"

func dontneed(addr, n uintptr) error {
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, n, syscall.MADV_DONTNEED)
	if e != 0 {
		return e
	}
	return nil
}
