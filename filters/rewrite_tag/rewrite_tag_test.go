package rewritetag

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func newRewrite(t testing.TB, rec pipeline.Emitter, rules ...string) *RewriteTag {
	t.Helper()
	r := New()
	r.Rule = rules
	if err := r.Init(context.Background(), pipeline.Env{Name: "rewrite_tag.0", Emitter: rec}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRewriteTagRules(t *testing.T) {
	docRecord := func() map[string]any {
		return map[string]any{"name": "abc-123", "ss": map[string]any{"s1": map[string]any{"s2": "flb"}}, "n": int64(7), "list": []any{"zero"}}
	}
	for _, tc := range []struct {
		name    string
		rules   []string
		tag     string
		rec     map[string]any
		verdict pipeline.Verdict
		newTag  string // "" = nothing emitted
	}{
		// The documentation's tag composition example (${HOSTNAME} is expanded by the
		// configuration loader, so it is written here as its value).
		{"doc: composed tag", []string{`$name ^([a-z]+)-([0-9]+)$ newtag.$TAG.$TAG[1].$1.$ss['s1']['s2'].out.fluent false`},
			"aa.bb.cc", docRecord(), pipeline.Drop, "newtag.aa.bb.cc.bb.abc.flb.out.fluent"},
		{"doc: dummy example", []string{`$tool ^(fluent)$  from.$TAG.new.$tool.$sub['s1']['s2'].out false`},
			"test_tag", map[string]any{"tool": "fluent", "sub": map[string]any{"s1": map[string]any{"s2": "bit"}}}, pipeline.Drop, "from.test_tag.new.fluent.bit.out"},
		{"keep true keeps the original", []string{`$name abc kept.$0 true`}, "t", docRecord(), pipeline.Keep, "kept.abc"},
		{"no match", []string{`$name ^zzz$ x false`}, "t", docRecord(), pipeline.Keep, ""},
		{"missing key", []string{`$nope . x false`}, "t", docRecord(), pipeline.Keep, ""},
		{"non-string value", []string{`$n . x false`, `$ss . y false`}, "t", docRecord(), pipeline.Keep, ""},
		{"first matching rule wins", []string{`$name ^zzz$ first false`, `$name abc second false`, `$name . third false`},
			"t", docRecord(), pipeline.Drop, "second"},
		{"numbers, arrays, missing keys and groups in the template", []string{`$name (abc)-(1) n$n.$list[0].$missing.$9.${TAG}.$TAG[5] false`},
			"a.b", docRecord(), pipeline.Drop, "n7.zero...a.b."},
		// Fluent Bit's rule for the end of a placeholder: $TAG is matched first, and a key
		// ends at any character but letters, digits and '_'.
		{"$TAG-x is the tag then -x, $TAGS the tag then S", []string{`$name abc $TAG-x.$TAGS false`}, "a.b", docRecord(), pipeline.Drop, "a.b-x.a.bS"},
		{"'-' ends a key", []string{`$name abc $n-$list[0]-$ss['s1'] false`}, "t", docRecord(), pipeline.Drop, `7-zero-{"s2":"flb"}`},
		{"unicode", []string{`$ключ ^(.+)$ u.$1 false`}, "t", map[string]any{"ключ": "🔥"}, pipeline.Drop, "u.🔥"},
		{"nested accessor key", []string{`$ss['s1']['s2'] ^flb$ nested false`}, "t", docRecord(), pipeline.Drop, "nested"},
		{"nil record", []string{`$a . x false`}, "t", nil, pipeline.Keep, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := pipelinetest.NewRecorder()
			r := newRewrite(t, rec, tc.rules...)
			ev := event.Event{Time: time.Unix(10, 5), Record: event.FromMap(tc.rec)}
			v, err := r.Filter(tc.tag, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if v != tc.verdict {
				t.Errorf("verdict %v, want %v", v, tc.verdict)
			}
			got := rec.Records()
			if tc.newTag == "" {
				if len(got) != 0 {
					t.Fatalf("emitted %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 || got[0].Tag != tc.newTag {
				t.Fatalf("emitted %+v, want one record under %q", got, tc.newTag)
			}
			if !got[0].Event.Time.Equal(time.Unix(10, 5)) {
				t.Errorf("re-emitted time %v, want the record's own", got[0].Event.Time)
			}
		})
	}
}

// With keep true, the re-emitted copy and the original do not share maps.
func TestRewriteTagKeepCopies(t *testing.T) {
	var seen map[string]any
	em := emitFunc(func(tag string, ev event.Event) error { seen = ev.Record.ToMap(); return nil })
	r := newRewrite(t, em, `$a . copy true`)
	orig := map[string]any{"a": "x", "m": map[string]any{"k": "v"}}
	ev := event.Event{Record: event.FromMap(orig)}
	r.Filter("t", &ev)
	seen["m"].(map[string]any)["k"] = "changed"
	if orig["m"].(map[string]any)["k"] != "v" {
		t.Fatal("the re-emitted record shares a nested map with the original")
	}
}

type emitFunc func(tag string, ev event.Event) error

func (f emitFunc) Emit(tag string, ev event.Event) error { return f(tag, ev) }
func (f emitFunc) EmitRaw(string, []byte, int) error     { return errors.New("not used") }
func (f emitFunc) Paused() bool                          { return false }

func TestRewriteTagEmitErrorKeepsRecord(t *testing.T) {
	rec := pipelinetest.NewRecorder()
	rec.FailWith(pipeline.ErrStopped)
	r := newRewrite(t, rec, `$a . x false`)
	ev := event.Event{Record: event.Map{{"a", "1"}}}
	if v, err := r.Filter("t", &ev); v != pipeline.Keep || !errors.Is(err, pipeline.ErrStopped) {
		t.Fatalf("%v %v: want Keep and the emit error", v, err)
	}
}

func TestRewriteTagValidate(t *testing.T) {
	for _, tc := range []struct {
		props []config.Property
		key   string
	}{
		{nil, "rule"},
		{[]config.Property{{Key: "Rule", Value: "$a b c"}}, "rule"},
		{[]config.Property{{Key: "Rule", Value: "$a ( c false"}}, "rule"},
		{[]config.Property{{Key: "Rule", Value: "$a b c maybe"}}, "rule"},
		{[]config.Property{{Key: "Rule", Value: "$a[ b c false"}}, "rule"},
		{[]config.Property{{Key: "Rule", Value: "$a b $k['x false"}}, "rule"},
		{[]config.Property{{Key: "Rule", Value: "$a b c false"}, {Key: "Emitter_Storage.type", Value: "disk"}}, "emitter_storage.type"},
	} {
		f, _ := pipeline.NewFilter("rewrite_tag")
		var ce *config.Error
		if err := pipeline.Configure(f, tc.props); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: %v, want an error on %s", tc.props, err, tc.key)
		}
	}
	f, _ := pipeline.NewFilter("rewrite_tag")
	if err := pipeline.Configure(f, []config.Property{{Key: "Rule", Value: "$a b c false"}, {Key: "Emitter_Name", Value: "re"},
		{Key: "Emitter_Mem_Buf_Limit", Value: "1M"}}); err != nil {
		t.Fatal(err)
	}
	if n := f.(pipeline.Reemitter).EmitterMemBufLimit(); n != 1_000_000 {
		t.Fatalf("emitter limit %d", n)
	}
	if n := New().EmitterMemBufLimit(); n != 10_000_000 {
		t.Fatalf("default emitter limit %d, want 10M", n)
	}
}

// collector is an output that counts records by tag.
type collector struct {
	mu  sync.Mutex
	got map[string]int
	all []event.Event
}

func (c *collector) Flush(_ context.Context, ch *pipeline.Chunk) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.got == nil {
		c.got = map[string]int{}
	}
	c.got[ch.Tag] += ch.Records
	return ch.Events(func(ev event.Event) error { c.all = append(c.all, ev); return nil })
}

func (c *collector) tags() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

type idle struct{}

func (idle) Run(ctx context.Context, _ pipeline.Emitter) error { <-ctx.Done(); return nil }

// Through a real engine: the documentation's example, plus a rule whose new tag matches
// the filter again (Match *), which must not loop.
func TestRewriteTagInEngine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match string
		rule  string
		extra pipeline.Filter // a filter after rewrite_tag, on every tag
		want  map[string]int
	}{
		{"doc example", "test_tag", `$tool ^(fluent)$  from.$TAG.new.$tool.$sub['s1']['s2'].out false`, nil,
			map[string]int{"from.test_tag.new.fluent.bit.out": 10}},
		{"new tag matches again: no loop", "*", `$tool ^(fluent)$ again.$TAG false`, nil,
			map[string]int{"again.test_tag": 10}},
		{"keep and match again", "*", `$tool ^(fluent)$ again.$TAG true`, nil,
			map[string]int{"again.test_tag": 10, "test_tag": 10}},
		// A filter that replaces the record hides it from the first guard; the second
		// bounds the recursion and the records still arrive.
		{"loop through a record-replacing filter is bounded", "*", `$tool ^(fluent)$ x.$TAG[0] false`,
			pipeline.FilterFunc(func(_ string, ev *event.Event) (pipeline.Verdict, error) {
				ev.Record = ev.Record.Clone()
				return pipeline.Keep, nil
			}), map[string]int{"x.x": 10}}, // x -> x.x -> x.x ... until the bound
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := pipeline.NewEngine(pipeline.Options{Flush: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			in := e.AddInput(pipeline.InputSpec{Plugin: "test", Tag: "test_tag", Input: idle{}})
			if tc.extra != nil {
				e.AddFilter(pipeline.FilterSpec{Plugin: "replace", Match: "*", Filter: tc.extra})
			}
			e.AddFilter(pipeline.FilterSpec{Plugin: "rewrite_tag", Match: tc.match, Filter: pipelinetest.Filter[pipeline.Filter](t, "rewrite_tag", "Rule", tc.rule)})
			out := &collector{}
			e.AddOutput(pipeline.OutputSpec{Plugin: "collect", Match: "*", Output: out})
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				rec := map[string]any{"tool": "fluent", "sub": map[string]any{"s1": map[string]any{"s2": "bit"}}, "i": int64(i)}
				if err := in.Emit("", event.Event{Record: event.FromMap(rec)}); err != nil {
					t.Fatal(err)
				}
			}
			e.Stop(context.Background())
			if got := out.tags(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("delivered by tag %v, want %v", got, tc.want)
			}
			var names []string
			for _, m := range e.Metrics().Inputs {
				names = append(names, m.Name)
			}
			sort.Strings(names)
			if strings.Join(names, ",") != "emitter_for_rewrite_tag.1,test.0" && strings.Join(names, ",") != "emitter_for_rewrite_tag.0,test.0" {
				t.Errorf("inputs %v: want the emitter input beside test.0", names)
			}
		})
	}
}

