package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestInlineRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{
		{{"name", "voltage"}, {"address", "0"}},
		{{"name", "serial no"}, {"unit", ""}, {"q", `say "hi"\`}, {"eq", "a=b"}},
		{{"x", "é\tü"}},
	} {
		s := FormatInline(pairs)
		got, err := ParseInline(s)
		if err != nil || !reflect.DeepEqual(got, pairs) {
			t.Errorf("%v -> %q -> %v, %v", pairs, s, got, err)
		}
	}
	if got, err := ParseInline("  "); err != nil || got != nil {
		t.Errorf("blank: %v, %v", got, err)
	}
	for _, bad := range []string{"name", "=x", `a="x`, `a="x"b=1`, "a b=1", `a="\q"`} {
		if _, err := ParseInline(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDecodeInline(t *testing.T) {
	var pt struct {
		Name    string  `conf:"name"`
		Address uint16  `conf:"address"`
		Scale   float64 `conf:"scale"`
	}
	p := Property{Key: "point", Value: `name="l1 voltage" address=3 scale=0.1`, File: "a.conf", Line: 7}
	if err := DecodeInline(p, &pt); err != nil || pt.Name != "l1 voltage" || pt.Address != 3 || pt.Scale != 0.1 {
		t.Fatalf("%+v, %v", pt, err)
	}
	for _, tc := range []struct{ value, want string }{
		{"adress=3", `a.conf:7: key "point": adress: unknown key (did you mean "address"?)`},
		{"address=70000", `a.conf:7: key "point": address:`},
		{"address", `a.conf:7: key "point": "address": want key=value`},
	} {
		p.Value = tc.value
		err := DecodeInline(p, &pt)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s...", tc.value, err, tc.want)
		}
	}
}

func TestYAMLListOfMapsIsInlineProperties(t *testing.T) {
	yml := "pipeline:\n  inputs:\n    - name: modbus\n      points:\n        - name: voltage\n          address: 0\n        - {name: \"serial no\", type: string}\n"
	cfg, err := ParseYAML("a.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Inputs[0].Props
	if len(ps) != 2 || ps[0].Value != "name=voltage address=0" || ps[1].Value != `name="serial no" type=string` || ps[0].Line != 5 || ps[1].Line != 7 {
		t.Errorf("props %+v", ps)
	}
	classic := "[INPUT]\n    Name modbus\n    Points name=voltage address=0\n    Points name=\"serial no\" type=string\n"
	c2, err := ParseClassic("a.conf", []byte(classic))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range c2.Inputs[0].Props {
		if p.Value != ps[i].Value {
			t.Errorf("classic %q, yaml %q", p.Value, ps[i].Value)
		}
	}
}
