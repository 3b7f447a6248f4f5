package parser

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
)

func loadTestSet(t testing.TB) *Set {
	t.Helper()
	cfg, err := config.ParseClassic("testdata/main.conf", []byte("[SERVICE]\n    parsers_file parsers.conf\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func mustLookup(t testing.TB, s *Set, name string) *Parser {
	t.Helper()
	p, ok := s.Lookup(name)
	if !ok {
		t.Fatalf("parser %q not loaded (have %v)", name, s.Names())
	}
	return p
}

// The examples of Fluent Bit's parser documentation, run through the parsers of its
// parsers.conf as loaded from a parsers file.
func TestDocumentedParsers(t *testing.T) {
	set := loadTestSet(t)
	fixedNow := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		parser string
		in     string
		want   map[string]any
		time   time.Time
	}{
		{"apache", `192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395`,
			map[string]any{"host": "192.168.2.20", "user": "-", "method": "GET", "path": "/cgi-bin/try/", "code": "200", "size": "3395"},
			time.Date(2006, 7, 28, 13, 27, 10, 0, time.UTC)},
		{"json", `{"key1": 12345, "key2": "abc", "time": "28/Jul/2006:10:22:04 -0700"}`,
			map[string]any{"key1": int64(12345), "key2": "abc"},
			time.Date(2006, 7, 28, 17, 22, 4, 0, time.UTC)},
		{"docker", `{"log":"hello\n","stream":"stdout","time":"2018-09-11T21:56:54.123456789Z"}`,
			map[string]any{"log": "hello\n", "stream": "stdout", "time": "2018-09-11T21:56:54.123456789Z"},
			time.Date(2018, 9, 11, 21, 56, 54, 123456789, time.UTC)},
		{"syslog-rfc3164", `<13>Jan  5 14:23:01 myhost sshd[1234]: Accepted password`,
			map[string]any{"pri": "13", "time": "Jan  5 14:23:01", "host": "myhost", "ident": "sshd", "pid": "1234", "message": "Accepted password"},
			time.Date(2024, 1, 5, 14, 23, 1, 0, time.UTC)},
		{"logfmt", `key1=val1 key2="val 2" key3 key4="a \"q\""`,
			map[string]any{"key1": "val1", "key2": "val 2", "key3": true, "key4": `a "q"`}, time.Time{}},
		{"ltsv", "host:127.0.0.1\tident:-\ttime:[10/Jul/2018:13:27:05 +0200]\tstatus:200\tsize:777\treqtime:0.25\tua:curl/7.58.0",
			map[string]any{"host": "127.0.0.1", "ident": "-", "status": int64(200), "size": int64(777), "reqtime": 0.25, "ua": "curl/7.58.0"},
			time.Date(2018, 7, 10, 11, 27, 5, 0, time.UTC)},
	} {
		t.Run(tc.parser, func(t *testing.T) {
			p := mustLookup(t, set, tc.parser)
			p.now = func() time.Time { return fixedNow }
			ev, err := p.ParseString(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev.Record.ToMap(), tc.want) {
				t.Errorf("record\n got %#v\nwant %#v", ev.Record, tc.want)
			}
			if !ev.Time.Equal(tc.time) {
				t.Errorf("time %v, want %v", ev.Time, tc.time)
			}
		})
	}
}

func newParser(t testing.TB, d Definition) *Parser {
	t.Helper()
	if d.Name == "" {
		d.Name = "t"
	}
	p, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseEdgeCases(t *testing.T) {
	base := DefaultDefinition()
	with := func(f func(*Definition)) Definition { d := base; f(&d); return d }
	for _, tc := range []struct {
		name    string
		def     Definition
		in      string
		want    map[string]any
		wantErr string
	}{
		{"json not an object", with(func(d *Definition) { d.Format = "json" }), `[1,2]`, nil, "json"},
		{"json garbage", with(func(d *Definition) { d.Format = "json" }), `{"a":`, nil, "json"},
		{"json nested and unicode", with(func(d *Definition) { d.Format = "json" }), `{"🔥":{"ключ":[1,"x",null]}}`,
			map[string]any{"🔥": map[string]any{"ключ": []any{int64(1), "x", nil}}}, ""},
		{"regex no match", with(func(d *Definition) { d.Format = "regex"; d.Regex = `^(?<a>\d+)$` }), "abc", nil, "no regex match"},
		{"regex empty group skipped", with(func(d *Definition) { d.Format = "regex"; d.Regex = `^(?<a>\d*)-(?<b>\w*)$` }), "-x",
			map[string]any{"b": "x"}, ""},
		{"regex empty group kept", with(func(d *Definition) {
			d.Format, d.Regex, d.SkipEmptyValues = "regex", `^(?<a>\d*)-(?<b>x)?(?<c>\w*)$`, false
		}), "-", map[string]any{"a": "", "b": "", "c": ""}, ""},
		{"regex P syntax and types", with(func(d *Definition) {
			d.Format, d.Regex, d.Types = "regex", `^(?P<n>\S+) (?P<f>\S+) (?P<b>\S+) (?P<h>\S+) (?P<bad>\S+)$`, "n:integer f:float b:bool h:hex bad:integer"
		}), "42 1.5 true ff x1", map[string]any{"n": int64(42), "f": 1.5, "b": true, "h": int64(255), "bad": "x1"}, ""},
		{"logfmt bare key refused", with(func(d *Definition) { d.Format, d.LogfmtNoBareKeys = "logfmt", true }), "a=1 b", nil, "bare key"},
		{"logfmt unterminated quote", with(func(d *Definition) { d.Format = "logfmt" }), `a="x`, nil, "unterminated"},
		{"logfmt empty value and unicode", with(func(d *Definition) { d.Format = "logfmt" }), "a= ü=ö  \n", map[string]any{"a": "", "ü": "ö"}, ""},
		{"ltsv no colon and empty", with(func(d *Definition) { d.Format = "ltsv" }), "junk\t:x\ta:\tb:c:d\r\n", map[string]any{"a": "", "b": "c:d"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser(t, tc.def)
			ev, err := p.ParseString(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev.Record.ToMap(), tc.want) {
				t.Errorf("got %#v, want %#v", ev.Record, tc.want)
			}
		})
	}
}

func TestTimeKeyHandling(t *testing.T) {
	d := DefaultDefinition()
	d.Format, d.TimeKey, d.TimeFormat = "json", "ts", "%Y-%m-%d %H:%M:%S"
	p := newParser(t, d)

	ev, err := p.ParseString(`{"ts":"2020-02-03 04:05:06","a":1}`)
	if err != nil || ev.Time != time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC) || ev.Record.Value("ts") != nil {
		t.Errorf("removed time key: %v %v %v", ev.Time, ev.Record, err)
	}
	ev, err = p.ParseString(`{"ts":"yesterday","a":1}`)
	if !errors.Is(err, ErrTime) || !ev.Time.IsZero() || ev.Record.Value("ts") != "yesterday" {
		t.Errorf("bad time: want ErrTime, key kept, zero time; got %v %v %v", err, ev.Record, ev.Time)
	}
	ev, err = p.ParseString(`{"ts":12,"a":1}`)
	if err != nil || !ev.Time.IsZero() || ev.Record.Value("ts") != int64(12) {
		t.Errorf("non-string time: %v %v %v", err, ev.Record, ev.Time)
	}
	ev, err = p.ParseString(`{"a":1}`)
	if err != nil || !ev.Time.IsZero() {
		t.Errorf("missing time: %v %v", err, ev.Time)
	}

	d.TimeOffset = "+0900"
	p = newParser(t, d)
	ev, _ = p.ParseString(`{"ts":"2020-02-03 09:00:00"}`)
	if !ev.Time.Equal(time.Date(2020, 2, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("time_offset +0900: %v", ev.Time)
	}
}

func TestTimeFormats(t *testing.T) {
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		format, in string
		want       time.Time
	}{
		{"%Y-%m-%dT%H:%M:%S%z", "2021-06-01T10:00:00+02:00", time.Date(2021, 6, 1, 8, 0, 0, 0, time.UTC)},
		{"%Y-%m-%dT%H:%M:%S%z", "2021-06-01T10:00:00Z", time.Date(2021, 6, 1, 10, 0, 0, 0, time.UTC)},
		{"%Y-%m-%dT%H:%M:%S.%L%z", "2021-06-01T10:00:00.5-0130", time.Date(2021, 6, 1, 11, 30, 0, 500000000, time.UTC)},
		{"%Y-%m-%d %H:%M:%S,%L", "2021-06-01 10:00:00,123", time.Date(2021, 6, 1, 10, 0, 0, 123000000, time.UTC)},
		{"%s", "1700000000", time.Unix(1700000000, 0)},
		{"%s.%L", "1700000000.25", time.Unix(1700000000, 250000000)},
		{"%F %T", "1999-12-31 23:59:60", time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"%d/%B/%y %I:%M %p", "7/march/09 12:30 AM", time.Date(2009, 3, 7, 0, 30, 0, 0, time.UTC)},
		{"%a, %d %b %Y %H:%M:%S %Z", "Mon, 02 Jan 2006 15:04:05 GMT", time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"%b %e %H:%M:%S", "Feb  9 01:02:03", time.Date(2025, 2, 9, 1, 2, 3, 0, time.UTC)},
		{"%Y %j", "2024 366", time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"%D %R %%", "01/02/70 03:04 %", time.Date(1970, 1, 2, 3, 4, 0, 0, time.UTC)},
	} {
		tf, err := CompileTimeFormat(tc.format)
		if err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		got, err := tf.Parse(tc.in, time.UTC, now)
		if err != nil {
			t.Errorf("%s on %q: %v", tc.format, tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("%s on %q: %v, want %v", tc.format, tc.in, got.UTC(), tc.want)
		}
	}
	for _, tc := range []struct{ format, in string }{
		{"%Y-%m-%d", "2021-13-01"}, {"%Y-%m-%d", "2021-02-30"}, {"%Y-%m-%d %H", "2021-02-01 x"},
		{"%H:%M", "24:00"}, {"%z", "+2500"}, {"%b", "Foo"}, {"%L", "x"}, {"%Y", ""},
	} {
		tf, _ := CompileTimeFormat(tc.format)
		if got, err := tf.Parse(tc.in, time.UTC, now); err == nil {
			t.Errorf("%s on %q: want an error, got %v", tc.format, tc.in, got)
		}
	}
	for _, f := range []string{"", "%", "%Q"} {
		if _, err := CompileTimeFormat(f); err == nil {
			t.Errorf("CompileTimeFormat(%q): want an error", f)
		}
	}
}

func TestBadDefinitions(t *testing.T) {
	for _, tc := range []struct {
		d   Definition
		key string
	}{
		{Definition{Format: "json"}, "name"},
		{Definition{Name: "x"}, "format"},
		{Definition{Name: "x", Format: "xml"}, "format"},
		{Definition{Name: "x", Format: "regex"}, "regex"},
		{Definition{Name: "x", Format: "regex", Regex: `(?<a>b)\g<a>`}, "regex"},
		{Definition{Name: "x", Format: "json", TimeFormat: "%Q"}, "time_format"},
		{Definition{Name: "x", Format: "json", TimeOffset: "nine"}, "time_offset"},
		{Definition{Name: "x", Format: "json", TimeZone: "Mars/Olympus"}, "time_zone"},
	} {
		_, err := New(tc.d)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%+v: err %v, want a key error on %q", tc.d, err, tc.key)
		}
	}
}

func TestLoadYAMLAndErrors(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "fluent-bit.yaml")
	if err := os.WriteFile(yml, []byte("parsers:\n  - name: kv\n    format: logfmt\n    types: n:integer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(yml)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.Lookup("kv")
	if !ok {
		t.Fatal("kv not found in the loaded set")
	}
	ev, err := p.ParseString("n=3 s=x")
	if err != nil || ev.Record.Value("n") != int64(3) {
		t.Fatalf("%v %v", ev.Record, err)
	}
	if _, ok := set.Lookup("nope"); ok {
		t.Error("found a parser that does not exist")
	}

	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[SERVICE]\n    parsers_file missing.conf\n"), 0o644)
	cfg, err = config.Load(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), "bad.conf:2") {
		t.Errorf("missing parsers file: %v, want an error at bad.conf:2", err)
	}
	os.WriteFile(bad, []byte("[PARSER]\n    name x\n    format regex\n    regex (\n"), 0o644)
	cfg, _ = config.Load(bad)
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), "bad.conf:4") {
		t.Errorf("bad regex: %v, want an error at bad.conf:4", err)
	}
	os.WriteFile(bad, []byte("[PARSER]\n    name x\n    format json\n    time_kep on\n"), 0o644)
	cfg, _ = config.Load(bad)
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), "time_kep") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestHugeMessage(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for _, d := range []Definition{
		{Name: "j", Format: "json"}, {Name: "l", Format: "logfmt"}, {Name: "t", Format: "ltsv"},
		{Name: "r", Format: "regex", Regex: `^k=(?<v>.*)$`},
	} {
		p := newParser(t, d)
		var in string
		switch d.Format {
		case "json":
			in = `{"k":"` + big + `"}`
		case "ltsv":
			in = "k:" + big
		default:
			in = "k=" + big
		}
		ev, err := p.ParseString(in)
		if err != nil {
			t.Fatalf("%s: %v", d.Format, err)
		}
		key := "k"
		if d.Format == "regex" {
			key = "v"
		}
		if s, _ := ev.Record.Value(key).(string); len(s) != len(big) {
			t.Errorf("%s: value of %d bytes, want %d", d.Format, len(s), len(big))
		}
	}
}

