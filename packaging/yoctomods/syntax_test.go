package main

import (
	"strings"
	"testing"
)

func TestCheckSyntax(t *testing.T) {
	good := `# comment
SUMMARY = "a thing"
LICENSE = "Apache-2.0"
SRC_URI = "git://example.com/x;branch=main \
           file://a.yaml \
"
SRC_URI:append:arm = " file://b"
GO_LINKSHARED = ""
FOO[doc] ?= 'single'
BAR ??= "weak"
BAZ := "${@1+1}"
X += "y"
export GOFLAGS = "-trimpath"
inherit go-mod systemd
require fluentbit-go-go-mods.inc
do_install:append() {
    install -d ${D}${sysconfdir}
    if [ -n "$x" ]; then
        echo "{"
    fi
}
`
	if errs := CheckSyntax([]byte(good)); len(errs) > 0 {
		t.Fatalf("good file reported: %v", errs)
	}
	for _, tc := range []struct{ text, want string }{
		{`A = "open`, "no closing quote"},
		{`A = unquoted`, "not quoted"},
		{`A = "x" trailing`, "text after the closing quote"},
		{"A = \"x \\", "continued value has no end"},
		{"do_install() {\n  echo\n", "not closed"},
		{"just words here", "not a BitBake statement"},
		{`A =`, "without a value"},
	} {
		errs := CheckSyntax([]byte(tc.text))
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, errs, tc.want)
		}
	}
}

func TestEscape(t *testing.T) {
	if got := escape("github.com/BurntSushi/toml"); got != "github.com/!burnt!sushi/toml" {
		t.Fatal(got)
	}
}
