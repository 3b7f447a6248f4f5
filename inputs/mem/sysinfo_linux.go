package mem

import "syscall"

// sysMemory reads memory and swap in kilobytes with one sysinfo(2) call: what Fluent
// Bit's mem input reads, and the counters /proc/meminfo's MemTotal, MemFree, SwapTotal
// and SwapFree show. It allocates nothing; gopsutil's readers split /proc/meminfo and
// /proc/vmstat into strings, about 38 KB of garbage a sample that an idle agent would
// carry until its next GC.
func sysMemory() (memTotal, memFree, swapTotal, swapFree uint64, ok bool) {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0, 0, 0, 0, false
	}
	unit := uint64(si.Unit)
	if unit == 0 { // kernels before 2.3.23 count in bytes
		unit = 1
	}
	kb := func(n uint64) uint64 { return n * unit / 1024 }
	return kb(uint64(si.Totalram)), kb(uint64(si.Freeram)), kb(uint64(si.Totalswap)), kb(uint64(si.Freeswap)), true
}
