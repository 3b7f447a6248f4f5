package pipeline

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
)

type buildIn struct {
	Greeting string `conf:"greeting"`
	Count    int    `conf:"count"`
}

func (*buildIn) Run(ctx context.Context, _ Emitter) error { <-ctx.Done(); return nil }

type buildOut struct {
	props []config.Property
}

func (o *buildOut) SetProperties(p []config.Property) error { o.props = p; return nil }
func (*buildOut) Flush(context.Context, *Chunk) error       { return nil }

// buildKeyedOut decodes its keys with config.Decode, as most plugins do.
type buildKeyedOut struct {
	Format string `conf:"format"`
}

func (*buildKeyedOut) Flush(context.Context, *Chunk) error { return nil }

type buildFilter struct{}

func (buildFilter) Filter(string, *event.Event) (Verdict, error) { return Keep, nil }

func init() {
	RegisterInput("buildtest_in", func() Input { return &buildIn{} })
	RegisterOutput("buildtest_out", func() Output { return &buildOut{} })
	RegisterOutput("buildtest_keyed", func() Output { return &buildKeyedOut{} })
	RegisterFilter("buildtest_filter", func() Filter { return buildFilter{} })
	RegisterFilter("buildtest_reemit", func() Filter { return &retagger{} })
}

func TestAddConfigured(t *testing.T) {
	cfg, err := config.ParseClassic("t.conf", []byte(`
[INPUT]
    Name          buildtest_in
    Tag           sensors.a
    Alias         front
    Mem_Buf_Limit 1M
    Greeting      hello
    Count         3
[FILTER]
    Name        buildtest_filter
    Match_Regex ^sensors\.
[OUTPUT]
    Name        buildtest_out
    Match       sensors.*
    Retry_Limit no_limits
    Workers     3
    Custom      x
[OUTPUT]
    Name        BUILDTEST_OUT
    Match       *
    Retry_Limit 4
`))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(Options{})
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	in := e.inputs[0]
	if in.name != "front" || in.tag != "sensors.a" || in.limit != 1_000_000 {
		t.Errorf("input: name %q tag %q limit %d", in.name, in.tag, in.limit)
	}
	if p := in.in.(*buildIn); p.Greeting != "hello" || p.Count != 3 {
		t.Errorf("input keys not decoded: %+v", p)
	}
	if len(e.filters) != 1 || !e.filters[0].match.match("sensors.b") || e.filters[0].match.match("x.sensors") {
		t.Errorf("filter match_regex not applied")
	}
	o0, o1 := e.outputs[0], e.outputs[1]
	if o0.retryLimit != RetryForever || o0.workers != 3 || o1.retryLimit != 4 || o1.workers != 1 {
		t.Errorf("outputs: retry %d workers %d; retry %d workers %d", o0.retryLimit, o0.workers, o1.retryLimit, o1.workers)
	}
	// Common keys stay with the engine; the plugin sees only its own, with their places.
	props := o0.out.(*buildOut).props
	if len(props) != 1 || props[0].Key != "custom" || props[0].Line != 17 {
		t.Errorf("plugin properties: %+v", props)
	}
}

func TestAddConfiguredErrors(t *testing.T) {
	for _, tc := range []struct{ name, conf, want string }{
		{"unknown input", "[INPUT]\n    name nope\n", `t.conf:1: unknown input plugin "nope" (available:`},
		{"unknown key", "[INPUT]\n    name buildtest_in\n    greetng hi\n", `t.conf:3: key "greetng": unknown key (did you mean "greeting"?)`},
		{"bad value", "[INPUT]\n    name buildtest_in\n    count many\n", `t.conf:3: key "count": bad integer "many"`},
		{"bad mem_buf_limit", "[INPUT]\n    name buildtest_in\n    mem_buf_limit lots\n", `t.conf:3: key "mem_buf_limit": bad size "lots"`},
		{"filesystem storage without path", "[INPUT]\n    name buildtest_in\n    storage.type filesystem\n", `t.conf:3: key "storage.type": storage.type filesystem needs storage.path`},
		{"unknown storage type", "[INPUT]\n    name buildtest_in\n    storage.type memrb\n", `t.conf:3: key "storage.type": bad storage.type "memrb"`},
		{"output without match", "[OUTPUT]\n    name buildtest_out\n", `t.conf:1: output "buildtest_out" has no match or match_regex`},
		{"bad match_regex", "[FILTER]\n    name buildtest_filter\n    match_regex (\n", `t.conf:3: key "match_regex": bad regex`},
		{"bad retry_limit", "[OUTPUT]\n    name buildtest_out\n    match *\n    retry_limit sometimes\n", `t.conf:4: key "retry_limit": bad retry_limit "sometimes"`},
		{"bad workers", "[OUTPUT]\n    name buildtest_out\n    match *\n    workers 0\n", `t.conf:4: key "workers": bad workers "0"`},
	} {
		cfg, err := config.ParseClassic("t.conf", []byte(tc.conf))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err = NewEngine(Options{}).AddConfigured(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n got  %v\n want %s...", tc.name, err, tc.want)
		}
	}
}

