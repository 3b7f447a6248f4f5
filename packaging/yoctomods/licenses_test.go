package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestClassifyLicense(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"MIT", []string{"MIT"}},
		{"BSD-2-Clause", []string{"BSD-2-Clause"}},
		{"BSD-3-Clause", []string{"BSD-3-Clause"}},
		{"Apache-2.0", []string{"Apache-2.0"}},
		// paho.mqtt.golang: a notice offering EPL-2.0 or the EDL (BSD-3-Clause).
		{"paho", []string{"EPL-2.0 | BSD-3-Clause"}},
		// yaml.v3: some files MIT, the rest Apache-2.0; both apply.
		{"yaml.v3", []string{"Apache-2.0", "MIT"}},
		// gopsutil: BSD-3-Clause, with Go's BSD-3-Clause appended for a copied file.
		{"gopsutil", []string{"BSD-3-Clause"}},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "licenses", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := classifyLicense(data); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: classified as %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestUnknownLicenseIsAnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "COPYING")
	gpl := "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n\nEveryone is permitted to copy and distribute verbatim copies"
	if err := os.WriteFile(path, []byte(gpl), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readLicenseFile(dir, path)
	if err == nil || !strings.Contains(err.Error(), "licenses.go") {
		t.Fatalf("a GPL file gave %v, want an error that says where to add a rule", err)
	}
}

// The nearest license file wins, names sorted, .go files and other names skipped, and the
// search stops at the module's root: what oe-core's license finder does.
func TestFindLicenseUp(t *testing.T) {
	root := t.TempDir()
	mod := filepath.Join(root, "example.com", "m@v1.0.0")
	write := func(rel string) {
		p := filepath.Join(mod, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("LICENSE")
	write("NOTICE")
	write("a/b/license.go")
	write("a/b/doc.txt")
	write("c/COPYING")
	write("c/LICENSE.md")
	if err := os.WriteFile(filepath.Join(root, "example.com", "LICENSE"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ pkg, want string }{
		{"a/b", "LICENSE"},       // up two levels; license.go is skipped
		{"c", "c/COPYING"},       // sorted: COPYING before LICENSE.md
		{".", "LICENSE"},         // the module root itself
		{"a", "LICENSE"},         // one level up
		{"c/../a/b", "LICENSE"},  // cleaned path
		{"a/b/../..", "LICENSE"}, // root again
	} {
		got, err := findLicenseUp(filepath.Clean(filepath.Join(mod, tc.pkg)), mod)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(mod, tc.want); got != want {
			t.Errorf("package %s: found %s, want %s", tc.pkg, got, want)
		}
	}
	// A module without a license file: nothing, not the file above the module.
	if err := os.Remove(filepath.Join(mod, "LICENSE")); err != nil {
		t.Fatal(err)
	}
	if got, err := findLicenseUp(filepath.Join(mod, "a", "b"), mod); err != nil || got != "" {
		t.Errorf("no license in the module: got %q, %v; want none", got, err)
	}
}

func TestLicensesInc(t *testing.T) {
	got := string(licensesInc([]licenseFile{
		{Path: "gopkg.in/yaml.v3@v3.0.1/LICENSE", MD5: "3c91c17266710e16afdbb2b6d15c761c", SPDX: []string{"Apache-2.0", "MIT"}},
		{Path: "github.com/eclipse/paho.mqtt.golang@v1.5.1/LICENSE", MD5: "dcdb33474b60c38efd27356d8f2edec7", SPDX: []string{"EPL-2.0 | BSD-3-Clause"}},
	}))
	for _, want := range []string{
		`LICENSE += "& (EPL-2.0 | BSD-3-Clause) & Apache-2.0 & MIT"`,
		"    file://pkg/mod/github.com/eclipse/paho.mqtt.golang@v1.5.1/LICENSE;md5=dcdb33474b60c38efd27356d8f2edec7;spdx=EPL-2.0+%7C+BSD-3-Clause \\\n" +
			"    file://pkg/mod/gopkg.in/yaml.v3@v3.0.1/LICENSE;md5=3c91c17266710e16afdbb2b6d15c761c;spdx=Apache-2.0+%26+MIT \\\n\"\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("licenses.inc lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if errs := CheckSyntax([]byte(got)); len(errs) > 0 {
		t.Errorf("licenses.inc is not well-formed BitBake: %v", errs)
	}
}
