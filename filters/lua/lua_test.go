package lua

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func newLua(t testing.TB, props ...string) *Lua {
	t.Helper()
	l := pipelinetest.Init(t, pipelinetest.Filter[*Lua](t, "lua", props...), pipeline.Env{Name: "lua.0"})
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

var t0 = time.Unix(1_600_000_000, 250_000_000)

func TestLuaReturnCodes(t *testing.T) {
	in := func() map[string]any {
		return map[string]any{"log": "hello", "n": int64(42), "f": 1.5, "ok": true, "null": nil,
			"nested": map[string]any{"a": []any{int64(1), "two", map[string]any{"x": "y"}}}, "ключ": "🔥"}
	}
	for _, tc := range []struct {
		name    string
		code    string
		props   []string
		verdict pipeline.Verdict
		want    map[string]any // nil: unchanged
		time    time.Time
		err     string
	}{
		// Fluent Bit's documented append_tag example (code 1).
		{"doc: append_tag", `function cb(tag, timestamp, record) new_record = record; new_record["tag"] = tag; return 1, timestamp, new_record end`,
			nil, pipeline.Keep, func() map[string]any { m := in(); delete(m, "null"); m["tag"] = "app.log"; return m }(), t0, ""},
		{"doc: print and keep (0)", `function cb(tag, ts, record) return 0, ts, record end`, nil, pipeline.Keep, nil, t0, ""},
		{"drop (-1)", `function cb(tag, ts, record) return -1, 0, 0 end`, nil, pipeline.Drop, nil, t0, ""},
		{"0 ignores changes", `function cb(tag, ts, record) record.log = "x"; return 0, 5, record end`, nil, pipeline.Keep, nil, t0, ""},
		{"2 keeps the timestamp", `function cb(tag, ts, record) return 2, 5, {a = "b"} end`, nil, pipeline.Keep, map[string]any{"a": "b"}, t0, ""},
		{"1 sets the timestamp", `function cb(tag, ts, record) return 1, 1700000000.5, {a = "b"} end`, nil, pipeline.Keep,
			map[string]any{"a": "b"}, time.Unix(1_700_000_000, 500_000_000), ""},
		{"time_as_table in and out", `function cb(tag, ts, record) return 1, {sec = ts.sec + 1, nsec = ts.nsec}, {s = ts.sec, ns = ts.nsec} end`,
			[]string{"time_as_table", "on"}, pipeline.Keep, map[string]any{"s": int64(1_600_000_000), "ns": int64(250_000_000)},
			time.Unix(1_600_000_001, 250_000_000), ""},
		{"types back from Lua", `function cb(tag, ts, r) return 2, ts, {i = 3, f = 3.25, b = false, arr = {1, 2, 3}, map = {[1] = "a", x = "b"}, empty = {}, s = "ü", sparse = {[1]="a", [3]="c"}} end`,
			nil, pipeline.Keep, map[string]any{"i": int64(3), "f": 3.25, "b": false, "arr": []any{int64(1), int64(2), int64(3)},
				"map": []any{"a"}, "empty": map[string]any{}, "s": "ü", "sparse": []any{"a", nil, "c"}}, t0, ""},
		{"type_int_key and type_array_key", `function cb(tag, ts, r) return 2, ts, {n = 3.9, list = {}, other = 2.5} end`,
			[]string{"type_int_key", "n", "type_array_key", "list"}, pipeline.Keep,
			map[string]any{"n": int64(3), "list": []any{}, "other": 2.5}, t0, ""},
		{"nested and unicode round trip", `function cb(tag, ts, r) r.seen = r.nested.a[3].x .. r["ключ"]; return 2, ts, r end`,
			nil, pipeline.Keep, func() map[string]any { m := in(); delete(m, "null"); m["seen"] = "y🔥"; return m }(), t0, ""},
		{"runtime error passes the record", `function cb(tag, ts, r) error("boom") end`, nil, pipeline.Keep, nil, t0, "boom"},
		{"nil index error", `function cb(tag, ts, r) return 2, ts, r.missing.x end`, nil, pipeline.Keep, nil, t0, "non-table"},
		{"bad code", `function cb(tag, ts, r) return 7, ts, r end`, nil, pipeline.Keep, nil, t0, "code 7"},
		{"code not a number", `function cb(tag, ts, r) return "x", ts, r end`, nil, pipeline.Keep, nil, t0, "string"},
		{"record not a table", `function cb(tag, ts, r) return 2, ts, "x" end`, nil, pipeline.Keep, nil, t0, "want a table"},
		{"bad timestamp", `function cb(tag, ts, r) return 1, "soon", r end`, nil, pipeline.Keep, nil, t0, "timestamp"},
		{"infinite recursion is an error", `function f(x) return f(x) + 1 end function cb(tag, ts, r) return f(1), ts, r end`, nil, pipeline.Keep, nil, t0, "stack overflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLua(t, append([]string{"code", tc.code, "call", "cb"}, tc.props...)...)
			ev := event.Event{Time: t0, Record: event.FromMap(in())}
			v, err := l.Filter("app.log", &ev)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if v != tc.verdict {
				t.Fatalf("verdict %v, want %v", v, tc.verdict)
			}
			want := tc.want
			if want == nil {
				want = in()
			}
			if v == pipeline.Keep && !reflect.DeepEqual(ev.Record.ToMap(), want) {
				t.Errorf("record\n got %#v\nwant %#v", ev.Record, want)
			}
			if !ev.Time.Equal(tc.time) {
				t.Errorf("time %v, want %v", ev.Time, tc.time)
			}
		})
	}
}

