package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// licenseFile is one license file of a linked Go module, as the recipe lists it.
type licenseFile struct {
	Path string   // relative to the module cache: <escaped module>@<version>/LICENSE
	MD5  string   // of the file's bytes, as LIC_FILES_CHKSUM wants it
	SPDX []string // the licenses it grants, each an SPDX id or "A | B" for a choice
}

// The file names oe-core's license finder (meta/lib/oe/license_finder.py) takes for license
// files, and the extensions it skips: the same rules give the same files, so the list agrees
// with what `bitbake -c update_modules` would write.
var (
	licenseGlobs   = []string{"*LICEN[CS]E*", "COPYING*", "*[Ll]icense*", "LEGAL*", "[Ll]egal*", "*GPL*", "README.lic*", "COPYRIGHT*", "[Cc]opyright*", "e[dp]l-v10"}
	licenseSkipExt = []string{".html", ".js", ".json", ".svg", ".ts", ".go", ".sh"}
)

// findLicenseUp returns the first license file in pkgDir or a directory above it up to
// modDir, as oe-core's find_license_files(first_only=True, bottom=pkgDir) does: names
// sorted, the first that matches any glob wins, the nearest directory first.
func findLicenseUp(pkgDir, modDir string) (string, error) {
	dir := pkgDir
	for {
		rel, err := filepath.Rel(modDir, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", nil
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", fmt.Errorf("license: %w", err)
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, name := range names {
			if isLicenseName(name) {
				return filepath.Join(dir, name), nil
			}
		}
		if rel == "." {
			return "", nil
		}
		dir = filepath.Dir(dir)
	}
}

func isLicenseName(name string) bool {
	for _, ext := range licenseSkipExt {
		if strings.HasSuffix(name, ext) {
			return false
		}
	}
	for _, g := range licenseGlobs {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}

// licenseRule names a license by phrases its text (lower case, spaces squashed) holds.
// Full texts and the standard short notices both match; a file that grants several
// licenses matches several rules.
type licenseRule struct {
	spdx    string
	all     []string // every phrase must be present,
	any     []string // and one of these when there are any,
	without []string // and none of these
}

// bsdEndorse is the third clause of BSD-3-Clause, in its current and its older wording.
var bsdEndorse = []string{"may be used to endorse or promote products", "may not be used to endorse or promote products"}

var licenseRules = []licenseRule{
	{spdx: "Apache-2.0", all: []string{"apache license", "version 2.0"}},
	{spdx: "MIT", all: []string{"permission is hereby granted, free of charge, to any person obtaining a copy"}},
	{spdx: "BSD-3-Clause", all: []string{"redistribution and use in source and binary forms"}, any: bsdEndorse},
	{spdx: "BSD-2-Clause", all: []string{"redistribution and use in source and binary forms"}, without: bsdEndorse},
	{spdx: "ISC", all: []string{"permission to use, copy, modify, and/or distribute this software for any purpose"}},
	{spdx: "MPL-2.0", all: []string{"mozilla public license", "2.0"}},
	// Eclipse projects (paho.mqtt.golang): EPL-2.0, or at the user's choice the Eclipse
	// Distribution License 1.0, which SPDX lists as BSD-3-Clause.
	{spdx: "EPL-2.0 | BSD-3-Clause", all: []string{"eclipse public license", "eclipse distribution license"}},
	{spdx: "EPL-2.0", all: []string{"eclipse public license", "2.0"}, without: []string{"eclipse distribution license"}},
}

// classifyLicense names the licenses a license file grants. Copyleft licenses are not in
// the table on purpose: a new dependency under one must be looked at by a person.
func classifyLicense(text []byte) []string {
	norm := strings.Join(strings.Fields(strings.ToLower(string(text))), " ")
	norm = strings.NewReplacer("\u2018", "'", "\u2019", "'", "\u201c", "\"", "\u201d", "\"").Replace(norm)
	var out []string
	for _, r := range licenseRules {
		ok := true
		for _, p := range r.all {
			ok = ok && strings.Contains(norm, p)
		}
		anyOK := len(r.any) == 0
		for _, p := range r.any {
			anyOK = anyOK || strings.Contains(norm, p)
		}
		ok = ok && anyOK
		for _, p := range r.without {
			ok = ok && !strings.Contains(norm, p)
		}
		if ok {
			out = append(out, r.spdx)
		}
	}
	// A dual-licence notice also matches the single-licence rules it names.
	if contains(out, "EPL-2.0 | BSD-3-Clause") {
		out = remove(out, "BSD-3-Clause")
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// readLicenseFile checksums and classifies one license file found under modCache.
func readLicenseFile(modCache, path string) (licenseFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return licenseFile{}, fmt.Errorf("license: %w", err)
	}
	rel, err := filepath.Rel(modCache, path)
	if err != nil {
		return licenseFile{}, fmt.Errorf("license: %w", err)
	}
	sum := md5.Sum(data)
	lf := licenseFile{Path: filepath.ToSlash(rel), MD5: hex.EncodeToString(sum[:]), SPDX: classifyLicense(data)}
	if len(lf.SPDX) == 0 {
		return lf, fmt.Errorf("license: %s (md5 %s): no rule in packaging/yoctomods/licenses.go names this license; "+
			"read it, and add a rule (or, if it is copyleft, ask before linking the module)", path, lf.MD5)
	}
	return lf, nil
}

// licensesInc renders fluentbit-go-licenses.inc in the form oe-core's
// go-mod-update-modules.bbclass writes: LICENSE += "& ..." and one LIC_FILES_CHKSUM entry
// per license file, relative to ${S} (the go-mod class puts the module cache in ${S}/pkg/mod).
func licensesInc(files []licenseFile) []byte {
	set := map[string]bool{}
	var entries []string
	for _, f := range files {
		for _, l := range f.SPDX {
			if strings.Contains(l, "|") {
				l = "(" + l + ")"
			}
			set[l] = true
		}
		entries = append(entries, fmt.Sprintf("    file://pkg/mod/%s;md5=%s;spdx=%s \\", f.Path, f.MD5, url.QueryEscape(strings.Join(f.SPDX, " & "))))
	}
	var lics []string
	for l := range set {
		lics = append(lics, l)
	}
	sort.Strings(lics)
	sort.Strings(entries)
	var b strings.Builder
	b.WriteString(generatedHeader)
	b.WriteString("# The licenses of the Go modules linked into the agent: for each package it is built from,\n")
	b.WriteString("# the nearest license file, found as oe-core's go-mod-update-modules.bbclass finds it.\n\n")
	if len(lics) > 0 {
		fmt.Fprintf(&b, "LICENSE += \"& %s\"\n\n", strings.Join(lics, " & "))
	}
	b.WriteString("LIC_FILES_CHKSUM += \"\\\n")
	for _, e := range entries {
		b.WriteString(e + "\n")
	}
	b.WriteString("\"\n")
	return []byte(b.String())
}
