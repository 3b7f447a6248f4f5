package regex

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fluentBitPatterns are the regexes of Fluent Bit's stock parsers files (conf/parsers.conf,
// conf/parsers_mult.conf, conf/parsers_multiline.conf rules and conf/parsers_extra.conf),
// /slashes/ removed as the parser does. Each must compile; wantBT says which engine.
var fluentBitPatterns = []struct {
	name, re string
	wantBT   bool
}{
	{"apache", `^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$`, false},
	{"apache2", `^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>.*)")?$`, false},
	{"apache_error", `^\[[^ ]* (?<time>[^\]]*)\] \[(?<level>[^\]]*)\](?: \[pid (?<pid>[^\]]*)\])?( \[client (?<client>[^\]]*)\])? (?<message>.*)$`, false},
	{"nginx", `^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$`, false},
	{"k8s-nginx-ingress", `^(?<host>[^ ]*) - \[(?<real_ip>[^ ]*)\] - (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*) "(?<referer>[^\"]*)" "(?<agent>[^\"]*)" (?<request_length>[^ ]*) (?<request_time>[^ ]*) \[(?<proxy_upstream_name>[^ ]*)\] (?<upstream_addr>[^ ]*) (?<upstream_response_length>[^ ]*) (?<upstream_response_time>[^ ]*) (?<upstream_status>[^ ]*) (?<last>[^$]*)`, false},
	{"docker-daemon", `time="(?<time>[^ ]*)" level=(?<level>[^ ]*) msg="(?<msg>[^ ].*)"`, false},
	{"syslog-rfc5424", `^\<(?<pri>[0-9]{1,5})\>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[-0-9]+) (?<msgid>[^ ]+) (?<extradata>(\[(.*)\]|-)) (?<message>.+)$`, false},
	{"syslog-rfc3164-local", `^\<(?<pri>[0-9]+)\>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<ident>[a-zA-Z0-9_\/\.\-]*)(?:\[(?<pid>[0-9]+)\])?(?:[^\:]*\:)? *(?<message>.*)$`, false},
	{"syslog-rfc3164", `^\<(?<pri>[0-9]+)\>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<host>[^ ]*) (?<ident>[a-zA-Z0-9_\/\.\-]*)(?:\[(?<pid>[0-9]+)\])?(?:[^\:]*\:)? *(?<message>.*)$`, false},
	{"mongodb", `^(?<time>[^ ]*)\s+(?<severity>\w)\s+(?<component>[^ ]+)\s+\[(?<context>[^\]]+)]\s+(?<message>.*?) *(?<ms>(\d+))?(:?ms)?$`, false},
	{"cri", `^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<message>.*)$`, false},
	{"kube-custom", `(?<tag>[^.]+)?\.?(?<pod_name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$`, false},
	{"mult_first", `Started (?<method>[^ ]+) "(?<path>[^"]+)" for (?<host>[^ ]+) at (?<time>[^ ]+ [^ ]+ [^ ]+)`, false},
	{"mult_1", `Processing by (?<controller>[^\u0023]+)\u0023(?<controller_method>[^ ]+) as (?<format>[^ ]+?)$`, false},
	{"mult_2", `(  Parameters: (?<parameters>[^ ]+))?`, false},
	{"mult_3", `  Rendered (?<template>[^ ]+) within (?<layout>.+) \([\d\.]+ms\)`, false},
	{"mult_4", `Completed (?<code>[^ ]+) [^ ]+ in (?<runtime>[\d\.]+)ms \(Views: (?<view_runtime>[\d\.]+)ms \| ActiveRecord: (?<ar_runtime>[\d\.]+)ms\)`, false},
	{"multiline start_state", `(Dec \d+ \d+\:\d+\:\d+)(.*)`, false},
	{"multiline cont", `^\s+at.*`, false},
	{"crowbar", `^.*\[(?<log_time>[^ ][-.\d\+:]+T[:\d]*)([^\]])*?\]\s+?(?<severity>[^ ]\w+)([\s-]*):?\s+(?<message>.*)`, false},
	{"mysql_slow", `^# User\@Host:\s+(?<user>[^\@][\w\[\]]+)[@\s]+(?<dbhost>[^ ][-.\w]+)\s+(\[(?<dbhost_address>[.\d]+)\]){0,1}\s+(?<message>.*)$`, false},
	{"http_statement", `^.*((?<req_method>GET|POST|PUT|DELETE|CONNECT|OPTIONS|HEAD[^ ]\w+)\s*(?<req_path>[^ ][-._?=%&\/[:alnum:]]*)\s*(?<req_protocol>[^ ][.\/\dHTFSP]+){0,1})(['"\s]*){0,1}((\s*status:\s*(?<req_status>[^ ]\d+)){0,1}(\s*len:\ (?<req_len>[^ ]\d+)){0,1}(\s*time:\s*(?<req_log_time>[^ ][.\d]+)){0,1}(\s*microversion:\s*(?<req_mver>[^ ][.\d]+)){0,1}){0,1}$`, false},
	{"iptables", `\[(?<rule_chain>\w*)-(?<rule_name>\w*)-(?<accept_or_drop>\w*)\]IN=(?<in_interface>[\w.]+)? OUT=(?<out_interface>[\w.]+)? MAC=(?<mac_address>[\w:]+)? SRC=(?<source>(?:[0-9]{1,3}\.){3}[0-9]{1,3}) DST=(?<dest>(?:[0-9]{1,3}\.){3}[0-9]{1,3}) LEN=(?<pkt_len>\d+)`, false},
	{"couchbase_simple_log_mixed", `^(?<timestamp>\d+(-|/)\d+(-|/)\d+(T|\s+)\d+:\d+:\d+(\.\d+(\+|-)\d+:\d+|))\s+((\[)?(?<level>\w+)(\]|:))(?<message>.*)$`, false},
}

