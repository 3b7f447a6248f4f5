package parser

import (
	"testing"
	"time"
)

// The parsers read text from the outside world: they must never panic, and whatever they
// accept must be a record (a non-nil map).
func fuzzFormat(f *testing.F, d Definition, seeds ...string) {
	p, err := New(d)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := p.Parse(data)
		if err == nil && ev.Record == nil {
			t.Fatalf("%q: no error and no record", data)
		}
	})
}

func FuzzRegex(f *testing.F) {
	fuzzFormat(f, Definition{Name: "r", Format: "regex", SkipEmptyValues: true, TimeKey: "time",
		TimeFormat: "%d/%b/%Y:%H:%M:%S %z", Types: "code:integer size:integer",
		Regex: `^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)$`},
		`192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395`, `- - - [] "" - -`)
}

func FuzzLogfmt(f *testing.F) {
	fuzzFormat(f, Definition{Name: "l", Format: "logfmt", TimeKey: "ts", TimeFormat: "%Y-%m-%dT%H:%M:%S%z", Types: "n:integer f:float"},
		`ts=2021-01-01T00:00:00Z level=info msg="a \"b\" c" n=1 f=2.5 bare`, `="`, `a="\`, `a=b=c "x"`)
}

func FuzzLTSV(f *testing.F) {
	fuzzFormat(f, Definition{Name: "t", Format: "ltsv", TimeKey: "time", TimeFormat: "[%d/%b/%Y:%H:%M:%S %z]", Types: "status:hex"},
		"host:127.0.0.1\ttime:[10/Jul/2018:13:27:05 +0200]\tstatus:ff", "\t\t:", "a:b\r\n")
}

func FuzzJSON(f *testing.F) {
	fuzzFormat(f, Definition{Name: "j", Format: "json", TimeKey: "time", TimeFormat: "%s.%L", TimeKeep: true},
		`{"time":"1700000000.5","a":[1,{"b":null}]}`, `{"a":1e400}`, `[]`, `{"a":"\ud800"}`)
}

func FuzzTimeFormat(f *testing.F) {
	for _, s := range [][2]string{
		{"%Y-%m-%dT%H:%M:%S.%L%z", "2021-06-01T10:00:00.5-01:30"},
		{"%d/%b/%Y:%H:%M:%S %z", "28/Jul/2006:10:27:10 -0300"},
		{"%b %e %T", "Feb  9 01:02:03"}, {"%s", "-12"}, {"%y %j %p %I", "99 001 PM 12"},
		{"%a %A %B %Z %%", "Mon Monday May UTC %"},
	} {
		f.Add(s[0], s[1])
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, format, in string) {
		tf, err := CompileTimeFormat(format)
		if err != nil {
			return
		}
		_, _ = tf.Parse(in, time.UTC, now)
	})
}

// fuzzBuiltin fuzzes a built-in parser: no panic, a record when there is no error, and
// an accepted message always has its pri.
func fuzzBuiltin(f *testing.F, name string, seeds ...string) {
	p, ok := Builtin(name)
	if !ok {
		f.Fatalf("no built-in %s", name)
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := p.Parse(data)
		if err == nil {
			if ev.Record == nil {
				t.Fatalf("%q: no error and no record", data)
			}
			if _, ok := ev.Record.Get("pri"); !ok {
				t.Fatalf("%q: accepted without pri: %v", data, ev.Record)
			}
		}
	})
}

func FuzzSyslogRFC5424(f *testing.F) {
	fuzzBuiltin(f, "syslog-rfc5424",
		`<13>1 2026-12-06T01:51:09.515066+01:00 box alice 4242 ID47 [timeQuality tzKnown="1" isSynced="0"] hello`,
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - An application event`,
		`<0>1 - - - - - - x`)
}

func FuzzSyslogRFC3164(f *testing.F) {
	fuzzBuiltin(f, "syslog-rfc3164",
		`<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed`, `<13>Dec  6 01:51:09 host tag: m`, `<1>a b c d`)
}

func FuzzSyslogRFC3164Local(f *testing.F) {
	fuzzBuiltin(f, "syslog-rfc3164-local", `<13>Dec  6 01:51:09 alice: hi there`, `<13>Feb 29 00:00:00 x[1]: y`)
}
