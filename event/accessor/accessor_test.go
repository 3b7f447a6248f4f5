package accessor

import (
	"github.com/fluentbit-go/fluentbit-go/event"
	"reflect"
	"strings"
	"testing"
)

// docRecord is the record of Fluent Bit's record accessor documentation.
func docRecord() map[string]any {
	return map[string]any{
		"log":    "some message",
		"stream": "stdout",
		"labels": map[string]any{
			"color":   "blue",
			"unset":   nil,
			"project": map[string]any{"env": "production"},
		},
		"items": []any{"zero", map[string]any{"name": "one"}, []any{int64(20), int64(21)}},
		"🔥":     "hot",
		"it's":  map[string]any{"a'b": "quoted"},
	}
}

func TestGetFollowsFluentBitDocs(t *testing.T) {
	rec := docRecord()
	for _, tc := range []struct {
		expr  string
		want  any
		found bool
	}{
		{"$log", "some message", true},
		{"log", "some message", true},
		{"$labels['color']", "blue", true},
		{"$labels['project']['env']", "production", true},
		{"$labels['unset']", nil, true},
		{"$labels['undefined']", nil, false},
		{"$labels[ 'color' ]", "blue", true},
		{`$labels["color"]`, "blue", true},
		{"$items[0]", "zero", true},
		{"$items[1]['name']", "one", true},
		{"$items[2][1]", int64(21), true},
		{"$items[3]", nil, false},
		{"$items['0']", nil, false},   // a key into an array
		{"$labels[0]", nil, false},    // an index into a map
		{"$log['x']", nil, false},     // below a string
		{"$missing['x']", nil, false}, // missing top level
		{"$🔥", "hot", true},
		{"🔥", "hot", true},
		{"$it's['a''b']", "quoted", true},
		{`$it's["a'b"]`, "quoted", true},
	} {
		a, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.expr, err)
		}
		got, found := a.Get(event.FromMap(rec))
		if found != tc.found || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got (%v, %v), want (%v, %v)", tc.expr, got, found, tc.want, tc.found)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, expr := range []string{
		"", "$", "$['a']", "$a[", "$a['b'", "$a['b']x", "$a[b]", "$a[-1]", "$a['b'] ['c']",
		"$a[99999999999999999999]", `$a["b]`, "$a[1", "$a[ ",
	} {
		if a, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", expr, a)
		} else if expr != "" && !strings.Contains(err.Error(), "accessor") {
			t.Errorf("Parse(%q) error %q does not say where it comes from", expr, err)
		}
	}
}

func TestStringRoundTrips(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"log", "log"},
		{"a[b", "a[b"},
		{"$log", "$log"},
		{"$a[ 'b' ][ 3 ]", "$a['b'][3]"},
		{`$a["it's"]`, "$a['it''s']"},
		{"$a['it''s']", "$a['it''s']"},
		{"$a['']", "$a['']"},
	} {
		a, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if a.String() != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, a.String(), tc.want)
		}
		b, err := Parse(a.String())
		if err != nil || !reflect.DeepEqual(a.path, b.path) {
			t.Errorf("Parse(%q) does not round-trip: %v %v", a.String(), b, err)
		}
	}
}

