package parser

import (
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

func TestBuiltinSyslogParsers(t *testing.T) {
	year := time.Now().UTC().Year()
	for _, tc := range []struct {
		parser, line, want string
		time               time.Time
	}{
		{"syslog-rfc5424", `<13>1 2026-12-06T01:51:09.515066+01:00 box alice 4242 ID47 [timeQuality tzKnown="1" isSynced="0"] hello world`,
			`{"pri":"13","time":"2026-12-06T01:51:09.515066+01:00","host":"box","ident":"alice","pid":"4242","msgid":"ID47","extradata":"[timeQuality tzKnown=\"1\" isSynced=\"0\"]","message":"hello world"}`,
			time.Date(2026, 12, 6, 0, 51, 9, 515066000, time.UTC)},
		{"syslog-rfc5424", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - An application event`,
			`{"pri":"165","time":"2003-10-11T22:14:15.003Z","host":"mymachine.example.com","ident":"evntslog","pid":"-","msgid":"ID47","extradata":"-","message":"An application event"}`,
			time.Date(2003, 10, 11, 22, 14, 15, 3000000, time.UTC)},
		{"syslog-rfc3164", `<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`,
			`{"pri":"34","time":"Oct 11 22:14:15","host":"mymachine","ident":"su","pid":"230","message":"'su root' failed for lonvick on /dev/pts/8"}`,
			time.Date(year, 10, 11, 22, 14, 15, 0, time.UTC)},
		{"syslog-rfc3164-local", `<13>Dec  6 01:51:09 alice: hi there`,
			`{"pri":"13","time":"Dec  6 01:51:09","ident":"alice","message":"hi there"}`,
			time.Date(year, 12, 6, 1, 51, 9, 0, time.UTC)},
	} {
		p, ok := NewSet().Lookup(tc.parser)
		if !ok {
			t.Fatalf("%s not built in", tc.parser)
		}
		ev, err := p.ParseString(tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if got := string(event.AppendJSON(nil, ev.Record)); got != tc.want {
			t.Errorf("%s\n got  %s\n want %s", tc.line, got, tc.want)
		}
		if !ev.Time.Equal(tc.time) {
			t.Errorf("%s: time %v, want %v", tc.line, ev.Time.UTC(), tc.time)
		}
	}
}

func TestConfiguredParserReplacesBuiltin(t *testing.T) {
	mine, err := New(Definition{Name: "syslog-rfc5424", Format: "json", TimeKey: "time"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := NewSet(mine).Lookup("syslog-rfc5424")
	if p != mine {
		t.Error("the configured parser did not win over the built-in one")
	}
	if _, ok := NewSet().Lookup("syslog-rfc9999"); ok {
		t.Error("unknown name found")
	}
	if !strings.Contains(strings.Join(BuiltinNames(), " "), "syslog-rfc3164-local") {
		t.Error("BuiltinNames")
	}
}
