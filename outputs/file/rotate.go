package file

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Size rotation (rotate on), as Fluent Bit's: before a chunk is appended to a file that
// holds something and would pass rotate_max_size, the file is renamed
// NAME.YYYYmmdd_HHMMSS_<8 hex digits> (gzipped to that name plus .gz with rotate_gzip, the
// default), a new NAME is started, and only the newest rotate_max_files rotated files of
// NAME are kept. It runs under the file's lock, so no chunk is written while it does; the
// gzip of a 100 MB file takes that flush a second or two on a small device. Renames and
// removals go through an os.Root on the file's directory (the rename by path: see rotate).

// rotatedSuffix matches what rotation appends to a file's name.
var rotatedSuffix = regexp.MustCompile(`^\.\d{8}_\d{6}_[0-9a-f]{8}(\.gz)?$`)

// needsRotation reports whether appending n bytes to a file of size bytes passes the limit.
func (o *Output) needsRotation(size int64, n int) bool {
	return o.Rotate && size > 0 && size+int64(n) > int64(o.RotateMaxSize)
}

// rotate moves name (in dir) aside and prunes the oldest rotated files.
func (o *Output) rotate(dir, name string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	rotated := name + "." + time.Now().Format("20060102_150405") + "_" + hex.EncodeToString(rnd[:])
	// os.Root has Rename only from Go 1.25; name is a plain name in dir (SafeName or the
	// operator's file key), and renaming a symbolic link moves the link, not its target.
	if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, rotated)); err != nil {
		return err
	}
	if o.RotateGzip {
		if err := gzipInRoot(root, rotated); err != nil {
			return fmt.Errorf("gzip %s: %w (the rotated file is kept as it is)", rotated, err)
		}
	}
	return pruneRotated(root, name, o.RotateMaxFiles)
}

// gzipInRoot compresses name to name.gz and removes name.
func gzipInRoot(root *os.Root, name string) error {
	src, err := root.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := root.OpenFile(name+".gz", os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(dst)
	_, err = io.Copy(zw, src)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(name + ".gz")
		return err
	}
	return root.Remove(name)
}

// pruneRotated removes all but the keep newest rotated files of name.
func pruneRotated(root *os.Root, name string, keep int) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	type rotatedFile struct {
		name string
		mod  time.Time
	}
	var files []rotatedFile
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, name) || !rotatedSuffix.MatchString(n[len(name):]) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, rotatedFile{n, info.ModTime()})
	}
	if len(files) <= keep {
		return nil
	}
	slices.SortFunc(files, func(a, b rotatedFile) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for _, f := range files[:len(files)-keep] {
		if err := root.Remove(f.name); err != nil {
			return err
		}
	}
	return nil
}
