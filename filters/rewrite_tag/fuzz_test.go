package rewritetag

import (
	"github.com/fluentbit-go/fluentbit-go/event"
	"testing"
)

// Rules come from configuration files: parsing and rendering them must never panic.
func FuzzRule(f *testing.F) {
	for _, s := range []string{
		`$name ^([a-z]+)-([0-9]+)$ newtag.$TAG.$TAG[1].$1.$ss['s1']['s2'].out false`,
		`$a . ${TAG}.$TAG[99].$9.$b[0]['x''y'] true`, `$a . $TAG[ false`, `$a . $k["q\"]"] true`,
	} {
		f.Add(s, "abc-123", "aa.bb.cc")
	}
	f.Fuzz(func(t *testing.T, rule, value, tag string) {
		r, err := parseRule(rule)
		if err != nil {
			return
		}
		rec := map[string]any{r.key.Key(): value, "ss": map[string]any{"s1": map[string]any{"s2": "flb"}}, "b": []any{map[string]any{"x'y": 1}}}
		v, ok := r.key.Get(event.FromMap(rec))
		s, isStr := v.(string)
		if !ok || !isStr {
			return
		}
		if m, _ := r.re.FindStringSubmatchIndex(s); m != nil {
			r.render(nil, tag, s, m, event.FromMap(rec))
		}
	})
}
