package grep

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func newGrep(t testing.TB, g Grep) *Grep {
	t.Helper()
	if err := g.Init(context.Background(), pipeline.Env{Name: "grep.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return &g
}

func kept(t testing.TB, g *Grep, rec map[string]any) bool {
	t.Helper()
	ev := event.Event{Time: time.Unix(1, 0), Record: event.FromMap(rec)}
	v, err := g.Filter("app", &ev)
	if err != nil {
		t.Fatal(err)
	}
	return v == pipeline.Keep
}

// The lines.txt example of Fluent Bit's grep documentation: only records whose log field
// contains "aa" pass.
func TestGrepDocLinesExample(t *testing.T) {
	g := newGrep(t, Grep{Regex: []string{"log aa"}})
	for _, tc := range []struct {
		log  string
		keep bool
	}{{"aaa", true}, {"aab", true}, {"bbb", false}, {"ccc", false}, {"ddd", false}, {"ggg", false}} {
		if got := kept(t, g, map[string]any{"log": tc.log}); got != tc.keep {
			t.Errorf("log=%s: kept=%v, want %v", tc.log, got, tc.keep)
		}
	}
}

func TestGrepDropsNonMatching(t *testing.T) {
	g := newGrep(t, Grep{Regex: []string{"level ^(warn|error)$"}})
	for _, tc := range []struct {
		level string
		keep  bool
	}{{"info", false}, {"warn", true}, {"error", true}} {
		if got := kept(t, g, map[string]any{"level": tc.level}); got != tc.keep {
			t.Errorf("level=%s: kept=%v, want %v", tc.level, got, tc.keep)
		}
	}
}

// The nested-fields example: exclude by a record accessor.
func TestGrepDocNestedExclude(t *testing.T) {
	g := newGrep(t, Grep{Exclude: []string{"$kubernetes['labels']['app'] myapp"}})
	rec := func(app string) map[string]any {
		return map[string]any{
			"log": "something",
			"kubernetes": map[string]any{
				"pod_name": "myapp-0", "namespace_name": "default",
				"labels": map[string]any{"app": app},
			},
		}
	}
	if kept(t, g, rec("myapp")) {
		t.Error("record with labels.app=myapp was kept")
	}
	if !kept(t, g, rec("other")) {
		t.Error("record with labels.app=other was dropped")
	}
	if !kept(t, g, map[string]any{"log": "no kubernetes"}) {
		t.Error("record without the nested key was dropped by an exclude rule")
	}
}

// "Excluding records with missing or invalid fields": a regex rule drops records whose key
// is missing, empty or malformed.
func TestGrepDocMissingOrInvalid(t *testing.T) {
	g := newGrep(t, Grep{Regex: []string{`iot_timestamp ^\d{4}-\d{2}-\d{2}`}})
	for _, tc := range []struct {
		name string
		rec  map[string]any
		keep bool
	}{
		{"valid", map[string]any{"iot_timestamp": "2024-05-01T10:00:00Z"}, true},
		{"missing", map[string]any{"other": "2024-05-01"}, false},
		{"empty", map[string]any{"iot_timestamp": ""}, false},
		{"invalid", map[string]any{"iot_timestamp": "yesterday"}, false},
		{"number", map[string]any{"iot_timestamp": int64(20240501)}, false},
	} {
		if got := kept(t, g, tc.rec); got != tc.keep {
			t.Errorf("%s: kept=%v, want %v", tc.name, got, tc.keep)
		}
	}
}

// The "Multiple conditions" example: logical_op or with two regex rules.
func TestGrepDocLogicalOpOr(t *testing.T) {
	g := newGrep(t, Grep{LogicalOp: "or", Regex: []string{"value something", "value error"}})
	for _, tc := range []struct {
		value string
		keep  bool
	}{{"something", true}, {"an error", true}, {"fine", false}} {
		if got := kept(t, g, map[string]any{"endpoint": "localhost", "value": tc.value}); got != tc.keep {
			t.Errorf("value=%s: kept=%v, want %v", tc.value, got, tc.keep)
		}
	}
}

func TestGrepLogicalOps(t *testing.T) {
	rec := func(a, b string) map[string]any { return map[string]any{"a": a, "b": b} }
	for _, tc := range []struct {
		name string
		g    Grep
		rec  map[string]any
		keep bool
	}{
		// legacy: every regex must match, no exclude may match, whatever the order.
		{"legacy both regex match", Grep{Regex: []string{"a ^x$", "b ^y$"}}, rec("x", "y"), true},
		{"legacy first regex only", Grep{Regex: []string{"a ^x$", "b ^y$"}}, rec("x", "n"), false},
		{"legacy second regex only", Grep{Regex: []string{"a ^x$", "b ^y$"}}, rec("n", "y"), false},
		{"legacy exclude hits", Grep{Exclude: []string{"a ^x$", "b ^y$"}}, rec("n", "y"), false},
		{"legacy no exclude hits", Grep{Exclude: []string{"a ^x$", "b ^y$"}}, rec("n", "n"), true},
		{"legacy regex and exclude", Grep{Regex: []string{"a ^x$"}, Exclude: []string{"b ^y$"}}, rec("x", "n"), true},
		{"legacy regex and exclude hit", Grep{Regex: []string{"a ^x$"}, Exclude: []string{"b ^y$"}}, rec("x", "y"), false},
		{"LEGACY spelled upper", Grep{LogicalOp: "LEGACY", Regex: []string{"a ^x$"}}, rec("x", ""), true},
		// and
		{"and regex all", Grep{LogicalOp: "AND", Regex: []string{"a ^x$", "b ^y$"}}, rec("x", "y"), true},
		{"and regex one", Grep{LogicalOp: "and", Regex: []string{"a ^x$", "b ^y$"}}, rec("x", "n"), false},
		{"and exclude all", Grep{LogicalOp: "and", Exclude: []string{"a ^x$", "b ^y$"}}, rec("x", "y"), false},
		{"and exclude one", Grep{LogicalOp: "and", Exclude: []string{"a ^x$", "b ^y$"}}, rec("x", "n"), true},
		// or
		{"or regex none", Grep{LogicalOp: "or", Regex: []string{"a ^x$", "b ^y$"}}, rec("n", "n"), false},
		{"or regex one", Grep{LogicalOp: "Or", Regex: []string{"a ^x$", "b ^y$"}}, rec("n", "y"), true},
		{"or exclude one", Grep{LogicalOp: "or", Exclude: []string{"a ^x$", "b ^y$"}}, rec("n", "y"), false},
		{"or exclude none", Grep{LogicalOp: "or", Exclude: []string{"a ^x$", "b ^y$"}}, rec("n", "n"), true},
		// no rules at all
		{"no rules legacy", Grep{}, rec("x", "y"), true},
		{"no rules and", Grep{LogicalOp: "and"}, rec("x", "y"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kept(t, newGrep(t, tc.g), tc.rec); got != tc.keep {
				t.Errorf("kept=%v, want %v", got, tc.keep)
			}
		})
	}
}

// Fluent Bit matches strings only; every other type is "no match".
func TestGrepNonStringValues(t *testing.T) {
	regex := newGrep(t, Grep{Regex: []string{"v ."}})
	exclude := newGrep(t, Grep{Exclude: []string{"v ."}})
	for _, v := range []any{nil, true, int64(42), uint64(1 << 63), 3.5, []byte("bytes"),
		[]any{"a"}, map[string]any{"a": "b"}, time.Unix(5, 0)} {
		rec := map[string]any{"v": v}
		if kept(t, regex, rec) {
			t.Errorf("regex on %T value: kept, want dropped", v)
		}
		if !kept(t, exclude, rec) {
			t.Errorf("exclude on %T value: dropped, want kept", v)
		}
	}
}

func TestGrepKeysAndPatterns(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule string
		rec  map[string]any
		keep bool
	}{
		{"unicode key", "🔥 ^hot$", map[string]any{"🔥": "hot"}, true},
		{"unicode accessor", "$🔥 ^hot$", map[string]any{"🔥": "hot"}, true},
		{"unicode value", "msg ^héllo", map[string]any{"msg": "héllo wörld"}, true},
		{"dotted key", "Mem.total ^1", map[string]any{"Mem.total": "1016024"}, true},
		{"array element", "$items[1] ^b$", map[string]any{"items": []any{"a", "b"}}, true},
		{"array out of range", "$items[5] .", map[string]any{"items": []any{"a"}}, false},
		{"regex with spaces", "msg ^hello world$", map[string]any{"msg": "hello world"}, true},
		{"spaces before regex", "msg    ^hello$", map[string]any{"msg": "hello"}, true},
		{"slashes dropped", "app /^apple-ftest-1$/", map[string]any{"app": "apple-ftest-1"}, true},
		{"anchors are per line", "log ^ERROR", map[string]any{"log": "ok\nERROR boom"}, true},
		{"null value", "$labels['unset'] .", map[string]any{"labels": map[string]any{"unset": nil}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGrep(t, Grep{Regex: []string{tc.rule}})
			if got := kept(t, g, tc.rec); got != tc.keep {
				t.Errorf("kept=%v, want %v", got, tc.keep)
			}
		})
	}
}

func TestGrepBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Grep
		want string // part of the error
	}{
		{"no regex", Grep{Regex: []string{"log"}}, `key "regex": "log"`},
		{"only spaces after key", Grep{Regex: []string{"log   "}}, "no regex"},
		{"empty", Grep{Exclude: []string{""}}, `key "exclude": ""`},
		{"bad regex", Grep{Regex: []string{"log ([a-z"}}, `key "regex": "log ([a-z"`},
		{"onigmo subexpression call", Grep{Regex: []string{`log (?<a>x)\g<a>`}}, `subexpression call`},
		{"bad accessor", Grep{Exclude: []string{"$a['b x"}}, `key "exclude": "$a['b x"`},
		{"bad logical_op", Grep{LogicalOp: "xor", Regex: []string{"a b"}}, `key "logical_op": "xor"`},
		{"and mixes kinds", Grep{LogicalOp: "and", Regex: []string{"a b"}, Exclude: []string{"c d"}}, "cannot be mixed"},
		{"or mixes kinds", Grep{LogicalOp: "or", Regex: []string{"a b"}, Exclude: []string{"c d"}}, "cannot be mixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Init(context.Background(), pipeline.Env{})
			if err == nil {
				t.Fatal("Init succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestConfigureRefusesMixedRulesWithLogicalOp(t *testing.T) {
	err := pipelinetest.Configure("filter", "grep", "Regex", "a b", "Exclude", "c d", "Logical_Op", "AND")
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "Logical_Op" || ce.Line != 3 || !strings.Contains(err.Error(), "cannot be mixed") {
		t.Errorf("Configure error %v, want one about Logical_Op at line 3", err)
	}
}

func TestGrepFilterDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	g := newGrep(t, Grep{Regex: []string{"log ^aa", "$k['app'] ^my"}, Exclude: []string{"level debug"}})
	ev := event.Event{Record: event.Map{{"log", "aaa"}, {"k", event.Map{{"app", "myapp"}}}, {"level", "info"}}}
	if n := testing.AllocsPerRun(100, func() { g.Filter("t", &ev) }); n != 0 {
		t.Errorf("Filter allocates %v times per record, want 0", n)
	}
}

func BenchmarkGrep(b *testing.B) {
	rec := map[string]any{
		"log":    "2024-05-01 12:00:00 INFO request served in 12ms path=/api/v1/items",
		"stream": "stdout",
		"kubernetes": map[string]any{
			"pod_name": "myapp-0", "namespace_name": "default",
			"labels": map[string]any{"app": "myapp"},
		},
	}
	for _, bc := range []struct {
		name string
		g    Grep
	}{
		{"regex", Grep{Regex: []string{"log INFO"}}},
		{"exclude_nested", Grep{Exclude: []string{"$kubernetes['labels']['app'] ^other$"}}},
		{"legacy_3_rules", Grep{Regex: []string{"log INFO", "stream ^stdout$"}, Exclude: []string{"log DEBUG"}}},
		{"or_3_rules", Grep{LogicalOp: "or", Regex: []string{"log ERROR", "log WARN", "log INFO"}}},
	} {
		g := newGrep(b, bc.g)
		ev := event.Event{Record: event.FromMap(rec)}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Filter("t", &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// One filter instance serves every input that emits its tag, from their goroutines.
func TestGrepConcurrentUse(t *testing.T) {
	g := newGrep(t, Grep{Regex: []string{"$k['v'] ^keep"}})
	pipelinetest.Concurrently(t, 8, 500, func(int, int) error {
		ev := event.Event{Record: event.Map{{"k", event.Map{{"v", "keep-me"}}}}}
		if v, _ := g.Filter("t", &ev); v != pipeline.Keep {
			return errors.New("a matching record was dropped")
		}
		return nil
	})
}

// Onigmo constructs Fluent Bit users write (look-ahead, \h, possessive) work as there.
func TestGrepOnigmoSyntax(t *testing.T) {
	g := newGrep(t, Grep{Regex: []string{`log ^\h+(?=\.log)`}, Exclude: []string{`level ^(?>deb)ug`}})
	for _, tc := range []struct {
		rec  map[string]any
		keep bool
	}{
		{map[string]any{"log": "beef.log", "level": "info"}, true},
		{map[string]any{"log": "beef.txt", "level": "info"}, false},
		{map[string]any{"log": "beef.log", "level": "debug"}, false},
	} {
		if got := kept(t, g, tc.rec); got != tc.keep {
			t.Errorf("%v: kept=%v, want %v", tc.rec, got, tc.keep)
		}
	}
}

// A regex whose match runs out of time neither hangs the filter nor drops the record:
// Filter reports an error (the engine logs it and passes the record on).
func TestGrepRegexTimeoutKeepsRecord(t *testing.T) {
	g := newGrep(t, Grep{Regex: []string{`log ^(a+)+(?=b)$`}})
	ev := event.Event{Time: time.Unix(1, 0), Record: event.FromMap(map[string]any{"log": strings.Repeat("a", 64) + "c"})}
	start := time.Now()
	v, err := g.Filter("app", &ev)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if v != pipeline.Keep {
		t.Errorf("verdict %v, want Keep", v)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the match took %v", d)
	}
}
