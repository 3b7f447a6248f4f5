package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	emailRE  = regexp.MustCompile(`[^@\s<>]+@[^@\s<>]+\.[a-z]{2,}`)
	seriesRE = regexp.MustCompile(`(?m)^LAYERSERIES_COMPAT_[A-Za-z0-9_-]+\s*=\s*"([^"]*)"`)
)

// checkLayer checks what yocto-check-layer's test_readme and test_security want of the
// layer in dir, without BitBake: a README that names a maintainer with an email address and
// says how to send patches (and does not point to another README, which would make
// yocto-check-layer skip those checks), a non-empty SECURITY.md, and a README that names
// every release series conf/layer.conf declares compatibility with.
func checkLayer(dir string) []string {
	var problems []string
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("layer README: %v", err))
	case len(strings.TrimSpace(string(readme))) == 0:
		problems = append(problems, dir+"/README.md is empty")
	default:
		text := strings.ToLower(string(readme))
		if strings.Contains(text, "readme") {
			problems = append(problems, dir+"/README.md mentions a README: yocto-check-layer would skip its maintainer, patch and email checks")
		}
		for _, word := range []string{"maintainer", "patch"} {
			if !strings.Contains(text, word) {
				problems = append(problems, fmt.Sprintf("%s/README.md does not say %q (yocto-check-layer test_readme)", dir, word))
			}
		}
		if !emailRE.Match(readme) {
			problems = append(problems, dir+"/README.md has no email address (yocto-check-layer test_readme)")
		}
	}
	if sec, err := os.ReadFile(filepath.Join(dir, "SECURITY.md")); err != nil || len(strings.TrimSpace(string(sec))) == 0 {
		problems = append(problems, dir+"/SECURITY.md is missing or empty (yocto-check-layer test_security)")
	}
	conf, err := os.ReadFile(filepath.Join(dir, "conf", "layer.conf"))
	if err != nil {
		return append(problems, fmt.Sprintf("layer.conf: %v", err))
	}
	m := seriesRE.FindSubmatch(conf)
	if m == nil || len(strings.Fields(string(m[1]))) == 0 {
		return append(problems, dir+"/conf/layer.conf has no LAYERSERIES_COMPAT_<layer> = \"...\"")
	}
	for _, series := range strings.Fields(string(m[1])) {
		if !strings.Contains(string(readme), series) {
			problems = append(problems, fmt.Sprintf("%s/README.md does not name the series %s that conf/layer.conf supports", dir, series))
		}
	}
	return problems
}