func TestParseRetryLimit(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "5": 5, "no_limits": RetryForever, "False": RetryForever, "no_retries": 0} {
		if got, err := ParseRetryLimit(in); err != nil || got != want {
			t.Errorf("ParseRetryLimit(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "true", "x"} {
		if _, err := ParseRetryLimit(in); err == nil {
			t.Errorf("ParseRetryLimit(%q) accepted", in)
		}
	}
}

// TestTyposOfCommonKeysAreSuggested: the keys the engine takes for every plugin (match,
// alias, retry_limit, tag, ...) are known keys: a typo of one gets a suggestion, and the
// list of known keys does not leave them out as if they were invalid.
func TestTyposOfCommonKeysAreSuggested(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
		listed           []string
	}{
		{"output mach", "[OUTPUT]\n    name buildtest_keyed\n    mach *\n", `t.conf:3: key "mach": unknown key (did you mean "match"?)`,
			[]string{"alias", "format", "match", "match_regex", "retry_limit", "storage.total_limit_size", "workers"}},
		{"input tga", "[INPUT]\n    name buildtest_in\n    tga x\n", `t.conf:3: key "tga": unknown key (did you mean "tag"?)`,
			[]string{"alias", "count", "greeting", "mem_buf_limit", "storage.type", "tag"}},
		{"filter alais", "[FILTER]\n    name buildtest_filter\n    match *\n    alais f\n", `t.conf:4: key "alais": unknown key (did you mean "alias"?)`,
			[]string{"alias", "match", "match_regex"}},
	} {
		cfg, err := config.ParseClassic("t.conf", []byte(tc.conf))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err = NewEngine(Options{}).AddConfigured(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n got  %v\n want %s...", tc.name, err, tc.want)
			continue
		}
		_, list, _ := strings.Cut(err.Error(), "known keys: ")
		for _, k := range tc.listed {
			if !slices.Contains(strings.Split(list, ", "), k) {
				t.Errorf("%s: known keys %q lack %q", tc.name, list, k)
			}
		}
	}
}

// TestConfiguredInputsAreNumberedFirst: a filter with an emitter input (rewrite_tag) must
// not renumber the configured inputs: they are buildtest_in.0 and .1 as in Fluent Bit,
// and the emitter comes after them. Metric names and names derived from them (the mqtt
// input's client_id) stay the same when such a filter is added.
func TestConfiguredInputsAreNumberedFirst(t *testing.T) {
	cfg, err := config.ParseClassic("t.conf", []byte(`
[INPUT]
    name buildtest_in
[INPUT]
    name buildtest_in
[FILTER]
    name  buildtest_reemit
    match *
[OUTPUT]
    name  buildtest_out
    match *
`))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(Options{})
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range e.Metrics().Inputs {
		names = append(names, in.Name)
	}
	want := []string{"buildtest_in.0", "buildtest_in.1", "emitter_for_buildtest_reemit.0"}
	if !slices.Equal(names, want) {
		t.Errorf("inputs %q, want %q", names, want)
	}
}

// match_regex takes Fluent Bit's Onigmo syntax: a negative lookahead, which RE2 refuses.
func TestMatchRegexOnigmoSyntax(t *testing.T) {
	cfg, err := config.Parse("t.conf", []byte(`[FILTER]
    Name        buildtest_filter
    Match_Regex ^app\.(?!debug)
`))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(Options{})
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	m := e.filters[0].match
	for tag, want := range map[string]bool{"app.web": true, "app.debug": false, "app.debugger": false, "x.app.web": false} {
		if got := m.match(tag); got != want {
			t.Errorf("match(%q) = %v, want %v", tag, got, want)
		}
	}
}
