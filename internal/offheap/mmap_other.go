//go:build !linux

package offheap

func mmap(int) []byte { return nil }

func munmap([]byte) bool { return false }

func fileResident() int64 { return 0 }
