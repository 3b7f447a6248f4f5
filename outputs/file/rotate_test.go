package file

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// rotate on: a file that would pass rotate_max_size is moved aside (gzipped), a new one
// is started, and only rotate_max_files rotated files stay; every record is in exactly one
// of the files kept or removed, none is cut across two.
func TestRotateBySizeKeepsMaxFiles(t *testing.T) {
	for _, gz := range []string{"on", "off"} {
		t.Run("gzip "+gz, func(t *testing.T) {
			dir := t.TempDir()
			o := newFile(t, map[string]string{"path": dir, "file": "out.log", "format": "plain",
				"rotate": "on", "rotate_max_size": "100", "rotate_max_files": "2", "rotate_gzip": gz})
			for i := 0; i < 12; i++ {
				flush(t, o, pipelinetest.MakeChunk("app", event.Event{Time: t0, Record: event.Map{{"line", strings.Repeat("x", 30)}}}))
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var rotated []string
			for _, e := range entries {
				if e.Name() != "out.log" {
					rotated = append(rotated, e.Name())
				}
			}
			if len(rotated) != 2 {
				t.Fatalf("rotated files %v, want 2 (rotate_max_files)", rotated)
			}
			for _, n := range rotated {
				if !strings.HasPrefix(n, "out.log.") || !rotatedSuffix.MatchString(n[len("out.log"):]) || strings.HasSuffix(n, ".gz") != (gz == "on") {
					t.Errorf("rotated file name %q", n)
				}
				text := readMaybeGzip(t, filepath.Join(dir, n))
				if len(text) == 0 || len(text) > 100 || strings.Count(text, "\n") != len(text)/len(`{"line":"`+strings.Repeat("x", 30)+`"}`+"\n") {
					t.Errorf("%s holds %q: want whole records, at most 100 bytes", n, text)
				}
			}
			if st, err := os.Stat(filepath.Join(dir, "out.log")); err != nil || st.Size() == 0 || st.Size() > 100 {
				t.Errorf("current file: %v %v", st, err)
			}
		})
	}
}

func readMaybeGzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRotateBadValues(t *testing.T) {
	for _, kv := range [][2]string{{"rotate_max_size", "0"}, {"rotate_max_files", "0"}} {
		_, err := configure(t, map[string]string{"rotate": "on", kv[0]: kv[1]})
		if err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v, want an error naming it", kv[0], kv[1], err)
		}
	}
}
