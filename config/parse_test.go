package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles creates files (relative name -> content) in a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// props renders a section's properties as "key=value" lines, for compact comparisons.
func props(s *Section) []string {
	var out []string
	for _, p := range s.Props {
		out = append(out, p.Key+"="+p.Value)
	}
	return out
}

// summary renders sections as "kind/name" for compact comparisons.
func summary(ss []*Section) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Kind+"/"+s.Name)
	}
	return out
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

func TestParseClassic(t *testing.T) {
	src := "\uFEFF# comment at the top\n" +
		"[SERVICE]\n" +
		"    Flush     1\n" +
		"    # an indented comment\n" +
		"\n" +
		"    Log_Level debug\r\n" +
		"[input]\n" +
		"\tName\tcpu\n" +
		"\tTag\tcpu.local   \n" +
		"[Filter]\n" +
		"  Name   modify\n" +
		"  Match  *\n" +
		"  Add    a 1\n" +
		"  Add    b   2\n" +
		"[OUTPUT]\n" +
		"    Name  stdout\n" +
		"    Match *\n" +
		"[MULTILINE_PARSER]\n" +
		"    name  multi\n" +
		"    rule  \"start_state\"  \"/^\\d+/\"  \"cont\"\n" +
		"[CUSTOM]\n" +
		"    name calyptia\n" +
		"[PLUGINS]\n" +
		"    Path /x/out_gstdout.so\n"
	cfg, err := ParseClassic("main.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "service props", props(&cfg.Service), []string{"flush=1", "log_level=debug"})
	equal(t, "service place", [2]any{cfg.Service.File, cfg.Service.Line}, [2]any{"main.conf", 2})
	equal(t, "inputs", summary(cfg.Inputs), []string{"input/cpu"})
	equal(t, "input props (tabs, trailing space trimmed)", props(cfg.Inputs[0]), []string{"tag=cpu.local"})
	equal(t, "filter props (repeated key kept in order)", props(cfg.Filters[0]), []string{"match=*", "add=a 1", "add=b   2"})
	equal(t, "outputs", summary(cfg.Outputs), []string{"output/stdout"})
	equal(t, "other", summary(cfg.Other), []string{"multiline_parser/multi", "custom/calyptia", "plugins/"})
	equal(t, "multiline rule", props(cfg.Other[0]), []string{`rule="start_state"  "/^\d+/"  "cont"`})
	equal(t, "plugins", props(cfg.Other[2]), []string{"path=/x/out_gstdout.so"})

	add := cfg.Filters[0].Props[2]
	equal(t, "place of the second Add", [2]any{add.File, add.Line}, [2]any{"main.conf", 14})
	equal(t, "place of the filter", cfg.Filters[0].Line, 10)
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

func TestParseYAML(t *testing.T) {
	src := `service:
  flush: 1
  http_server: true
  grace: 1.50
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 0x10
  filters:
    - name: modify
      match: '*'
      add: ["a 1", "b 2"]
    - Name: record_modifier
      Match: "*"
      Record:
        - hostname edge
  outputs:
    - name: stdout
      match: '*'
      format: ""
parsers:
  - name: json
    format: json
multiline_parsers:
  - name: multi
    type: regex
    rules:
      - state: start_state
        regex: '/^\d+/'
        next_state: cont
      - state: cont
        regex: '/^\s+at/'
        next_state: cont
customs:
  - name: calyptia
plugins:
  - /x/out_gstdout.so
`
	cfg, err := ParseYAML("main.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "service props (scalars keep their text)", props(&cfg.Service), []string{"flush=1", "http_server=true", "grace=1.50"})
	equal(t, "service line (its mapping)", cfg.Service.Line, 2)
	equal(t, "inputs", summary(cfg.Inputs), []string{"input/dummy"})
	equal(t, "input props", props(cfg.Inputs[0]), []string{"tag=app", "rate=0x10"})
	equal(t, "filters", summary(cfg.Filters), []string{"filter/modify", "filter/record_modifier"})
	equal(t, "list value gives repeated properties", props(cfg.Filters[0]), []string{"match=*", "add=a 1", "add=b 2"})
	equal(t, "keys are lower-cased", props(cfg.Filters[1]), []string{"match=*", "record=hostname edge"})
	equal(t, "empty string is a value", props(cfg.Outputs[0]), []string{"match=*", "format="})
	equal(t, "parsers", summary(cfg.Parsers), []string{"parser/json"})
	equal(t, "other", summary(cfg.Other), []string{"multiline_parser/multi", "custom/calyptia", "plugins/"})
	ml := cfg.Other[0]
	equal(t, "multiline props", props(ml), []string{"type=regex"})
	equal(t, "multiline rules", summary(ml.Children), []string{"rule/", "rule/"})
	equal(t, "second rule", props(ml.Children[1]), []string{"state=cont", `regex=/^\s+at/`, "next_state=cont"})
	equal(t, "plugins", props(cfg.Other[2]), []string{"path=/x/out_gstdout.so"})

	// Places: a section is at its mapping, a property at its key, list elements too.
	equal(t, "filter line", cfg.Filters[0].Line, 11)
	adds := cfg.Filters[0].Props[1:]
	equal(t, "list elements' line", [2]int{adds[0].Line, adds[1].Line}, [2]int{13, 13})
	equal(t, "file", adds[0].File, "main.yaml")
	equal(t, "rule line", ml.Children[1].Line, 32)
}

func TestParseEmpty(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"empty.conf", ""},
		{"comments.conf", "# nothing\n\n   # here\n"},
		{"empty.yaml", ""},
		{"null.yaml", "~\n"},
		{"comments.yaml", "# nothing\n"},
		{"empty-sections.yaml", "service:\npipeline:\n  inputs:\n"},
	} {
		cfg, err := Parse(tc.name, []byte(tc.src))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if cfg.Service.Kind != "service" || len(cfg.Service.Props) != 0 || len(cfg.Inputs) != 0 {
			t.Errorf("%s: got %+v, want an empty config", tc.name, cfg)
		}
	}
}

// TestYAMLAndClassicAreEquivalent loads the same pipeline written in both formats
// (testdata/equivalent) and expects the same Config apart from files and lines.
func TestYAMLAndClassicAreEquivalent(t *testing.T) {
	classic, err := Load("testdata/equivalent/pipeline.conf")
	if err != nil {
		t.Fatal(err)
	}
	yml, err := Load("testdata/equivalent/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(classic.Inputs) != 2 || len(classic.Outputs) != 1 || len(classic.Other) != 1 || len(classic.Other[0].Children) != 2 {
		t.Fatalf("classic config is not the expected pipeline: %s", dump(classic))
	}
	// Spot checks, so that two equally wrong results cannot pass.
	if p, _ := classic.Inputs[0].Get("tag"); p.Value != "cpu.edge-01" {
		t.Errorf("@SET variable not expanded: tag = %q", p.Value)
	}
	if p, _ := classic.Outputs[0].Get("host"); p.Value != "192.168.1.10" || !strings.HasSuffix(p.File, "outputs.conf") || p.Line != 4 {
		t.Errorf("included output host = %+v", p)
	}
	stripPlaces(classic)
	stripPlaces(yml)
	if !reflect.DeepEqual(classic, yml) {
		t.Errorf("configs differ:\nclassic:\n%s\nyaml:\n%s", dump(classic), dump(yml))
	}
}

func stripPlaces(cfg *Config) {
	var strip func(s *Section)
	strip = func(s *Section) {
		s.File, s.Line = "", 0
		for i := range s.Props {
			s.Props[i].File, s.Props[i].Line = "", 0
		}
		for _, c := range s.Children {
			strip(c)
		}
	}
	strip(&cfg.Service)
	for _, list := range [][]*Section{cfg.Inputs, cfg.Filters, cfg.Outputs, cfg.Parsers, cfg.Other} {
		for _, s := range list {
			strip(s)
		}
	}
}

func dump(cfg *Config) string {
	var b strings.Builder
	var one func(indent string, s *Section)
	one = func(indent string, s *Section) {
		fmt.Fprintf(&b, "%s[%s] %q\n", indent, s.Kind, s.Name)
		for _, p := range s.Props {
			fmt.Fprintf(&b, "%s    %s = %q\n", indent, p.Key, p.Value)
		}
		for _, c := range s.Children {
			one(indent+"  ", c)
		}
	}
	one("", &cfg.Service)
	for _, list := range [][]*Section{cfg.Inputs, cfg.Filters, cfg.Outputs, cfg.Parsers, cfg.Other} {
		for _, s := range list {
			one("", s)
		}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(&b, "warning: %v\n", w)
	}
	return b.String()
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, src string
		want            string // the whole error text
	}{
		// classic
		{"unknown section", "a.conf", "[SERVICE]\n    flush 1\n[INPTU]\n    name cpu\n",
			`a.conf:3: unknown section [INPTU]; expected one of SERVICE, INPUT, FILTER, OUTPUT, PARSER, MULTILINE_PARSER, UPSTREAM, NODE, CUSTOM, PLUGINS`},
		{"key before any section", "a.conf", "\n    flush 1\n",
			`a.conf:2: key line "flush 1" is outside any section`},
		{"text at column one before any section", "a.conf", "flush 1\n",
			`a.conf:1: expected a [SECTION] header, @INCLUDE or @SET, found "flush 1"`},
		{"key not indented", "a.conf", "[INPUT]\n    name cpu\ntag x\n",
			`a.conf:3: key line "tag x" must be indented under its [INPUT] header`},
		{"mixed indentation", "a.conf", "[INPUT]\n    name cpu\n\ttag x\n",
			`a.conf:3: indentation 1 tab differs from the 4 spaces of the section's first key`},
		{"deeper indentation", "a.conf", "[INPUT]\n    name cpu\n      tag x\n",
			`a.conf:3: indentation 6 spaces differs from the 4 spaces of the section's first key`},
		{"key without value", "a.conf", "[INPUT]\n    name cpu\n    tag\n",
			`a.conf:3: key "tag": key has no value`},
		{"missing name", "a.conf", "[SERVICE]\n    flush 1\n\n[OUTPUT]\n    match *\n",
			`a.conf:4: output section has no name key (which plugin it is)`},
		{"missing parser name", "a.conf", "[PARSER]\n    format json\n",
			`a.conf:1: parser section has no name key (which parser it is)`},
		{"second name", "a.conf", "[INPUT]\n    name cpu\n    name mem\n",
			`a.conf:3: key "name": input section has a second name (the first is at line 2)`},
		{"unknown command", "a.conf", "@INCLUD x.conf\n",
			`a.conf:1: unknown command @INCLUD; expected @INCLUDE or @SET`},
		{"set without equals", "a.conf", "@SET foo\n",
			`a.conf:1: @SET wants KEY=VALUE, found "foo"`},
		{"include without file", "a.conf", "@INCLUDE\n",
			`a.conf:1: @INCLUDE needs a file name`},
		{"indented command", "a.conf", "[INPUT]\n    name cpu\n    @INCLUDE x.conf\n",
			`a.conf:3: command "@INCLUDE x.conf" must start at the beginning of the line`},
		{"header without bracket", "a.conf", "[INPUT\n",
			`a.conf:1: section header "[INPUT" has no closing ]`},
		{"text after header", "a.conf", "[INPUT] cpu\n",
			`a.conf:1: unexpected text "cpu" after section header`},
		{"indented header", "a.conf", "[INPUT]\n    name cpu\n    [GROUP]\n",
			`a.conf:3: section header "[GROUP]" must start at the beginning of the line (groups of keys are not supported)`},
		{"node without upstream", "a.conf", "[NODE]\n    name n1\n",
			`a.conf:1: [NODE] must follow an [UPSTREAM] section`},
		{"missing node name", "a.conf", "[UPSTREAM]\n    name u\n[NODE]\n    host h\n",
			`a.conf:3: node section has no name key (which node it is)`},

		// YAML
		{"unknown top-level key", "a.yaml", "service:\n  flush: 1\npipelines:\n  inputs: []\n",
			`a.yaml:3: key "pipelines": unknown section; expected one of env, includes, service, pipeline, parsers, multiline_parsers, customs, upstream_servers, plugins`},
		{"unknown pipeline key", "a.yaml", "pipeline:\n  input:\n    - name: cpu\n",
			`a.yaml:2: key "input": unknown pipeline section; expected inputs, filters, outputs or customs`},
		{"map value", "a.yaml", "pipeline:\n  inputs:\n    - name: cpu\n      tls:\n        verify: off\n",
			`a.yaml:4: key "tls": a map is not allowed as a value here; use a single value or a list of values`},
		{"processors on a filter", "a.yaml", "pipeline:\n  filters:\n    - name: grep\n      processors:\n        logs:\n          - name: modify\n",
			`a.yaml:4: key "processors": processors belong to an input or an output, not a filter`},
		{"processor signal", "a.yaml", "pipeline:\n  inputs:\n    - name: cpu\n      processors:\n        log:\n          - name: modify\n",
			`a.yaml:5: key "processors.log": unknown signal; expected logs, metrics, traces or profiles`},
		{"routes", "a.yaml", "pipeline:\n  inputs:\n    - name: cpu\n      routes:\n        logs: []\n",
			`a.yaml:4: key "routes": conditional routing (routes) is not supported: give the input a tag and each output a match`},
		{"processor without name", "a.yaml", "pipeline:\n  inputs:\n    - name: cpu\n      processors:\n        logs:\n          - regex: a b\n",
			`a.yaml:6: processor section has no name key (which plugin it is)`},
		{"missing yaml name", "a.yaml", "pipeline:\n  outputs:\n    - match: '*'\n      format: json\n",
			`a.yaml:3: output section has no name key (which plugin it is)`},
		{"empty yaml name", "a.yaml", "pipeline:\n  outputs:\n    - name: ''\n",
			`a.yaml:3: key "name": output has an empty name`},
		{"name twice", "a.yaml", "pipeline:\n  outputs:\n    - name: stdout\n      Name: other\n",
			`a.yaml:4: key "Name": output section has a second name (the first is at line 3)`},
		{"list of names", "a.yaml", "pipeline:\n  outputs:\n    - name: [a, b]\n",
			`a.yaml:3: key "name": want a single name, not a list`},
		{"null value", "a.yaml", "pipeline:\n  inputs:\n    - name: cpu\n      tag:\n",
			`a.yaml:4: key "tag": key has no value (write "" for an empty string)`},
		{"map in a list", "a.yaml", "pipeline:\n  filters:\n    - name: modify\n      add:\n        - a 1\n        - {b: 2}\n",
			`a.yaml:6: key "add": a list must hold single values or maps, not both`},
		{"list in a list", "a.yaml", "pipeline:\n  filters:\n    - name: modify\n      add:\n        - [a, 1]\n",
			`a.yaml:5: key "add": each list entry must be a single value, not a list, map or null`},
		{"map in a map in a list", "a.yaml", "pipeline:\n  inputs:\n    - name: modbus\n      points:\n        - name: a\n          scale: {x: 1}\n",
			`a.yaml:6: key "points.scale": want a single value (write "" for an empty string)`},
		{"inputs not a list", "a.yaml", "pipeline:\n  inputs:\n    name: cpu\n",
			`a.yaml:3: key "inputs": want a list of maps, one per input`},
		{"input not a map", "a.yaml", "pipeline:\n  inputs:\n    - cpu\n",
			`a.yaml:3: key "inputs": each entry must be a map of keys (- name: ...)`},
		{"top level not a map", "a.yaml", "- service\n",
			`a.yaml:1: the top level must be a map of sections (env, includes, service, pipeline, parsers, multiline_parsers, customs, upstream_servers, plugins)`},
		{"service not a map", "a.yaml", "service: 1\n",
			`a.yaml:1: key "service": want a map of keys`},
		{"alias", "a.yaml", "service:\n  flush: &f 1\n  grace: *f\n",
			`a.yaml:3: YAML aliases (*f) are not supported`},
		{"second document", "a.yaml", "service:\n  flush: 1\n---\nservice:\n  flush: 2\n",
			`a.yaml:3: a second YAML document (after ---) is not supported`},
		{"syntax", "a.yaml", "service:\n  flush: 1\n grace: 2\n",
			`a.yaml: invalid YAML: yaml: line 2: did not find expected key`},
		{"includes not a list", "a.yaml", "includes: other.yaml\n",
			`a.yaml:1: key "includes": want a list of file names`},
		{"env not a map", "a.yaml", "env: [a]\n",
			`a.yaml:1: key "env": want a map of variables (NAME: value)`},
		{"complex key", "a.yaml", "service:\n  ? [a, b]\n  : 1\n",
			`a.yaml:2: a key must be plain text, not a list or map`},
		{"node without name", "a.yaml", "upstream_servers:\n  - name: u\n    nodes:\n      - host: h\n",
			`a.yaml:4: node section has no name key (which node it is)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(tc.file, []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; got:\n%s", dump(cfg))
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got  %s\n want %s", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestIncludes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.conf": "[SERVICE]\n    flush 1\n@INCLUDE conf.d/*.conf\n    grace 2\n@INCLUDE out.yaml\n",
		// Sorted: a.conf before b.conf whatever the directory order.
		"conf.d/b.conf":    "[INPUT]\n    name mem\n",
		"conf.d/a.conf":    "[INPUT]\n    name cpu\n@INCLUDE ../sub/filters.conf\n",
		"sub/filters.conf": "[FILTER]\n    name grep\n    match *\n",
		"out.yaml":         "includes:\n  - sub/more.yaml\npipeline:\n  outputs:\n    - name: stdout\n      match: '*'\n",
		"sub/more.yaml":    "pipeline:\n  outputs:\n    - name: null\n      match: '*'\n",
	})
	cfg, err := Load(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "inputs in glob order", summary(cfg.Inputs), []string{"input/cpu", "input/mem"})
	equal(t, "filter from a nested include", summary(cfg.Filters), []string{"filter/grep"})
	equal(t, "outputs in include order", summary(cfg.Outputs), []string{"output/null", "output/stdout"})
	// grace comes after the @INCLUDE but still belongs to [SERVICE], as in Fluent Bit.
	equal(t, "service props", props(&cfg.Service), []string{"flush=1", "grace=2"})
	equal(t, "file of an included section", cfg.Filters[0].File, filepath.Join(dir, "sub", "filters.conf"))

	yml := writeFiles(t, map[string]string{
		"main.yaml":          "includes:\n  - inputs/*.yaml\n  - outputs.conf\nservice:\n  flush: 1\n",
		"inputs/1.yaml":      "pipeline:\n  inputs:\n    - name: cpu\nservice:\n  grace: 3\n",
		"inputs/2.yaml":      "pipeline:\n  inputs:\n    - name: mem\n",
		"inputs/not-me.conf": "this is not read",
		"outputs.conf":       "[OUTPUT]\n    name stdout\n    match *\n",
	})
	cfg, err = Load(filepath.Join(yml, "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "yaml inputs", summary(cfg.Inputs), []string{"input/cpu", "input/mem"})
	equal(t, "classic output included from yaml", summary(cfg.Outputs), []string{"output/stdout"})
	equal(t, "service merged in order", props(&cfg.Service), []string{"grace=3", "flush=1"})
	equal(t, "service place is its first appearance", cfg.Service.File, filepath.Join(yml, "inputs", "1.yaml"))
}

func TestIncludeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		main  string
		want  string // error text; {dir} is the temporary directory
	}{
		{"cycle", map[string]string{
			"a.conf": "[INPUT]\n    name cpu\n@INCLUDE b.conf\n",
			"b.conf": "@INCLUDE sub/../a.conf\n",
		}, "a.conf", `{dir}/b.conf:1: include cycle: {dir}/a.conf -> {dir}/b.conf -> {dir}/a.conf`},
		{"self include by glob", map[string]string{
			"a.conf": "@INCLUDE *.conf\n",
		}, "a.conf", `{dir}/a.conf:1: include cycle: {dir}/a.conf -> {dir}/a.conf`},
		{"yaml cycle", map[string]string{
			"a.yaml": "includes:\n  - b.yaml\n",
			"b.yaml": "includes:\n  - ./a.yaml\n",
		}, "a.yaml", `{dir}/b.yaml:2: key "includes": include cycle: {dir}/a.yaml -> {dir}/b.yaml -> {dir}/a.yaml`},
		{"included twice", map[string]string{
			"a.conf":    "@INCLUDE in/*.conf\n@INCLUDE in/x.conf\n",
			"in/x.conf": "[INPUT]\n    name cpu\n",
		}, "a.conf", `{dir}/a.conf:2: {dir}/in/x.conf is already included (from {dir}/a.conf:1)`},
		{"missing file", map[string]string{
			"a.conf": "\n@INCLUDE nope.conf\n",
		}, "a.conf", `{dir}/a.conf:2: include: open {dir}/nope.conf: no such file or directory`},
		{"error inside included file", map[string]string{
			"a.yaml": "includes:\n  - b.conf\n",
			"b.conf": "[INPUT]\n    name cpu\n[BOGUS]\n",
		}, "a.yaml", `{dir}/b.conf:3: unknown section [BOGUS]; expected one of SERVICE, INPUT, FILTER, OUTPUT, PARSER, MULTILINE_PARSER, UPSTREAM, NODE, CUSTOM, PLUGINS`},
		{"directory", map[string]string{
			"a.conf":   "@INCLUDE d\n",
			"d/x.conf": "",
		}, "a.conf", `{dir}/a.conf:1: include: {dir}/d is not a regular file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			_, err := Load(filepath.Join(dir, tc.main))
			want := strings.ReplaceAll(tc.want, "{dir}", dir)
			if err == nil || err.Error() != want {
				t.Errorf("error:\n got  %v\n want %s", err, want)
			}
		})
	}
}

