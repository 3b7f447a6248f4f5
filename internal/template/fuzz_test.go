package template

import (
	"github.com/fluentbit-go/fluentbit-go/event"
	"strings"
	"testing"
)

// FuzzParse parses templates under every syntax and renders them: never a panic, a
// template without '$' renders as itself, and literal text survives rendering.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"from.$TAG.new.$tool.$sub['s1']['s2'].out", "$TAG[0].$TAG[99].$9.$b[0]['x''y']",
		"$TAG[", "$k[\"q\\\"]\"]", "$TOPIC[1]", "$", "a/$TAG[1]/$k", "$TAGS$TAG", "${TAG}", "$ключ",
	} {
		f.Add(s, "aa.bb.cc")
	}
	syntaxes := []Syntax{{Groups: true, Keys: true}, {Keys: true}, {TagName: "TOPIC", Sep: '/'}}
	rec := map[string]any{"tool": "x", "k": 1, "b": []any{map[string]any{"x'y": true}}, "sub": map[string]any{"s1": map[string]any{"s2": "flb"}}}
	f.Fuzz(func(t *testing.T, tmpl, tag string) {
		for _, syn := range syntaxes {
			tp, err := Parse(tmpl, syn)
			if err != nil {
				continue
			}
			out, _ := tp.Append(nil, &Vars{Tag: tag, Record: event.FromMap(rec), Subject: tag, Match: []int{0, len(tag)}})
			if !strings.Contains(tmpl, "$") && string(out) != tmpl {
				t.Fatalf("%q rendered as %q", tmpl, out)
			}
			for _, p := range tp.Parts() {
				if p.Kind == Literal && !strings.Contains(string(out), p.Lit) {
					t.Fatalf("%q: literal %q missing from %q", tmpl, p.Lit, out)
				}
			}
		}
	})
}
