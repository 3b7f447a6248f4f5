package offheap

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

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

// fileResident returns the process's resident file-backed (and shared) bytes: the third
// field of /proc/self/statm, in pages; 0 when it cannot be read.
func fileResident() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0
	}
	n, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0
	}
	return n * int64(pageSize)
}
