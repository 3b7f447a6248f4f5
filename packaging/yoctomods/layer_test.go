package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckLayer(t *testing.T) {
	const (
		good   = "# meta-x\nMaintainer: A <a@example.org>\nSend patches to the list. Series: wrynose blacksail.\n"
		conf   = "LAYERSERIES_COMPAT_x = \"wrynose blacksail\"\n"
		secure = "Report to a@example.org.\n"
	)
	for _, tc := range []struct {
		name, readme, security, conf string
		want                         string // a problem that must be reported, "" for none
	}{
		{"good", good, secure, conf, ""},
		{"no readme", "", secure, conf, "README"},
		{"no maintainer", strings.Replace(good, "Maintainer", "Owner", 1), secure, conf, `"maintainer"`},
		{"no patch", strings.Replace(good, "patches", "changes", 1), secure, conf, `"patch"`},
		{"no email", strings.Replace(good, "a@example.org", "A", 1), secure, conf, "email"},
		{"points elsewhere", good + "See the top-level README.\n", secure, conf, "mentions a README"},
		{"no security", good, "", conf, "SECURITY.md"},
		{"series not named", good, secure, "LAYERSERIES_COMPAT_x = \"wrynose blacksail styhead\"\n", "styhead"},
		{"no series", good, secure, "BBPATH .= \":${LAYERDIR}\"\n", "LAYERSERIES_COMPAT"},
	} {
		dir := t.TempDir()
		files := map[string]string{"README.md": tc.readme, "SECURITY.md": tc.security, "conf/layer.conf": tc.conf}
		for name, text := range files {
			if text == "" {
				continue
			}
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		problems := strings.Join(checkLayer(dir), "\n")
		switch {
		case tc.want == "" && problems != "":
			t.Errorf("%s: unexpected problems:\n%s", tc.name, problems)
		case tc.want != "" && !strings.Contains(problems, tc.want):
			t.Errorf("%s: problems do not mention %q:\n%s", tc.name, tc.want, problems)
		}
	}
}

// The layer in this repository passes its own check.
func TestThisLayer(t *testing.T) {
	if problems := checkLayer("../../yocto"); len(problems) > 0 {
		t.Errorf("yocto/: %s", strings.Join(problems, "\n"))
	}
}

func TestReadSRCREV(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`SRCREV = "5b8948dbcea4f4977238e4456528301c5afc7456"`, ""},
		{`SRCREV = "${AUTOREV}"`, "-bump"},
		{`SRCREV = "5b8948dbcea4"`, "40-hex"},
		{`SRCREV = "5B8948DBCEA4F4977238E4456528301C5AFC7456"`, "40-hex"},
		{`SRCREV ?= "5b8948dbcea4f4977238e4456528301c5afc7456"`, "exactly one"},
	} {
		bb := filepath.Join(t.TempDir(), "x.bb")
		if err := os.WriteFile(bb, []byte("PV = \"1\"\n"+tc.line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readSRCREV(bb)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.line, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one that says %q", tc.line, err, tc.want)
		}
	}
}
