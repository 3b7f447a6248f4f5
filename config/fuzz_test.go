package config

import (
	"errors"
	"testing"
)

// The parsers must never panic, and whatever they reject must be an *Error naming the
// file. Includes are resolved against a file system holding nothing, so the fuzzer
// cannot read the machine's files.

type emptyFS struct{}

func (emptyFS) ReadFile(path string) ([]byte, error) { return nil, errors.New("no files here") }
func (emptyFS) Glob(string) ([]string, error)        { return nil, nil }
func (emptyFS) Canonical(path string) string         { return path }

func fuzzParse(t *testing.T, name string, data []byte, yaml bool) {
	cfg, err := newParser(emptyFS{}).run(name, data, yaml)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) || ce.File == "" {
			t.Fatalf("error without a file: %T %v", err, err)
		}
		return
	}
	for _, s := range append(append(append([]*Section{}, cfg.Inputs...), cfg.Filters...), cfg.Outputs...) {
		if s.Line <= 0 || s.File == "" {
			t.Fatalf("section %s/%s without a place", s.Kind, s.Name)
		}
	}
}

func FuzzParseClassic(f *testing.F) {
	for _, s := range []string{
		"[SERVICE]\n    flush 1\n[INPUT]\n    name cpu\n    tag x\n[OUTPUT]\n    name stdout\n    match *\n",
		"@SET a=b\n[INPUT]\n    name ${a}\n",
		"@INCLUDE x.conf\n",
		"[UPSTREAM]\n    name u\n[NODE]\n    name n\n    host h\n",
		"[INPUT]\nname cpu\n",
		"[INPUT\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, "f.conf", data, false) })
}

func FuzzParseYAML(f *testing.F) {
	for _, s := range []string{
		"service:\n  flush: 1\npipeline:\n  inputs:\n    - name: cpu\n  outputs:\n    - name: stdout\n      match: '*'\n",
		"env:\n  A: b\npipeline:\n  inputs:\n    - name: ${A}\n",
		"includes:\n  - x.yaml\n",
		"a: &x 1\nb: *x\n",
		"upstream_servers:\n  - name: u\n    nodes:\n      - name: n\n        host: h\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, "f.yaml", data, true) })
}
