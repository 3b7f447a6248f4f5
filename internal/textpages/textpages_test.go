package textpages

import (
	"bufio"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// rssFile returns the process's file-backed resident bytes (/proc/self/status RssFile).
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseShrinksFileBackedRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	// Touch a good part of the binary first: compiling and running a regexp pulls in
	// code and tables the test binary does not otherwise need.
	for i := 0; i < 50; i++ {
		regexp.MustCompile(`^(a+|b*)[c-z]{2,` + strconv.Itoa(i+3) + `}$`).MatchString("aaacdef")
	}
	before := rssFile(t)
	n := Release()
	after := rssFile(t)
	t.Logf("advised %d bytes of mappings; RssFile %d → %d kB", n, before>>10, after>>10)
	if n == 0 {
		t.Fatal("Release advised nothing: the executable's mappings were not found")
	}
	if after >= before {
		t.Fatalf("RssFile %d kB after Release, %d kB before: nothing given back", after>>10, before>>10)
	}
	// The code given back comes back when it runs again.
	if !regexp.MustCompile(`^x+$`).MatchString("xxx") {
		t.Fatal("regexp wrong after Release")
	}
}
