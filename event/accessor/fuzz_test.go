package accessor

import (
	"github.com/fluentbit-go/fluentbit-go/event"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that whatever it accepts survives a round trip
// through String, and that the compiled accessor can be used on any record.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"log", "$log", "$labels['color']", "$a['b'][0]['c']", "$a[", "$a['it''s']",
		`$a["x\"y"]`, "$🔥", "$a[ 1 ]", "$", "", "$a[99999999999999999999]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		a, err := Parse(expr)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", expr, a.String(), err)
		}
		if !reflect.DeepEqual(a.path, b.path) || a.String() != b.String() {
			t.Fatalf("round trip changed %q: %#v -> %#v", expr, a.path, b.path)
		}
		rec := event.Map{
			{a.Key(), event.Map{{"x", []any{nil, "s", event.Map{}}}}},
			{"other", []any{int64(1)}},
		}
		a.Get(rec)
		if a.Set(&rec, "v") {
			if v, ok := a.Get(rec); !ok || v != "v" {
				t.Fatalf("%q: Set reported success, then Get gave (%v, %v)", expr, v, ok)
			}
		}
		if a.Delete(&rec) && !a.path[len(a.path)-1].isIdx {
			if _, ok := a.Get(rec); ok {
				t.Fatalf("%q: still there after Delete", expr)
			}
		}
	})
}
