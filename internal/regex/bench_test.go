package regex

import (
	"testing"
)

// benchPatterns are parser patterns on a matching line each. Each runs on RE2 (the fast
// path) and, forced, on the backtracking engine, to show what a pattern that needs
// backtracking costs:
//
//	go test -run XXX -bench . -benchmem ./internal/regex/
var benchPatterns = []struct{ name, re, line string }{
	{"apache", fluentBitPattern("apache"), `192.168.1.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395 "-" "Mozilla/5.0"`},
	{"cri", fluentBitPattern("cri"), "2026-12-05T10:00:00.123456789Z stdout F hello from the container, all is well"},
	{"syslog-rfc5424", fluentBitPattern("syslog-rfc5424"), `<165>1 2026-12-05T10:00:00.003Z gw1 app 1234 ID47 [exampleSDID@32473 iut="3"] the message`},
	{"kv", `^level=(?<level>\w+) code=(?<code>\d+) msg="(?<msg>[^"]*)"`, `level=info code=200 msg="request served in 3 ms"`},
}

func fluentBitPattern(name string) string {
	for _, p := range fluentBitPatterns {
		if p.name == name {
			return p.re
		}
	}
	panic("no pattern " + name)
}

func BenchmarkMatch(b *testing.B) {
	for _, p := range benchPatterns {
		fast := MustCompile(p.re)
		if fast.Backtracking() {
			b.Fatalf("%s: not on RE2", p.name)
		}
		tr, err := translate(p.re)
		if err != nil {
			b.Fatal(err)
		}
		bt, err := compileBT(tr.net.String())
		if err != nil {
			b.Fatal(err)
		}
		bt.MatchTimeout = DefaultTimeout
		slow := &Regexp{src: p.re, bt: bt, nums: bt.GetGroupNumbers()}
		slow.names = make([]string, len(slow.nums))
		for _, engine := range []struct {
			name string
			re   *Regexp
		}{{"RE2", fast}, {"regexp2", slow}} {
			b.Run(p.name+"/"+engine.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(p.line)))
				for i := 0; i < b.N; i++ {
					m, err := engine.re.FindStringSubmatchIndex(p.line)
					if err != nil || m == nil {
						b.Fatalf("no match: %v", err)
					}
				}
			})
		}
	}
}