func BenchmarkRewriteTag(b *testing.B) {
	em := emitFunc(func(string, event.Event) error { return nil })
	for _, bc := range []struct{ name, rule string }{
		{"no_match", `$name ^zzz$ x false`},
		{"match_drop", `$name ^([a-z]+)-([0-9]+)$ newtag.$TAG[1].$1.$ss['s1']['s2'] false`},
		{"match_keep_copy", `$name ^([a-z]+)-([0-9]+)$ newtag.$TAG[1].$1 true`},
	} {
		r := newRewrite(b, em, bc.rule)
		ev := event.Event{Record: event.Map{{"name", "abc-123"}, {"ss", event.Map{{"s1", event.Map{{"s2", "flb"}}}}}, {"log", "hello"}}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Filter("aa.bb.cc", &ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// Several inputs re-emitting at once through one filter: every record arrives once under
// its new tag, and the loop guard never mistakes one goroutine's record for another's.
func TestRewriteTagConcurrentInputs(t *testing.T) {
	e := pipeline.NewEngine(pipeline.Options{Flush: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	var ins []pipeline.Emitter
	for i := 0; i < 4; i++ {
		ins = append(ins, e.AddInput(pipeline.InputSpec{Plugin: "test", Tag: "in", Input: idle{}}))
	}
	e.AddFilter(pipeline.FilterSpec{Plugin: "rewrite_tag", Match: "*", Filter: pipelinetest.Filter[pipeline.Filter](t, "rewrite_tag", "Rule", `$k ^(a|b)$ out.$1 true`)})
	out := &collector{}
	e.AddOutput(pipeline.OutputSpec{Plugin: "collect", Match: "*", Output: out})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := "a"
				if (g+i)%2 == 1 {
					k = "b"
				}
				if err := in.Emit("", event.Event{Record: event.Map{{"k", k}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	e.Stop(context.Background())
	want := map[string]int{"in": 2000, "out.a": 1000, "out.b": 1000}
	if got := out.tags(); !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

func TestRewriteTagHugeRecord(t *testing.T) {
	rec := pipelinetest.NewRecorder()
	r := newRewrite(t, rec, `$k ^v$ big.$TAG true`)
	m := map[string]any{"k": "v", "blob": strings.Repeat("x", 1<<20)}
	for i := 0; i < 20000; i++ {
		m["key"+strconv.Itoa(i)] = []any{int64(i), map[string]any{"i": int64(i)}}
	}
	ev := event.Event{Record: event.FromMap(m)}
	if v, err := r.Filter("t", &ev); err != nil || v != pipeline.Keep {
		t.Fatal(v, err)
	}
	got := rec.Records()
	if len(got) != 1 || got[0].Tag != "big.t" || len(got[0].Event.Record) != len(m) {
		t.Fatalf("emitted %d records", len(got))
	}
}

func TestEmitterNameNamesTheInternalInput(t *testing.T) {
	f := New()
	if err := pipeline.Configure(f, []config.Property{
		{Key: "rule", Value: "$k ^a$ new.$k false"},
		{Key: "emitter_name", Value: "re_emitted"},
	}); err != nil {
		t.Fatal(err)
	}
	e := pipeline.NewEngine(pipeline.Options{})
	e.AddFilter(pipeline.FilterSpec{Plugin: "rewrite_tag", Match: "*", Filter: f})
	if m := e.Metrics(); len(m.Inputs) != 1 || m.Inputs[0].Name != "re_emitted" {
		t.Fatalf("inputs: %+v", m.Inputs)
	}
}
