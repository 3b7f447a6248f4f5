package textpages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cachedPages counts path's pages in the page cache (mincore on a mapping of the file
// that is never touched, so it maps nothing itself).
func cachedPages(t *testing.T, path string) (cached, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		if v&1 != 0 {
			cached++
		}
	}
	return cached, len(vec)
}

// evict drops a file's pages from the page cache, dirty ones too (a binary installed or
// built moments ago): without that, the kernel's fault-around maps the cached neighbours
// of every page faulted back, and scattered reads of the read-only data (the collector's
// stack scans) map most of it again.
func TestEvictDropsAFilesCachedPagesDirtyOnes(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC || fs.Type == unix.RAMFS_MAGIC {
		t.Skip(dir + " is on tmpfs or ramfs: its pages cannot be evicted")
	}
	path := filepath.Join(dir, "exe")
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o755); err != nil { // dirty in the page cache
		t.Fatal(err)
	}
	before, total := cachedPages(t, path)
	evict(path)
	after, _ := cachedPages(t, path)
	t.Logf("%d of %d pages cached before evict, %d after", before, total, after)
	if before < total/2 {
		t.Fatalf("only %d of %d pages cached after writing the file", before, total)
	}
	if after > total/20 {
		t.Fatalf("%d of %d pages still cached after evict", after, total)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(data) {
		t.Fatalf("the file reads back wrong after evict (%v)", err)
	}
}

// Release marks the executable's read-only mappings for random access (smaps VmFlags
// "rr"): a fault then reads one page, not the read-ahead window around it.
func TestReleaseMarksTheMappingsRandom(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	if Release() == 0 {
		t.Fatal("Release advised nothing: the executable's mappings were not found")
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	var inExe, readOnly bool
	checked := 0
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			inExe = len(f) >= 6 && f[5] == exe
			readOnly = len(f[1]) == 4 && f[1][1] != 'w'
			continue
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && inExe && readOnly {
			checked++
			if !strings.Contains(" "+v+" ", " rr ") {
				t.Errorf("a read-only mapping of the executable has VmFlags%s: no rr", v)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no read-only mapping of the executable in /proc/self/smaps")
	}
}