func TestIncludeGlobWithoutMatchWarns(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.conf": "[INPUT]\n    name cpu\n@INCLUDE conf.d/*.conf\n"})
	cfg, err := Load(filepath.Join(dir, "a.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "a.conf") + `:3: include pattern "conf.d/*.conf" matches no file`
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Error() != want {
		t.Errorf("warnings = %v, want [%s]", cfg.Warnings, want)
	}
}

func TestVariables(t *testing.T) {
	t.Setenv("FLB_TEST_FROM_ENV", "from-env")
	t.Setenv("FLB_TEST_SHADOWED", "from-env")
	classic := "# line numbers as in the YAML below\n" +
		"[INPUT]\n" +
		"    name ${PLUGIN}\n" + // @SET later in the file still applies: variables are global
		"    a    ${FLB_TEST_FROM_ENV}\n" +
		"    b    ${FLB_TEST_SHADOWED}\n" +
		"    c    x${UNDEFINED_FLB_VAR}y\n" +
		"    d    ${A}${A}-$A-${unterminated\n" +
		"    e    ${A} and ${ A }\n" +
		"@SET PLUGIN=cpu\n" +
		"@SET FLB_TEST_SHADOWED = from-set \n" +
		"@SET A=1\n"
	yml := "pipeline:\n" +
		"  inputs:\n" +
		"    - name: ${PLUGIN}\n" +
		"      a: ${FLB_TEST_FROM_ENV}\n" +
		"      b: ${FLB_TEST_SHADOWED}\n" +
		"      c: x${UNDEFINED_FLB_VAR}y\n" +
		"      d: ${A}${A}-$A-${unterminated\n" +
		"      e: ${A} and ${ A }\n" +
		"env:\n" +
		"  PLUGIN: cpu\n" +
		"  FLB_TEST_SHADOWED: from-set\n" +
		"  A: 1\n"
	for _, tc := range []struct{ file, src string }{{"v.conf", classic}, {"v.yaml", yml}} {
		cfg, err := Parse(tc.file, []byte(tc.src))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		in := cfg.Inputs[0]
		equal(t, tc.file+" name", in.Name, "cpu")
		equal(t, tc.file+" props", props(in), []string{
			"a=from-env", "b=from-set", "c=xy", "d=11-$A-${unterminated", "e=1 and ",
		})
		var warnings []string
		for _, w := range cfg.Warnings {
			warnings = append(warnings, w.Error())
		}
		equal(t, tc.file+" warnings", warnings, []string{
			tc.file + `:6: key "c": variable ${UNDEFINED_FLB_VAR} is not defined (by @SET, env or the environment): it expands to ""`,
			tc.file + `:8: key "e": variable ${ A } is not defined (by @SET, env or the environment): it expands to ""`,
		})
	}
}

func TestVariableInNameCanLeaveItEmpty(t *testing.T) {
	_, err := ParseClassic("n.conf", []byte("[OUTPUT]\n    name ${FLB_TEST_NOT_SET_ANYWHERE}\n    match *\n"))
	want := `n.conf:2: key "name": output has an empty name`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestParseChoosesFormatByExtension(t *testing.T) {
	yaml := "pipeline:\n  inputs:\n    - name: cpu\n"
	classic := "[INPUT]\n    name cpu\n"
	for _, tc := range []struct {
		name, src string
		ok        bool
	}{
		{"x.yaml", yaml, true}, {"x.YML", yaml, true}, {"dir.d/x.yml", yaml, true},
		{"x.conf", classic, true}, {"x", classic, true}, {"x.yaml.bak", classic, true},
		{"x.conf", yaml, false}, {"x.yaml", classic, false},
	} {
		cfg, err := Parse(tc.name, []byte(tc.src))
		if ok := err == nil && len(cfg.Inputs) == 1 && cfg.Inputs[0].Name == "cpu"; ok != tc.ok {
			t.Errorf("Parse(%q): parsed=%v (err %v), want %v", tc.name, ok, err, tc.ok)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.conf"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestSectionGetSet(t *testing.T) {
	cfg, err := ParseClassic("s.conf", []byte("[OUTPUT]\n    name x\n    Match a\n    match b\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Outputs[0]
	if p, ok := s.Get("MATCH"); !ok || p.Value != "b" || p.Line != 4 {
		t.Errorf("Get(MATCH) = %+v, %v; want the last one, b at line 4", p, ok)
	}
	s.Set("Tag", "t")
	if p, ok := s.Get("tag"); !ok || p.Value != "t" {
		t.Errorf("after Set, Get(tag) = %+v, %v", p, ok)
	}
}
