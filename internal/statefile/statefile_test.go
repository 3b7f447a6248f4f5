package statefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWholeAndReadsBack(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if b, err := Read(p); err != nil || b != nil {
		t.Fatalf("missing file: %q, %v; want nil, nil", b, err)
	}
	for _, s := range []Sync{Off, Normal, Full} {
		want := []byte{byte('a' + s), '\n'}
		if err := Write(p, want, s); err != nil {
			t.Fatal(err)
		}
		got, err := Read(p)
		if err != nil || string(got) != string(want) {
			t.Fatalf("sync %d: read %q, %v; want %q", s, got, err, want)
		}
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left behind: %v", err)
	}
	// A directory that cannot be written keeps the old content and says why.
	if err := Write(filepath.Join(dir, "no", "such"), []byte("x"), Normal); err == nil {
		t.Error("writing into a missing directory: no error")
	}
}

func TestParseSync(t *testing.T) {
	for v, want := range map[string]Sync{"off": Off, "Normal": Normal, "FULL": Full, "extra": Full} {
		if got, err := ParseSync(v); err != nil || got != want {
			t.Errorf("ParseSync(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := ParseSync("sometimes"); err == nil {
		t.Error("ParseSync(sometimes): no error")
	}
}