func TestKeyAndNested(t *testing.T) {
	a := MustParse("$kubernetes['labels']['app']")
	if a.Key() != "kubernetes" || !a.Nested() {
		t.Errorf("Key=%q Nested=%v", a.Key(), a.Nested())
	}
	if b := MustParse("log"); b.Key() != "log" || b.Nested() {
		t.Errorf("Key=%q Nested=%v", b.Key(), b.Nested())
	}
}

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		expr string
		rec  map[string]any
		ok   bool
		want map[string]any
	}{
		{"top level", "$a", map[string]any{}, true, map[string]any{"a": "v"}},
		{"overwrite", "a", map[string]any{"a": int64(1)}, true, map[string]any{"a": "v"}},
		{"creates maps", "$a['b']['c']", map[string]any{}, true,
			map[string]any{"a": map[string]any{"b": map[string]any{"c": "v"}}}},
		{"replaces null with a map", "$a['b']", map[string]any{"a": nil}, true,
			map[string]any{"a": map[string]any{"b": "v"}}},
		{"into existing map", "$a['b']", map[string]any{"a": map[string]any{"x": true}}, true,
			map[string]any{"a": map[string]any{"x": true, "b": "v"}}},
		{"array element", "$a[1]", map[string]any{"a": []any{"x", "y"}}, true,
			map[string]any{"a": []any{"x", "v"}}},
		{"map inside array", "$a[0]['k']", map[string]any{"a": []any{nil}}, true,
			map[string]any{"a": []any{map[string]any{"k": "v"}}}},
		{"array out of range", "$a[2]", map[string]any{"a": []any{"x"}}, false,
			map[string]any{"a": []any{"x"}}},
		{"no array invented", "$a[0]", map[string]any{}, false, map[string]any{}},
		{"scalar in the way", "$a['b']", map[string]any{"a": "s"}, false, map[string]any{"a": "s"}},
		{"key into array", "$a['b']", map[string]any{"a": []any{}}, false, map[string]any{"a": []any{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := event.FromMap(tc.rec)
			ok := MustParse(tc.expr).Set(&rec, "v")
			if ok != tc.ok || !reflect.DeepEqual(rec.ToMap(), tc.want) {
				t.Errorf("Set: ok=%v rec=%v, want ok=%v rec=%v", ok, tc.rec, tc.ok, tc.want)
			}
		})
	}
	if MustParse("a").Set(nil, 1) {
		t.Error("Set on a nil record reported success")
	}
}

func TestDelete(t *testing.T) {
	for _, tc := range []struct {
		name string
		expr string
		rec  map[string]any
		ok   bool
		want map[string]any
	}{
		{"top level", "a", map[string]any{"a": 1, "b": 2}, true, map[string]any{"b": 2}},
		{"missing", "$c", map[string]any{"a": 1}, false, map[string]any{"a": 1}},
		{"nested", "$a['b']", map[string]any{"a": map[string]any{"b": 1, "c": 2}}, true,
			map[string]any{"a": map[string]any{"c": 2}}},
		{"array element", "$a[1]", map[string]any{"a": []any{"x", "y", "z"}}, true,
			map[string]any{"a": []any{"x", "z"}}},
		{"nested array element", "$m['a'][0]", map[string]any{"m": map[string]any{"a": []any{"x", "y"}}}, true,
			map[string]any{"m": map[string]any{"a": []any{"y"}}}},
		{"array in array", "$a[0][0]", map[string]any{"a": []any{[]any{"x", "y"}}}, true,
			map[string]any{"a": []any{[]any{"y"}}}},
		{"out of range", "$a[5]", map[string]any{"a": []any{"x"}}, false, map[string]any{"a": []any{"x"}}},
		{"below scalar", "$a['b']", map[string]any{"a": "s"}, false, map[string]any{"a": "s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := event.FromMap(tc.rec)
			ok := MustParse(tc.expr).Delete(&rec)
			if ok != tc.ok || !reflect.DeepEqual(rec.ToMap(), tc.want) {
				t.Errorf("Delete: ok=%v rec=%v, want ok=%v rec=%v", ok, tc.rec, tc.ok, tc.want)
			}
		})
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	rec := event.FromMap(docRecord())
	a := MustParse("$items[1]['name']")
	if n := testing.AllocsPerRun(100, func() { a.Get(rec) }); n != 0 {
		t.Errorf("Get allocates %v times per call, want 0", n)
	}
}

func BenchmarkGet(b *testing.B) {
	rec := event.FromMap(docRecord())
	for _, expr := range []string{"log", "$labels['project']['env']", "$items[1]['name']"} {
		a := MustParse(expr)
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Get(rec)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("$kubernetes['labels']['app']"); err != nil {
			b.Fatal(err)
		}
	}
}
