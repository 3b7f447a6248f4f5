package syslog

import (
	"testing"

	"github.com/fluentbit-go/fluentbit-go/parser"
)

// FuzzParse: whatever arrives, each built-in parser gives a record (nothing lost) and
// never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<13>1 2026-12-06T01:51:09.515066+00:00 box app 42 ID7 [timeQuality tzKnown="1"] hi`))
	f.Add([]byte(`<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed`))
	f.Add([]byte(`<13>Dec  6 01:51:09 alice: hi`))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range parser.BuiltinNames() {
			p, _ := parser.Builtin(name)
			ev, _ := Parse(p, data)
			if ev.Record == nil {
				t.Fatalf("%s: %q: no record", name, data)
			}
		}
	})
}
