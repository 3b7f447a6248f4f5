package offheap

import "syscall"

// mmap maps n bytes (whole pages) of anonymous memory, or returns nil.
func mmap(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	return b
}

// munmap unmaps b if mmap made it and reports whether it did.
func munmap(b []byte) bool {
	return syscall.Munmap(b) == nil
}
