package modify

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// props turns "Key value" lines, as they appear in a classic [FILTER] section, into
// properties in order.
func props(lines ...string) []config.Property {
	out := make([]config.Property, 0, len(lines))
	for i, l := range lines {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		out = append(out, config.Property{Key: k, Value: strings.TrimSpace(v), File: "fluent-bit.conf", Line: 10 + i})
	}
	return out
}

func newModify(t testing.TB, lines ...string) *Modify {
	t.Helper()
	m := &Modify{}
	if err := m.SetProperties(props(lines...)); err != nil {
		t.Fatalf("SetProperties: %v", err)
	}
	if err := m.Init(context.Background(), pipeline.Env{Name: "modify.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return m
}

func apply(t testing.TB, m *Modify, rec map[string]any) map[string]any {
	t.Helper()
	ev := event.Event{Time: time.Unix(1528925855, 0), Record: event.FromMap(rec)}
	v, err := m.Filter("mem.local", &ev)
	if err != nil || v != pipeline.Keep {
		t.Fatalf("Filter = %v, %v; want Keep, nil", v, err)
	}
	return ev.Record.ToMap()
}

func memRecord() map[string]any {
	return map[string]any{
		"Mem.total": int64(4050908), "Mem.used": int64(738100), "Mem.free": int64(3312808),
		"Swap.total": int64(1046524), "Swap.used": int64(0), "Swap.free": int64(1046524),
	}
}

// The introduction of Fluent Bit's modify documentation.
func TestModifyDocIntro(t *testing.T) {
	m := newModify(t, "Rename Key2 RenamedKey", "Add OtherKey Value3")
	got := apply(t, m, map[string]any{"Key1": "Value1", "Key2": "Value2"})
	want := map[string]any{"Key1": "Value1", "RenamedKey": "Value2", "OtherKey": "Value3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// Example #1 - Add and Rename.
func TestModifyDocExample1(t *testing.T) {
	m := newModify(t,
		"Add Service1 SOMEVALUE",
		"Add Service3 SOMEVALUE3",
		"Add Mem.total2 TOTALMEM2",
		"Rename Mem.free MEMFREE",
		"Rename Mem.used MEMUSED",
		"Rename Swap.total SWAPTOTAL",
		"Add Mem.total TOTALMEM",
	)
	got := apply(t, m, memRecord())
	want := map[string]any{
		"Mem.total": int64(4050908), "MEMUSED": int64(738100), "MEMFREE": int64(3312808),
		"SWAPTOTAL": int64(1046524), "Swap.used": int64(0), "Swap.free": int64(1046524),
		"Service1": "SOMEVALUE", "Service3": "SOMEVALUE3", "Mem.total2": "TOTALMEM2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// Example #2 - Conditionally Add and Remove: three filters in a row.
func TestModifyDocExample2(t *testing.T) {
	filters := []*Modify{
		newModify(t, "Condition Key_Does_Not_Exist cpustats", "Condition Key_Exists Mem.used", "Set cpustats UNKNOWN"),
		newModify(t, "Condition Key_Value_Does_Not_Equal cpustats KNOWN", "Add sourcetype memstats"),
		newModify(t, "Condition Key_Value_Equals cpustats UNKNOWN",
			"Remove_wildcard Mem", "Remove_wildcard Swap", "Add cpustats_more STILL_UNKNOWN"),
	}
	rec := memRecord()
	for _, f := range filters {
		rec = apply(t, f, rec)
	}
	want := map[string]any{"cpustats": "UNKNOWN", "sourcetype": "memstats", "cpustats_more": "STILL_UNKNOWN"}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("got %v\nwant %v", rec, want)
	}
}

// Example #3 - Emoji.
func TestModifyDocExample3Emoji(t *testing.T) {
	m := newModify(t,
		"Remove_Wildcard Mem",
		"Remove_Wildcard Swap",
		"Set This_plugin_is_on 🔥",
		"Set 🔥 is_hot",
		"Copy 🔥 💦",
		"Rename  💦 ❄️",
		"Set ❄️ is_cold",
		"Set 💦 is_wet",
	)
	got := apply(t, m, memRecord())
	want := map[string]any{"This_plugin_is_on": "🔥", "🔥": "is_hot", "❄️": "is_cold", "💦": "is_wet"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestModifyRules(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"a": "A", "b": "B", "n": int64(7), "m": map[string]any{"x": []any{"y"}}}
	}
	with := func(edit func(map[string]any)) map[string]any {
		r := base()
		edit(r)
		return r
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  map[string]any
	}{
		{"set new", []string{"Set c C"}, with(func(r map[string]any) { r["c"] = "C" })},
		{"set overwrites", []string{"Set n eight"}, with(func(r map[string]any) { r["n"] = "eight" })},
		{"set quoted value", []string{`Set c "hello big world"`}, with(func(r map[string]any) { r["c"] = "hello big world" })},
		{"set single-quoted", []string{`Set 'c d' 'it\'s'`}, with(func(r map[string]any) { r["c d"] = "it's" })},
		{"add new", []string{"Add c C"}, with(func(r map[string]any) { r["c"] = "C" })},
		{"add existing is no-op", []string{"Add a other"}, base()},
		{"add_if_not_present", []string{"Add_if_not_present c C"}, with(func(r map[string]any) { r["c"] = "C" })},
		{"remove", []string{"Remove a"}, with(func(r map[string]any) { delete(r, "a") })},
		{"remove missing", []string{"Remove zz"}, base()},
		{"remove is case-sensitive", []string{"Remove A"}, base()},
		{"remove_wildcard", []string{"Remove_wildcard m"}, with(func(r map[string]any) { delete(r, "m") })},
		{"remove_wildcard star", []string{"Remove_wildcard *"}, map[string]any{}},
		{"remove_regex", []string{"Remove_regex ^[ab]$"}, with(func(r map[string]any) { delete(r, "a"); delete(r, "b") })},
		{"rename", []string{"Rename a z"}, with(func(r map[string]any) { delete(r, "a"); r["z"] = "A" })},
		{"rename onto existing is no-op", []string{"Rename a b"}, base()},
		{"rename missing is no-op", []string{"Rename zz q"}, base()},
		{"hard_rename onto existing", []string{"Hard_rename a b"}, with(func(r map[string]any) { delete(r, "a"); r["b"] = "A" })},
		{"hard_rename onto itself", []string{"Hard_rename a a"}, base()},
		{"copy", []string{"Copy a z"}, with(func(r map[string]any) { r["z"] = "A" })},
		{"copy onto existing is no-op", []string{"Copy a b"}, base()},
		{"hard_copy onto existing", []string{"Hard_copy a b"}, with(func(r map[string]any) { r["b"] = "A" })},
		{"hard_copy onto itself", []string{"Hard_copy a a"}, base()},
		{"copy map", []string{"Copy m m2"}, with(func(r map[string]any) { r["m2"] = map[string]any{"x": []any{"y"}} })},
		{"move_to_start is accepted", []string{"Move_to_start a"}, base()},
		{"move_to_end is accepted", []string{"Move_to_end a"}, base()},
		{"rule names ignore case", []string{"SET c C", "rEmOvE a"}, with(func(r map[string]any) { r["c"] = "C"; delete(r, "a") })},
		// Order across keys: each rule sees the result of the previous one.
		{"rename then set", []string{"Rename a z", "Set a x"}, with(func(r map[string]any) { r["z"] = "A"; r["a"] = "x" })},
		{"set then rename", []string{"Set a x", "Rename a z"}, with(func(r map[string]any) { delete(r, "a"); r["z"] = "x" })},
		{"copy then remove", []string{"Copy a z", "Remove a"}, with(func(r map[string]any) { delete(r, "a"); r["z"] = "A" })},
		{"remove then copy", []string{"Remove a", "Copy a z"}, with(func(r map[string]any) { delete(r, "a") })},
		// Rules take keys literally, as Fluent Bit does; accessors are for conditions.
		{"rule keys are literal", []string{"Set $m['x'] v"}, with(func(r map[string]any) { r["$m['x']"] = "v" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := apply(t, newModify(t, tc.lines...), base())
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestModifyCopyIsDeep(t *testing.T) {
	m := newModify(t, "Copy m m2")
	rec := apply(t, m, map[string]any{"m": map[string]any{"list": []any{"a"}, "raw": []byte("b")}})
	rec["m2"].(map[string]any)["list"].([]any)[0] = "changed"
	rec["m2"].(map[string]any)["raw"].([]byte)[0] = 'X'
	if got := rec["m"].(map[string]any)["list"].([]any)[0]; got != "a" {
		t.Errorf("changing the copy changed the original list: %v", got)
	}
	if got := rec["m"].(map[string]any)["raw"].([]byte)[0]; got != 'b' {
		t.Errorf("changing the copy changed the original bytes: %c", got)
	}
}

func TestModifyConditions(t *testing.T) {
	rec := func() map[string]any {
		return map[string]any{
			"level": "error", "code": int64(500), "ok": false, "null": nil, "bin": []byte("raw"),
			"msg":        "line one\nline two",
			"kubernetes": map[string]any{"labels": map[string]any{"app": "myapp"}},
			"tag_a":      "x1", "tag_b": "x2",
		}
	}
	for _, tc := range []struct {
		cond  string
		holds bool
	}{
		{"Key_exists level", true},
		{"Key_exists missing", false},
		{"Key_exists null", true},
		{"Key_exists $kubernetes['labels']['app']", true},
		{"Key_exists $kubernetes['labels']['nope']", false},
		{"Key_does_not_exist missing", true},
		{"Key_does_not_exist level", false},
		{"Key_does_not_exist $kubernetes['labels']['nope']", true},
		{"A_key_matches ^tag_", true},
		{"A_key_matches ^zzz", false},
		{"No_key_matches ^zzz", true},
		{"No_key_matches ^tag_", false},
		{"Key_value_equals level error", true},
		{"Key_value_equals level ERROR", false},
		{"Key_value_equals code 500", false}, // numbers are not strings
		{"Key_value_equals bin raw", true},
		{"Key_value_equals missing x", false},
		{"Key_value_equals $kubernetes['labels']['app'] myapp", true},
		{"Key_value_does_not_equal level warn", true},
		{"Key_value_does_not_equal level error", false},
		{"Key_value_does_not_equal missing x", false}, // the key must exist
		{"Key_value_does_not_equal code 500", true},
		{"Key_value_matches level ^err", true},
		{"Key_value_matches level ^warn", false},
		{"Key_value_matches ok ^false$", true}, // booleans match as true/false
		{"Key_value_matches code ^5", false},
		{`Key_value_matches msg "^line two$"`, true}, // ^ and $ are line anchors
		{"Key_value_matches $kubernetes['labels']['app'] ^my", true},
		{"Key_value_matches missing .", false},
		{"Key_value_does_not_match level ^warn", true},
		{"Key_value_does_not_match level ^err", false},
		{"Key_value_does_not_match missing .", false},
		{"Matching_keys_have_matching_values ^tag_ ^x", true},
		{"Matching_keys_have_matching_values ^tag_ ^x1$", false},
		{"Matching_keys_have_matching_values ^nomatch ^x", true}, // vacuously
		{"Matching_keys_have_matching_values ^code$ .", false},
		{"Matching_keys_do_not_have_matching_values ^tag_ ^y", true},
		{"Matching_keys_do_not_have_matching_values ^tag_ ^x1$", false},
		{"Matching_keys_do_not_have_matching_values ^nomatch ^x", true}, // vacuously, as documented
		{"KEY_EXISTS level", true},
		{`Key_value_equals msg "line one\nline two"`, false}, // no escape sequences but \" and \\
		{`Key_value_matches msg "one\nline"`, true},          // ...the regex reads \n itself
	} {
		t.Run(tc.cond, func(t *testing.T) {
			m := newModify(t, "Condition "+tc.cond, "Set applied yes")
			_, applied := apply(t, m, rec())["applied"]
			if applied != tc.holds {
				t.Errorf("rules applied=%v, want %v", applied, tc.holds)
			}
		})
	}
}

func TestModifyAllConditionsMustHold(t *testing.T) {
	m := newModify(t, "Condition Key_exists a", "Condition Key_exists b", "Set both yes")
	if _, ok := apply(t, m, map[string]any{"a": 1})["both"]; ok {
		t.Error("rules applied with one condition false")
	}
	if _, ok := apply(t, m, map[string]any{"a": 1, "b": 2})["both"]; !ok {
		t.Error("rules not applied with all conditions true")
	}
}

// Conditions see the record as it arrives, whatever their place among the rules.
func TestModifyConditionsBeforeRules(t *testing.T) {
	m := newModify(t, "Remove a", "Condition Key_exists a", "Set seen yes")
	got := apply(t, m, map[string]any{"a": 1})
	if !reflect.DeepEqual(got, map[string]any{"seen": "yes"}) {
		t.Errorf("got %v", got)
	}
}

func TestModifyNilRecord(t *testing.T) {
	got := apply(t, newModify(t, "Set a b"), nil)
	if !reflect.DeepEqual(got, map[string]any{"a": "b"}) {
		t.Errorf("got %v", got)
	}
	if got := apply(t, newModify(t, "Remove a"), nil); got != nil {
		t.Errorf("a remove-only filter made %v of a nil record", got)
	}
}

func TestModifyBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"unknown key", "Delete a", `key "Delete": unknown key for the modify filter`},
		{"set without value", "Set a", `key "Set": "a": want KEY VALUE`},
		{"set with spaces unquoted", "Set a b c", "quote a parameter"},
		{"rename one arg", "Rename a", "want KEY NEW_KEY"},
		{"remove two args", "Remove a b", "want KEY"},
		{"empty rule", "Remove", "got 0"},
		{"bad remove_regex", "Remove_regex ([", `"([":`},
		{"unknown condition", "Condition Key_is_big a", `unknown condition "Key_is_big"`},
		{"condition missing param", "Condition Key_value_equals a", "takes 2 parameter(s), got 1"},
		{"condition extra param", "Condition Key_exists a b", "takes 1 parameter(s), got 2"},
		{"empty condition", "Condition", "want a condition type"},
		{"bad condition regex", "Condition A_key_matches (?~x)", "(?~x)"},
		{"bad condition accessor", "Condition Key_exists $a['b", `$a['b`},
		{"unterminated quote", `Set a "b`, "unterminated"},
		{"text after quote", `Set a "b"c`, "after a closing"},
		{"empty new key", `Copy a ""`, "empty new key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Modify{}
			err := m.SetProperties(props(tc.line))
			if err == nil {
				err = m.Init(context.Background(), pipeline.Env{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fluent-bit.conf:10") {
				t.Errorf("error %q does not mention %q and fluent-bit.conf:10", err, tc.want)
			}
		})
	}
}

func TestModifySkipsEngineKeys(t *testing.T) {
	m := newModify(t, "Name modify", "Match *", "Alias m", "Set a b")
	if got := apply(t, m, map[string]any{}); !reflect.DeepEqual(got, map[string]any{"a": "b"}) {
		t.Errorf("got %v", got)
	}
}

// Modify reads its properties in order (rules apply in the order written), so it must
// not be decoded by `conf` tags.
var _ pipeline.PropertySetter = (*Modify)(nil)

// A bad rule is reported by Configure (so by New and --dry-run, before Init) at its line.
func TestConfigurePlacesBadRule(t *testing.T) {
	err := pipelinetest.Configure("filter", "modify", "Set", "a", "Set", "b c")
	want := `test.conf:1: key "Set": "a": want KEY VALUE (2 parameter(s)), got 1; quote a parameter that has spaces`
	if err == nil || err.Error() != want {
		t.Errorf("placed error\n%v\nwant\n%s", err, want)
	}
}

func TestModifyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	m := newModify(t, "Condition Key_exists $k['app']", "Condition Key_value_matches level ^(warn|error)$",
		"Set env prod", "Hard_rename level severity", "Hard_rename severity level", "Remove_regex ^tmp_")
	ev := event.Event{Record: event.Map{{"k", event.Map{{"app", "a"}}}, {"level", "warn"}, {"x", 1}}}
	m.Filter("t", &ev)
	if n := testing.AllocsPerRun(100, func() { m.Filter("t", &ev) }); n != 0 {
		t.Errorf("Filter allocates %v times per record, want 0", n)
	}
}

func BenchmarkModify(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lines []string
	}{
		{"doc_example1", []string{"Add Service1 SOMEVALUE", "Add Service3 SOMEVALUE3", "Add Mem.total2 TOTALMEM2",
			"Rename Mem.free MEMFREE", "Rename Mem.used MEMUSED", "Rename Swap.total SWAPTOTAL", "Add Mem.total TOTALMEM"}},
		{"conditions_false", []string{"Condition Key_exists cpustats", "Set a b"}},
		{"conditions_set", []string{"Condition Key_does_not_exist cpustats", "Condition Key_value_does_not_equal Mem.used 0",
			"Condition A_key_matches ^Swap", "Set cpustats UNKNOWN"}},
		{"remove_wildcard", []string{"Remove_wildcard Swap"}},
		{"remove_regex", []string{"Remove_regex ^Swap\\."}},
	} {
		m := newModify(b, bc.lines...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			src := event.FromMap(memRecord())
			rec := make(event.Map, 0, 16)
			ev := event.Event{}
			for b.Loop() {
				// A fresh copy of the record each time; rec keeps its array, so the copy
				// itself does not allocate.
				clear(rec)
				rec = append(rec[:0], src...)
				ev.Record = rec
				m.Filter("t", &ev)
			}
		})
	}
}

// One filter instance serves every input that emits its tag, from their goroutines.
func TestModifyConcurrentUse(t *testing.T) {
	m := newModify(t, "Condition Key_value_matches level ^warn", "Set seen yes", "Copy m m2", "Rename level severity")
	pipelinetest.Concurrently(t, 8, 500, func(int, int) error {
		ev := event.Event{Record: event.Map{{"level", "warn"}, {"m", event.Map{{"a", []any{1}}}}}}
		m.Filter("t", &ev)
		if ev.Record.Value("seen") != "yes" || ev.Record.Value("severity") != "warn" {
			return errors.New("rules not applied")
		}
		return nil
	})
}