func BenchmarkParse(b *testing.B) {
	set := loadTestSet(b)
	for _, bc := range []struct{ parser, in string }{
		{"apache", `192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395`},
		{"docker", `{"log":"hello world\n","stream":"stdout","time":"2018-09-11T21:56:54.123456789Z"}`},
		{"logfmt", `level=info msg="request served" path=/api/v1 ms=12 ok`},
		{"ltsv", "host:127.0.0.1\tident:-\ttime:[10/Jul/2018:13:27:05 +0200]\tstatus:200\tsize:777\treqtime:0.25"},
	} {
		p := mustLookup(b, set, bc.parser)
		data := []byte(bc.in)
		b.Run(bc.parser, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := p.Parse(data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// Types entries Fluent Bit tolerates load as there: an unknown type (or comma-separated
// entries, as in Fluent Bit's own parsers_extra.conf iptables parser) leaves the value a
// string, an entry without ':' is skipped; each is a warning naming the key.
func TestTypesToleratedAsFluentBit(t *testing.T) {
	p, err := New(Definition{Name: "t", Format: "json", Types: "a:foo b:integer,c:float c skip d:int e:integer"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := p.ParseString(`{"a":"1","b":"2","c":"3","d":"4","e":"5"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "1", "b": "2", "c": "3", "d": "4", "e": int64(5)}
	for k, v := range want {
		if got := ev.Record.Value(k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	ws := p.Warnings()
	if len(ws) != 5 {
		t.Fatalf("warnings %v, want 5 (a, b, c, skip, d)", ws)
	}
	for _, w := range ws {
		var ce *config.Error
		if !errors.As(w, &ce) || ce.Key != "types" {
			t.Errorf("warning %v does not name the key types", w)
		}
	}
	if !strings.Contains(ws[1].Error(), "commas") || !strings.Contains(ws[4].Error(), "integer?") {
		t.Errorf("warnings lack their hints: %v", ws)
	}
}

// Fluent Bit's own parsers_mult.conf mult_1 uses \u0023 ('#'); look-ahead, \h and
// possessive quantifiers parse as in Fluent Bit.
func TestRegexOnigmoSyntax(t *testing.T) {
	for _, tc := range []struct {
		re, in string
		want   map[string]any
	}{
		{`/Processing by (?<controller>[^\u0023]+)\u0023(?<controller_method>[^ ]+) as (?<format>[^ ]+?)$/`,
			"Processing by UsersController#show as HTML",
			map[string]any{"controller": "UsersController", "controller_method": "show", "format": "HTML"}},
		{`^(?<id>\h{8})-(?<rest>\S++) (?<file>\w+)(?=\.log)`, "deadBEEF-x1 app.log",
			map[string]any{"id": "deadBEEF", "rest": "x1", "file": "app"}},
		{`^(?<q>["'])(?<v>[^"']*)\k<q>$`, `'quoted'`, map[string]any{"q": "'", "v": "quoted"}},
	} {
		p, err := New(Definition{Name: "o", Format: "regex", Regex: tc.re, SkipEmptyValues: true})
		if err != nil {
			t.Fatalf("%s: %v", tc.re, err)
		}
		ev, err := p.ParseString(tc.in)
		if err != nil {
			t.Fatalf("%s on %q: %v", tc.re, tc.in, err)
		}
		if len(ev.Record) != len(tc.want) {
			t.Errorf("%s: record %v, want %v", tc.re, ev.Record, tc.want)
		}
		for k, v := range tc.want {
			if got := ev.Record.Value(k); got != v {
				t.Errorf("%s: %s = %#v, want %#v", tc.re, k, got, v)
			}
		}
	}
}
