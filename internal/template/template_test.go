package template

import (
	"github.com/fluentbit-go/fluentbit-go/event"
	"regexp"
	"strings"
	"testing"
)

var full = Syntax{Groups: true, Keys: true}

func render(t *testing.T, tmpl string, syn Syntax, v *Vars) (string, bool) {
	t.Helper()
	tp, err := Parse(tmpl, syn)
	if err != nil {
		t.Fatalf("%q: %v", tmpl, err)
	}
	out, missing := tp.Append(nil, v)
	return string(out), missing
}

func TestRender(t *testing.T) {
	rec := map[string]any{
		"tool": "fluent", "n": int64(7), "f": 1.5, "ok": true, "nil": nil,
		"sub": map[string]any{"s1": map[string]any{"s2": "flb"}}, "items": []any{"x", "y"},
		"TAGS": "key-TAGS", "dev": "d1", "dev-id": "never", "ключ": "k",
	}
	re := regexp.MustCompile(`^(flu)(ent)$`)
	v := &Vars{Tag: "aa.bb.cc", Record: event.FromMap(rec), Subject: "fluent", Match: re.FindStringSubmatchIndex("fluent")}
	for _, tc := range []struct{ tmpl, want string }{
		{"from.$TAG.new.$tool.$sub['s1']['s2'].out", "from.aa.bb.cc.new.fluent.flb.out"},
		{"$TAG[0]-$TAG[2]-$TAG[3]", "aa-cc-"},
		{"${TAG}", "aa.bb.cc"},
		{"$TAGS", "aa.bb.ccS"},             // $TAG is matched first, as in Fluent Bit
		{"$TAG-x", "aa.bb.cc-x"},           // the tag, then -x
		{"$dev-id", "d1-id"},               // '-' ends a key
		{"$dev/$TAG[1]", "d1/bb"},          // '/' ends a key
		{"$a.$tool", ".fluent"},            // missing key: nothing
		{"$0:$1:$2:$3", "fluent:flu:ent:"}, // groups; $3 did not match
		{"$12", "flu2"},                    // one digit only
		{"$n/$f/$ok/$items[1]/$items", `7/1.5/true/y/["x","y"]`},
		{"$sub['s1']", `{"s2":"flb"}`},
		{"$ключ", "k"},
		{"a$", "a$"}, {"$.x", "$.x"}, {"$$TAG", "$aa.bb.cc"},
	} {
		if got, _ := render(t, tc.tmpl, full, v); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	for tmpl, missing := range map[string]bool{"$tool": false, "$a": true, "$nil": true, "$TAG": false, "$sub['x']": true} {
		if _, m := render(t, tmpl, full, v); m != missing {
			t.Errorf("%q: missing=%v, want %v", tmpl, m, missing)
		}
	}
}

func TestSyntaxes(t *testing.T) {
	topic := Syntax{TagName: "TOPIC", Sep: '/'}
	v := &Vars{Tag: "sensors/room1/temp", Record: event.Map{{"k", "v"}}}
	for _, tc := range []struct {
		tmpl string
		syn  Syntax
		want string
	}{
		{"iot.$TOPIC[1]", topic, "iot.room1"},
		{"$TOPIC[5]x", topic, "x"},
		{"$TOPICS", topic, "sensors/room1/tempS"},
		{"$k.$1.$TAG", topic, "$k.$1.$TAG"}, // no keys, no groups, another tag name: literal
		{"$k/$TAG", Syntax{Keys: true}, "v/sensors/room1/temp"},
		{"$1", Syntax{}, "$1"},
	} {
		if got, _ := render(t, tc.tmpl, tc.syn, v); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		syn  Syntax
		want string
	}{
		{"", full, "empty"},
		{"$TAG[", full, "closing"},
		{"$TAG[x]", full, "want $TAG[N]"},
		{"$TAG[-1]", full, "want $TAG[N]"},
		{"$TAG[+1]", full, "want $TAG[N]"},
		{"$TAG[1001]", full, "want $TAG[N]"},
		{"$TOPIC[", Syntax{TagName: "TOPIC"}, "closing"},
		{"$a['b'", full, "unterminated"},
		{"$a[x]", full, "accessor"},
		{"$1", Syntax{Keys: true}, "no regex"},
	} {
		_, err := Parse(tc.tmpl, tc.syn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.tmpl, err, tc.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"a.b.c", 0, "a"}, {"a.b.c", 2, "c"}, {"a.b.c", 3, ""}, {"abc", 0, "abc"}, {"abc", 1, ""}, {"", 0, ""}, {"a..b", 1, ""}, {"a..b", 2, "b"}} {
		if got := Split(tc.s, tc.n, '.'); got != tc.want {
			t.Errorf("Split(%q, %d): %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
