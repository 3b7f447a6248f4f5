package regex

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCompile feeds the translator arbitrary patterns: it must never panic, and a
// pattern that compiles must match without panicking and give offsets that slice the
// input on rune boundaries.
func FuzzCompile(f *testing.F) {
	for _, p := range fluentBitPatterns {
		f.Add(p.re, "127.0.0.1 - - [05/Dec/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 12")
	}
	for _, s := range []string{`\h+\u0023`, `(?<=a)b++`, `[[:alpha:]\p{^Digit}]`, `(?<a>.)\k<a>`, `a{,3}+`, `(?m:.)\Z`, `[a[bc]]`, `\x{1F600}`, `(?i-m)x`} {
		f.Add(s, "a\u00e9b#\n1F")
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		re, err := CompileTimeout(pattern, 20*time.Millisecond)
		if err != nil {
			return
		}
		m, err := re.FindStringSubmatchIndex(input)
		if err != nil || m == nil {
			return
		}
		if len(m) != 2*len(re.SubexpNames()) {
			t.Fatalf("%d offsets for %d groups", len(m), len(re.SubexpNames()))
		}
		for i := 0; i < len(m); i += 2 {
			a, b := m[i], m[i+1]
			if a < 0 {
				continue
			}
			if a > b || b > len(input) {
				t.Fatalf("group %d: [%d,%d) outside %d bytes", i/2, a, b, len(input))
			}
			if utf8.ValidString(input) && (!utf8.RuneStart(byteAt(input, a)) || !utf8.RuneStart(byteAt(input, b))) {
				t.Fatalf("group %d: [%d,%d) splits a rune", i/2, a, b)
			}
		}
	})
}

func byteAt(s string, i int) byte {
	if i >= len(s) {
		return 0
	}
	return s[i]
}
