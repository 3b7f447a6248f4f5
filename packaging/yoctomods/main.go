// Command yoctomods keeps the Yocto recipe in yocto/ in step with go.mod and LICENSE.
//
//	go run ./packaging/yoctomods          # check: exit 1 and say what drifted
//	go run ./packaging/yoctomods -write   # regenerate the module list
//
// It writes yocto/recipes-monitoring/fluentbit-go/fluentbit-go-go-mods.inc, the SRC_URI list
// of gomod:// entries the go-mod class fetches: one per module in the build list, with the
// sha256 of the module's zip for modules whose packages the daemon is built from (for every
// target architecture) and of its go.mod file (mod=1) for the others, which Go needs only
// to resolve versions. The hashes come from the Go module cache, filled by building; run
// `go mod download` first on a fresh machine. It checks that the recipe's LIC_FILES_CHKSUM
// is LICENSE's md5, and that the layer's .bb, .inc and .conf files are well-formed BitBake
// (see syntax.go).
package main

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

const (
	recipeDir = "yocto/recipes-monitoring/fluentbit-go"
	incFile   = recipeDir + "/fluentbit-go-go-mods.inc"
)

func main() {
	write := flag.Bool("write", false, "regenerate the module list instead of checking it")
	flag.Parse()
	if err := run(*write); err != nil {
		fmt.Fprintln(os.Stderr, "yoctomods:", err)
		os.Exit(1)
	}
}

func run(write bool) error {
	want, err := generate()
	if err != nil {
		return err
	}
	if write {
		if err := os.WriteFile(incFile, want, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", incFile)
	} else {
		got, err := os.ReadFile(incFile)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s is out of date with go.mod: run go run ./packaging/yoctomods -write", incFile)
		}
	}
	if err := checkLicense(); err != nil {
		return err
	}
	var problems []string
	err = filepath.WalkDir("yocto", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".bb", ".bbappend", ".inc", ".conf", ".bbclass":
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, e := range CheckSyntax(data) {
				problems = append(problems, fmt.Sprintf("%s:%v", path, e))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New("BitBake syntax:\n  " + strings.Join(problems, "\n  "))
	}
	if !write {
		fmt.Println("yocto layer: module list, license checksum and syntax are in step")
	}
	return nil
}

type goModule struct {
	Path, Version string
	Main          bool
	Replace       *goModule
}

// generate builds the .inc text from the build list and the module cache.
func generate() ([]byte, error) {
	// Modules whose packages the daemon is built from, on every target.
	built := map[string]bool{}
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}", "./cmd/fluentbit")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list -deps (%s): %w", arch, err)
		}
		for _, l := range strings.Fields(string(out)) {
			built[l] = true
		}
	}
	out, err := exec.Command("go", "list", "-m", "-json", "all").Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m all: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, err
	}
	download := filepath.Join(strings.TrimSpace(string(cache)), "cache", "download")
	var lines []string
	for dec.More() {
		var m goModule
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		if m.Main {
			continue
		}
		if m.Replace != nil {
			return nil, fmt.Errorf("module %s is replaced: the gomod fetcher cannot follow replacements", m.Path)
		}
		base := filepath.Join(download, escape(m.Path), "@v", escape(m.Version))
		if built[m.Path+"@"+m.Version] {
			sum, err := fileSHA256(base + ".zip")
			if err != nil {
				return nil, fmt.Errorf("%s@%s: %w (run go mod download)", m.Path, m.Version, err)
			}
			lines = append(lines, fmt.Sprintf("    gomod://%s;version=%s;sha256sum=%s \\", m.Path, m.Version, sum))
			continue
		}
		sum, err := fileSHA256(base + ".mod")
		if err != nil {
			// Not every module in the build list needs its go.mod (graph pruning):
			// ask Go for it so the list is the same on every machine.
			if out, derr := exec.Command("go", "mod", "download", "-json", m.Path+"@"+m.Version).Output(); derr != nil {
				return nil, fmt.Errorf("%s@%s: go.mod not in the module cache: %v %s", m.Path, m.Version, err, out)
			}
			if sum, err = fileSHA256(base + ".mod"); err != nil {
				return nil, err
			}
		}
		lines = append(lines, fmt.Sprintf("    gomod://%s;version=%s;mod=1;sha256sum=%s \\", m.Path, m.Version, sum))
	}
	sort.Strings(lines)
	var b bytes.Buffer
	b.WriteString("# Generated by go run ./packaging/yoctomods -write from go.mod; do not edit.\n")
	b.WriteString("# CI checks it is in step (go run ./packaging/yoctomods).\n\n")
	b.WriteString("SRC_URI += \"\\\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("\"\n")
	return b.Bytes(), nil
}

// escape is the module cache's case encoding: an upper-case letter becomes '!' and the
// letter in lower case (golang.org/x/mod/module.EscapePath, without the dependency).
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func fileSHA256(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), nil
}

var licRE = regexp.MustCompile(`LIC_FILES_CHKSUM\s*=\s*"file://([^;"]+);md5=([0-9a-f]{32})"`)

// checkLicense compares the recipe's LIC_FILES_CHKSUM with LICENSE.
func checkLicense() error {
	matches, err := filepath.Glob(recipeDir + "/*.bb")
	if err != nil || len(matches) == 0 {
		return fmt.Errorf("no recipe in %s", recipeDir)
	}
	lic, err := os.ReadFile("LICENSE")
	if err != nil {
		return err
	}
	sum := md5.Sum(lic)
	want := hex.EncodeToString(sum[:])
	for _, bb := range matches {
		data, err := os.ReadFile(bb)
		if err != nil {
			return err
		}
		m := licRE.FindSubmatch(data)
		if m == nil {
			return fmt.Errorf("%s: no LIC_FILES_CHKSUM = \"file://...;md5=...\"", bb)
		}
		if string(m[1]) != "LICENSE" && !strings.HasSuffix(string(m[1]), "/LICENSE") {
			return fmt.Errorf("%s: LIC_FILES_CHKSUM names %s, not LICENSE", bb, m[1])
		}
		if string(m[2]) != want {
			return fmt.Errorf("%s: LIC_FILES_CHKSUM md5 %s, LICENSE has %s", bb, m[2], want)
		}
	}
	return nil
}
