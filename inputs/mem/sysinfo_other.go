//go:build !linux

package mem

// sysMemory is Linux's sysinfo(2); elsewhere the input reads gopsutil.
func sysMemory() (memTotal, memFree, swapTotal, swapFree uint64, ok bool) {
	return 0, 0, 0, 0, false
}
