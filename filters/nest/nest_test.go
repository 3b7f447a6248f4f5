package nest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func newNest(t testing.TB, n Nest) *Nest {
	t.Helper()
	if err := n.Init(context.Background(), pipeline.Env{Name: "nest.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return &n
}

func run(t testing.TB, n *Nest, rec map[string]any) map[string]any {
	t.Helper()
	ev := event.Event{Time: time.Unix(1, 0), Record: event.FromMap(rec)}
	v, err := n.Filter("t", &ev)
	if err != nil || v != pipeline.Keep {
		t.Fatalf("Filter: %v %v", v, err)
	}
	return ev.Record.ToMap()
}

// The examples of Fluent Bit's nest documentation, then edge cases.
func TestNest(t *testing.T) {
	mem := func() map[string]any {
		return map[string]any{"Mem.total": int64(1016024), "Mem.used": int64(716672), "Mem.free": int64(299352), "Swap.total": int64(2064380)}
	}
	for _, tc := range []struct {
		name string
		n    Nest
		in   map[string]any
		want map[string]any
	}{
		{"doc: nest Mem.* under Memstats", Nest{Operation: "nest", Wildcard: []string{"Mem.*"}, NestUnder: "Memstats"}, mem(),
			map[string]any{"Swap.total": int64(2064380), "Memstats": map[string]any{"Mem.total": int64(1016024), "Mem.used": int64(716672), "Mem.free": int64(299352)}}},
		{"doc: nest with remove_prefix", Nest{Operation: "NEST", Wildcard: []string{"Mem.*"}, NestUnder: "Memstats", RemovePrefix: "Mem."}, mem(),
			map[string]any{"Swap.total": int64(2064380), "Memstats": map[string]any{"total": int64(1016024), "used": int64(716672), "free": int64(299352)}}},
		{"doc: lift with add_prefix", Nest{Operation: "lift", NestedUnder: "Stats", AddPrefix: "Lifted_"},
			map[string]any{"Stats": map[string]any{"Mem.total": int64(1), "Mem.used": int64(2)}, "k": "v"},
			map[string]any{"Lifted_Mem.total": int64(1), "Lifted_Mem.used": int64(2), "k": "v"}},
		{"several wildcards and exact key", Nest{Operation: "nest", Wildcard: []string{"a*", "exact"}, NestUnder: "n"},
			map[string]any{"ab": 1, "ac": 2, "exact": 3, "exactly": 4},
			map[string]any{"exactly": 4, "n": map[string]any{"ab": 1, "ac": 2, "exact": 3}}},
		{"exact keys only", Nest{Operation: "nest", Wildcard: []string{"a", "b", "n"}, NestUnder: "n", AddPrefix: "p_"},
			map[string]any{"a": 1, "b": 2, "c": 3, "n": "old"}, map[string]any{"c": 3, "n": map[string]any{"p_a": 1, "p_b": 2}}},
		{"exact keys, none present", Nest{Operation: "nest", Wildcard: []string{"x"}, NestUnder: "n"},
			map[string]any{"a": 1}, map[string]any{"a": 1}},
		{"nest: no match adds nothing", Nest{Operation: "nest", Wildcard: []string{"zz*"}, NestUnder: "n"},
			map[string]any{"a": 1}, map[string]any{"a": 1}},
		{"nest: nest_under replaces an existing key", Nest{Operation: "nest", Wildcard: []string{"a*"}, NestUnder: "n"},
			map[string]any{"a1": 1, "n": "old"}, map[string]any{"n": map[string]any{"a1": 1}}},
		{"nest: wildcard * takes every key", Nest{Operation: "nest", Wildcard: []string{"*"}, NestUnder: "all"},
			map[string]any{"x": 1, "y": []any{1}}, map[string]any{"all": map[string]any{"x": 1, "y": []any{1}}}},
		{"lift: missing key", Nest{Operation: "lift", NestedUnder: "s"}, map[string]any{"a": 1}, map[string]any{"a": 1}},
		{"lift: not a map", Nest{Operation: "lift", NestedUnder: "s"}, map[string]any{"s": []any{1}}, map[string]any{"s": []any{1}}},
		{"lift: replaces top-level keys", Nest{Operation: "lift", NestedUnder: "s", RemovePrefix: "p_"},
			map[string]any{"s": map[string]any{"p_a": 2, "b": 3}, "a": 1}, map[string]any{"a": 2, "b": 3}},
		{"unicode keys", Nest{Operation: "nest", Wildcard: []string{"ключ*"}, NestUnder: "🔥", AddPrefix: "é"},
			map[string]any{"ключ1": "v", "other": 1}, map[string]any{"other": 1, "🔥": map[string]any{"éключ1": "v"}}},
		{"nil record", Nest{Operation: "nest", Wildcard: []string{"a"}, NestUnder: "n"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, newNest(t, tc.n), tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// Two lifts in a row flatten two levels, as in the documentation's deep-lift example.
func TestNestChainedLift(t *testing.T) {
	l1 := newNest(t, Nest{Operation: "lift", NestedUnder: "outer"})
	l2 := newNest(t, Nest{Operation: "lift", NestedUnder: "inner"})
	rec := map[string]any{"outer": map[string]any{"inner": map[string]any{"k": "v"}, "o": 1}}
	rec = run(t, l2, run(t, l1, rec))
	if !reflect.DeepEqual(rec, map[string]any{"k": "v", "o": 1}) {
		t.Fatalf("got %v", rec)
	}
}

func TestNestHugeRecord(t *testing.T) {
	n := newNest(t, Nest{Operation: "nest", Wildcard: []string{"k*"}, NestUnder: "n"})
	rec := map[string]any{}
	for i := 0; i < 100000; i++ {
		rec[fmt.Sprintf("k%d", i)] = i
	}
	rec["other"] = 1
	got := run(t, n, rec)
	if len(got) != 2 || len(got["n"].(map[string]any)) != 100000 {
		t.Fatalf("got %d keys, nested %d", len(got), len(got["n"].(map[string]any)))
	}
}

func TestNestValidate(t *testing.T) {
	for _, tc := range []struct {
		n   Nest
		key string
	}{
		{Nest{}, "operation"},
		{Nest{Operation: "flatten"}, "operation"},
		{Nest{Operation: "nest", NestUnder: "x"}, "wildcard"},
		{Nest{Operation: "nest", Wildcard: []string{"a"}}, "nest_under"},
		{Nest{Operation: "nest", Wildcard: []string{" "}, NestUnder: "x"}, "wildcard"},
		{Nest{Operation: "lift"}, "nested_under"},
		{Nest{Operation: "lift", NestedUnder: "a", Wildcard: []string{"x"}}, "wildcard"},
		{Nest{Operation: "lift", NestedUnder: "a", NestUnder: "x"}, "nest_under"},
	} {
		var ce *config.Error
		if err := tc.n.Validate(); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%+v: %v, want an error on %q", tc.n, err, tc.key)
		}
	}
	// Through the engine's decoding, with Fluent Bit's key spelling.
	f, _ := pipeline.NewFilter("nest")
	err := pipeline.Configure(f, []config.Property{{Key: "Operation", Value: "nest"}, {Key: "Wildcard", Value: "a*"}, {Key: "Nest_under", Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkNest(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    Nest
	}{
		{"nest_3_of_5", Nest{Operation: "nest", Wildcard: []string{"Mem.*"}, NestUnder: "Memstats", RemovePrefix: "Mem."}},
		{"lift_3", Nest{Operation: "lift", NestedUnder: "Memstats", AddPrefix: "Mem."}},
	} {
		n := newNest(b, bc.n)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := event.Map{{"Mem.total", 1}, {"Mem.used", 2}, {"Mem.free", 3}, {"Swap.total", 4}, {"Swap.used", 5}}
				if bc.n.Operation == "lift" {
					rec = event.Map{{"Memstats", event.Map{{"total", 1}, {"used", 2}, {"free", 3}}}, {"Swap.total", 4}, {"Swap.used", 5}}
				}
				ev := event.Event{Record: rec}
				n.Filter("t", &ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
