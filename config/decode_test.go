package config

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type level int

func (l *level) UnmarshalConf(s string) error {
	switch strings.ToLower(s) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return errors.New("want low or high")
	}
	return nil
}

type common struct {
	Alias string `conf:"alias"`
}

type target struct {
	common
	Name     string         `conf:"name"`
	On       bool           `conf:"enabled"`
	Count    int            `conf:"count"`
	Small    uint8          `conf:"small"`
	Ratio    float64        `conf:"ratio"`
	Every    time.Duration  `conf:"every"`
	Limit    Size           `conf:"limit"`
	Re       *regexp.Regexp `conf:"re"`
	Level    level          `conf:"level"`
	Keys     []string       `conf:"allowlist_key,whitelist_key"`
	Untagged string
	Skipped  string `conf:"-"`
}

func prop(key, value string) Property {
	return Property{Key: key, Value: value, File: "f.conf", Line: 7}
}

func TestDecode(t *testing.T) {
	tg := target{Keys: []string{"default"}, Untagged: "keep"}
	err := Decode([]Property{
		prop("Alias", "a1"), prop("NAME", "n"), prop("enabled", "On"), prop("count", "-3"),
		prop("small", "255"), prop("ratio", "0.25"), prop("every", "1.5"), prop("limit", "5M"),
		prop("re", "^a+$"), prop("level", "HIGH"), prop("whitelist_key", "x"), prop("allowlist_key", "y"),
		prop("count", "4"),
	}, &tg)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Alias != "a1" || tg.Name != "n" || !tg.On || tg.Count != 4 || tg.Small != 255 || tg.Ratio != 0.25 ||
		tg.Every != 1500*time.Millisecond || tg.Limit != 5_000_000 || !tg.Re.MatchString("aaa") || tg.Level != 2 ||
		strings.Join(tg.Keys, ",") != "x,y" || tg.Untagged != "keep" {
		t.Fatalf("decoded %+v", tg)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"nmae", "x", `f.conf:7: key "nmae": unknown key (did you mean "name"?); known keys: alias, allowlist_key, count, enabled, every, level, limit, name, ratio, re, small, whitelist_key`},
		{"untagged", "x", `f.conf:7: key "untagged": unknown key; known keys:`},
		{"enabled", "maybe", `f.conf:7: key "enabled": bad boolean "maybe"`},
		{"count", "1.5", `f.conf:7: key "count": bad integer "1.5"`},
		{"small", "256", `f.conf:7: key "small": bad number "256": want a whole number from 0 to 255`},
		{"ratio", "NaN", `f.conf:7: key "ratio": bad number "NaN"`},
		{"every", "soon", `f.conf:7: key "every": bad duration "soon"`},
		{"limit", "-1M", `f.conf:7: key "limit": bad size "-1M"`},
		{"re", "(", `f.conf:7: key "re": bad regular expression "("`},
		{"level", "mid", `f.conf:7: key "level": bad value "mid": want low or high`},
	} {
		var tg target
		err := Decode([]Property{prop(tc.key, tc.value)}, &tg)
		var ce *Error
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s=%s: got %v, want prefix %s", tc.key, tc.value, err, tc.want)
		}
	}
}

func TestDecodeBadTargets(t *testing.T) {
	var tg target
	if err := Decode(nil, tg); err == nil {
		t.Error("a struct value, not a pointer, was accepted")
	}
	type bad struct {
		C chan int `conf:"c"`
	}
	if err := Decode(nil, &bad{}); err == nil || !strings.Contains(err.Error(), "cannot fill") {
		t.Errorf("chan field: %v", err)
	}
	type dup struct {
		A string `conf:"a"`
		B string `conf:"A"`
	}
	if err := Decode(nil, &dup{}); err == nil || !strings.Contains(err.Error(), "used by two fields") {
		t.Errorf("duplicate key: %v", err)
	}
	if got := KnownKeys(target{}); strings.Join(got, ",") != "alias,allowlist_key,count,enabled,every,level,limit,name,ratio,re,small,whitelist_key" {
		t.Errorf("KnownKeys = %v", got)
	}
	if KnownKeys(3) != nil {
		t.Error("KnownKeys of an int is not nil")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "512k": 512_000, "512KB": 512_000, "5M": 5_000_000, "5mb": 5_000_000,
		"1G": 1_000_000_000, "1.5M": 1_500_000, "1KiB": 1024, "2Mi": 2 << 20, "1GiB": 1 << 30, " 7 ": 7,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-5", "5 M", "5X", "1.2.3", "99999999999G", "."} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"on": true, "On": true, "TRUE": true, "yes": true, "1": true,
		"off": false, "False": false, "no": false, "0": false, " on ": true} {
		if got, err := ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2", "onn", "y"} {
		if _, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) accepted", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5": 5 * time.Second, "1.5": 1500 * time.Millisecond, "0.001": time.Millisecond, "500ms": 500 * time.Millisecond,
		"10s": 10 * time.Second, "1m30s": 90 * time.Second, "1h": time.Hour, "2d": 48 * time.Hour, "-1": -time.Second,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "1e3", "five", "1.2.3", "99999999999999d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestPlace(t *testing.T) {
	s := &Section{Kind: "input", Name: "dummy", File: "a.conf", Line: 3,
		Props: []Property{{Key: "Dummy", Value: "{", File: "a.conf", Line: 5}}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{KeyErrorf("dummy", "bad JSON"), `a.conf:5: key "Dummy": input "dummy": bad JSON`},
		{KeyErrorf("rate", "must be set"), `a.conf:3: key "rate": input "dummy": must be set`},
		{errors.New("boom"), `a.conf:3: input "dummy": boom`},
		{&Error{File: "b.conf", Line: 9, Err: errors.New("placed")}, `b.conf:9: placed`},
	} {
		if got := Place(s, `input "dummy"`, tc.err); got.Error() != tc.want {
			t.Errorf("got  %v\nwant %s", got, tc.want)
		}
	}
	if Place(s, "x", nil) != nil {
		t.Error("Place of nil is not nil")
	}
}

// A path:"config" key missing from the working directory is read beside the config file.
func TestDecodeConfigRelativePath(t *testing.T) {
	var v struct {
		Script string `conf:"script" path:"config"`
		Other  string `conf:"other"`
	}
	dir := t.TempDir()
	props := []Property{
		{Key: "script", Value: "no-such-script.lua", File: filepath.Join(dir, "a.conf"), Line: 3},
		{Key: "other", Value: "no-such-script.lua", File: filepath.Join(dir, "a.conf"), Line: 4},
	}
	if err := Decode(props, &v); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "no-such-script.lua"); v.Script != want {
		t.Errorf("script = %q, want %q", v.Script, want)
	}
	if v.Other != "no-such-script.lua" {
		t.Errorf("other = %q: only path:\"config\" keys are resolved", v.Other)
	}
	if err := Decode([]Property{{Key: "script", Value: "decode_test.go", File: filepath.Join(dir, "a.conf")}}, &v); err != nil || v.Script != "decode_test.go" {
		t.Errorf("a path that exists from the working directory: %q, %v", v.Script, err)
	}
}