func TestLuaScriptFileAndState(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "count.lua")
	os.WriteFile(script, []byte(`
count = 0
function cb_count(tag, timestamp, record)
    count = count + 1
    record["count"] = count
    return 2, timestamp, record
end
`), 0o644)
	l := newLua(t, "script", script, "call", "cb_count")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				ev := event.Event{Record: event.Map{}}
				l.Filter("t", &ev)
			}
		}()
	}
	wg.Wait()
	ev := event.Event{Record: event.Map{}}
	l.Filter("t", &ev)
	if ev.Record.Value("count") != int64(1001) {
		t.Fatalf("count %v, want 1001: globals persist and calls are serialised", ev.Record.Value("count"))
	}
}

func TestLuaSandbox(t *testing.T) {
	probe := `function cb(tag, ts, r) return 2, ts, {os = type(os), io = type(io), dofile = type(dofile), loadfile = type(loadfile), require = type(require), debug = type(debug), string = type(string), math = type(math)} end`
	l := newLua(t, "code", probe, "call", "cb", "sandbox", "on")
	ev := event.Event{Record: event.Map{}}
	l.Filter("t", &ev)
	want := map[string]any{"os": "nil", "io": "nil", "dofile": "nil", "loadfile": "nil", "require": "nil", "debug": "nil", "string": "table", "math": "table"}
	if !reflect.DeepEqual(ev.Record.ToMap(), want) {
		t.Fatalf("sandbox: %v", ev.Record)
	}
	l = newLua(t, "code", probe, "call", "cb", "enable_libs", "os, io", "sandbox", "on")
	ev = event.Event{Record: event.Map{}}
	l.Filter("t", &ev)
	if ev.Record.Value("os") != "table" || ev.Record.Value("io") != "table" || ev.Record.Value("require") != "nil" {
		t.Fatalf("enable_libs os io: %v", ev.Record)
	}
}

func TestLuaCallTimeout(t *testing.T) {
	l := newLua(t, "code", `function cb(tag, ts, r) if r.spin then while true do end end return 2, ts, {ok = true} end`, "call", "cb", "call_timeout", "50ms")
	ev := event.Event{Record: event.Map{{"spin", true}}}
	if v, err := l.Filter("t", &ev); err == nil || v != pipeline.Keep || ev.Record.Value("spin") != true {
		t.Fatalf("endless loop: %v %v %v, want an error and the record unchanged", v, err, ev.Record)
	}
	// The state is usable afterwards.
	ev = event.Event{Record: event.Map{}}
	if _, err := l.Filter("t", &ev); err != nil || ev.Record.Value("ok") != true {
		t.Fatalf("after a timeout: %v %v", err, ev.Record)
	}
}

func TestLuaHugeRecord(t *testing.T) {
	l := newLua(t, "code", `function cb(tag, ts, r) local n = 0 for k, v in pairs(r) do n = n + 1 end r.n = n return 2, ts, r end`, "call", "cb")
	rec := map[string]any{"big": strings.Repeat("x", 1<<20)}
	for i := 0; i < 10000; i++ {
		rec[fmt.Sprintf("k%d", i)] = int64(i)
	}
	ev := event.Event{Record: event.FromMap(rec)}
	if _, err := l.Filter("t", &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Record.Value("n") != int64(10001) || len(ev.Record.Value("big").(string)) != 1<<20 {
		t.Fatalf("n=%v", ev.Record.Value("n"))
	}
}

func TestLuaConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		props []config.Property
		key   string
	}{
		{[]config.Property{{Key: "call", Value: "cb"}}, "script"},
		{[]config.Property{{Key: "code", Value: "x=1"}}, "call"},
		{[]config.Property{{Key: "code", Value: "x=1"}, {Key: "script", Value: "a.lua"}, {Key: "call", Value: "cb"}}, "code"},
		{[]config.Property{{Key: "code", Value: "function ("}, {Key: "call", Value: "cb"}}, "code"},
		{[]config.Property{{Key: "code", Value: "x=1"}, {Key: "call", Value: "cb"}, {Key: "enable_libs", Value: "net"}}, "enable_libs"},
		{[]config.Property{{Key: "script", Value: "/nonexistent/x.lua"}, {Key: "call", Value: "cb"}}, "script"},
		{[]config.Property{{Key: "script", Value: "testdata/bad.lua"}, {Key: "call", Value: "cb"}}, "script"},
	} {
		f, _ := pipeline.NewFilter("lua")
		var ce *config.Error
		if err := pipeline.Configure(f, tc.props); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: %v, want an error on %s", tc.props, err, tc.key)
		}
	}
	for _, tc := range []struct {
		l   *Lua
		key string
	}{
		{&Lua{Code: "x = 1", Call: "cb"}, "call"},
		{&Lua{Script: "/nonexistent/x.lua", Call: "cb"}, "script"},
		{&Lua{Code: "error('at load')", Call: "cb"}, "code"},
	} {
		var ce *config.Error
		if err := tc.l.Init(context.Background(), pipeline.Env{}); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s%s: %v, want an error on %s", tc.l.Code, tc.l.Script, err, tc.key)
		}
	}
}

func BenchmarkLua(b *testing.B) {
	for _, bc := range []struct{ name, code string }{
		{"keep_0", `function cb(tag, ts, r) return 0, ts, r end`},
		{"append_tag_1", `function cb(tag, ts, r) r["tag"] = tag; return 1, ts, r end`},
	} {
		l := newLua(b, "code", bc.code, "call", "cb")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ev := event.Event{Time: t0, Record: event.Map{{"log", "hello world"}, {"stream", "stdout"}, {"n", int64(1)}}}
				l.Filter("app", &ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