func TestFluentBitStockPatternsCompile(t *testing.T) {
	for _, p := range fluentBitPatterns {
		re, err := Compile(p.re)
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
			continue
		}
		if re.Backtracking() != p.wantBT {
			t.Errorf("%s: backtracking %v, want %v", p.name, re.Backtracking(), p.wantBT)
		}
	}
}

// group returns the named group's text, and whether the pattern matched.
func group(t *testing.T, re *Regexp, s, name string) (string, bool) {
	t.Helper()
	m, err := re.FindStringSubmatchIndex(s)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		return "", false
	}
	for i, n := range re.SubexpNames() {
		if n == name {
			if m[2*i] < 0 {
				return "", true
			}
			return s[m[2*i]:m[2*i+1]], true
		}
	}
	t.Fatalf("no group %q in %v", name, re.SubexpNames())
	return "", false
}

func TestOnigmoSyntax(t *testing.T) {
	for _, tc := range []struct {
		name, re, in, group, want string
		bt                        bool
	}{
		{"hex digit \\h", `^(?<v>\h+)`, "0aFgz", "v", "0aF", false},
		{"not hex \\H", `(?<v>\H+)$`, "0aFgz", "v", "gz", false},
		{"\\h in class", `^(?<v>[\h-]+)`, "de-ad_", "v", "de-ad", false},
		{"\\u escape", `by (?<c>[^\u0023]+)\u0023(?<m>\w+)`, "by Users#show", "m", "show", false},
		{"\\x{} escape", `(?<v>\x{e9}+)`, "caf\u00e9\u00e9!", "v", "\u00e9\u00e9", false},
		{"\\p{Alpha} is Unicode", `^(?<v>\p{Alpha}+)`, "h\u00e9llo1", "v", "h\u00e9llo", false},
		{"\\p{^Digit}", `^(?<v>\p{^Digit}+)`, "ab12", "v", "ab", false},
		{"\\P{Upper}", `^(?<v>\P{Upper}+)`, "abC", "v", "ab", false},
		{"[[:alpha:]] is Unicode", `^(?<v>[[:alpha:]]+)`, "\u00fcber2", "v", "\u00fcber", false},
		{"\\p{Greek}", `(?<v>\p{greek}+)`, "x\u03b1\u03b2y", "v", "\u03b1\u03b2", false},
		{"{,n}", `^(?<v>a{,2})`, "aaa", "v", "aa", false},
		{"$ at a line end", `^(?<v>\w+)$`, "first\nsecond", "v", "first", false},
		{"(?m) is dot-all", `(?m)^(?<v>a.b)`, "a\nb", "v", "a\nb", false},
		{"(?'name')", `(?'v'\d+)`, "x42", "v", "42", false},
		{"comment", `(?#the number)(?<v>\d+)`, "x42", "v", "42", false},
		{"lookahead", `(?<v>\w+)(?=\.log)`, "app.log", "v", "app", true},
		{"negative lookahead", `^(?!debug)(?<v>\w+)`, "info", "v", "info", true},
		{"lookbehind", `(?<=user=)(?<v>\w+)`, "id=1 user=ana", "v", "ana", true},
		{"negative lookbehind", `(?<!x)(?<v>\d+)`, "x1 22", "v", "22", true},
		{"atomic group", `^(?<v>(?>\d+))x`, "123x", "v", "123", true},
		{"named back-reference", `(?<q>["'])(?<v>[^"']*)\k<q>`, `say "hi" now`, "v", "hi", true},
		{"numbered back-reference", `(a)(?<v>b)\1`, "xaba", "v", "b", true},
		{"possessive ++", `^(?<v>\d++)`, "123x", "v", "123", true},
		{"possessive *+ fails where greedy backtracks", `^(?<v>a*+a)?`, "aaa", "v", "", true},
		{"\\Z", `(?<v>\w+)\Z`, "end\n", "v", "end", true},
		{"non-ASCII offsets on the backtracking engine", `(?<=\u00e9t\u00e9)(?<v>\w+)`, "\u00e9t\u00e9abc", "v", "abc", true},
		{"$ at a line end on the backtracking engine", `^(?<v>\w+)(?=x|$)`, "first\nsecond", "v", "first", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re, err := Compile(tc.re)
			if err != nil {
				t.Fatal(err)
			}
			if re.Backtracking() != tc.bt {
				t.Errorf("backtracking %v, want %v", re.Backtracking(), tc.bt)
			}
			got, ok := group(t, re, tc.in, tc.group)
			if !ok {
				t.Fatalf("%q did not match %q", tc.re, tc.in)
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.group, got, tc.want)
			}
		})
	}
}

func TestUnsupportedIsAClearError(t *testing.T) {
	for _, re := range []string{`\g<a>`, `a\Kb`, `(?~abc)`, `[a-z&&[^aeiou]]`, `(?<a>x`, `\p{Nope}`, `\k<a+1>`, `((){1000}){1000}`, `a{100001}`} {
		_, err := Compile(re)
		if err == nil {
			t.Errorf("%q compiled", re)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(re)) {
			t.Errorf("%q: error %q does not quote the pattern", re, err)
		}
	}
}

func TestPathologicalPatternTimesOut(t *testing.T) {
	re, err := CompileTimeout(`^(?<v>(a+)+)(?=b)$`, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Repeat("a", 40) + "c"
	start := time.Now()
	_, err = re.FindStringSubmatchIndex(in)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if re.MatchString(in) {
		t.Error("a timed-out match reported a match")
	}
}

func TestRE2RepeatLimitFallsBack(t *testing.T) {
	re, err := Compile(`^a{1001}$`)
	if err != nil {
		t.Fatal(err)
	}
	if !re.Backtracking() || !re.MatchString(strings.Repeat("a", 1001)) {
		t.Errorf("a{1001}: backtracking %v", re.Backtracking())
	}
}
