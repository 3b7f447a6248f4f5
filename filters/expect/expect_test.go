package expect

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func newExpect(t testing.TB, logs *pipelinetest.Logs, props ...string) *Expect {
	t.Helper()
	env := pipeline.Env{Name: "expect.0"}
	if logs != nil {
		env = logs.Env("expect.0")
	}
	return pipelinetest.Init(t, pipelinetest.Filter[*Expect](t, "expect", props...), env)
}

// The rules on the record of Fluent Bit's "validating your data" guide.
func TestExpectRules(t *testing.T) {
	rec := func() map[string]any {
		return map[string]any{"color": "blue", "label": map[string]any{"name": "abc", "n": int64(3), "f": 2.5, "ok": true},
			"null": nil, "ключ": "значение"}
	}
	for _, tc := range []struct {
		name  string
		rules []string
		want  bool
	}{
		{"doc: key_exists color and label", []string{"key_exists", "color", "key_exists", "$label['name']"}, true},
		{"doc: key_val_eq nested", []string{"key_val_eq", "$label['name'] abc"}, true},
		{"key_val_eq wrong value", []string{"key_val_eq", "color red"}, false},
		{"key_val_eq number, float, bool", []string{"key_val_eq", "$label['n'] 3", "key_val_eq", "$label['f'] 2.5", "key_val_eq", "$label['ok'] true"}, true},
		{"key_val_eq missing", []string{"key_val_eq", "nope x"}, false},
		{"key_val_eq value with spaces", []string{"key_val_eq", "color   blue"}, true},
		{"key_not_exists", []string{"key_not_exists", "nope", "key_not_exists", "$label['zz']"}, true},
		{"key_not_exists fails", []string{"key_not_exists", "color"}, false},
		{"key_val_is_null", []string{"key_val_is_null", "null"}, true},
		{"key_val_is_null missing", []string{"key_val_is_null", "nope"}, false},
		{"key_val_is_null on value", []string{"key_val_is_null", "color"}, false},
		{"key_val_is_not_null", []string{"key_val_is_not_null", "color"}, true},
		{"key_val_is_not_null on null", []string{"key_val_is_not_null", "null"}, false},
		{"accessor into a non-map", []string{"key_exists", "$color['x']"}, false},
		{"unicode", []string{"key_val_eq", "ключ значение"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := append([]string{"action", "result_key", "result_key", "ok?"}, tc.rules...)
			e := newExpect(t, nil, props...)
			ev := event.Event{Record: event.FromMap(rec())}
			if v, _ := e.Filter("t", &ev); v != pipeline.Keep {
				t.Fatal("record dropped")
			}
			if got := ev.Record.Value("ok?"); got != tc.want {
				t.Errorf("result %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExpectWarnAndExit(t *testing.T) {
	logs := &pipelinetest.Logs{}
	e := newExpect(t, logs, "key_exists", "color")
	ev := event.Event{Record: event.Map{{"x", 1}}}
	e.Filter("t", &ev)
	if logs.Count(slog.LevelWarn) != 1 || len(ev.Record) != 1 {
		t.Fatalf("warn: %d warnings, record %v", logs.Count(slog.LevelWarn), ev.Record)
	}
	exits := 0
	e = newExpect(t, logs, "key_exists", "color", "action", "EXIT")
	e.OnExit = func() { exits++ }
	e.Filter("t", &ev)
	e.Filter("t", &ev)
	ok := event.Event{Record: event.Map{{"color", 1}}}
	e.Filter("t", &ok)
	if exits != 1 || logs.Count(slog.LevelError) != 2 {
		t.Fatalf("exit called %d times (want once), %d errors logged", exits, logs.Count(slog.LevelError))
	}
	// A nil record with result_key gets a map.
	e = newExpect(t, nil, "key_not_exists", "a", "action", "result_key")
	var nilRec event.Event
	e.Filter("t", &nilRec)
	if nilRec.Record.Value("matched") != true {
		t.Fatalf("nil record: %v", nilRec.Record)
	}
}

func TestExpectValidate(t *testing.T) {
	for _, tc := range []struct {
		props []config.Property
		key   string
	}{
		{nil, "key_exists"},
		{[]config.Property{{Key: "key_exists", Value: "a"}, {Key: "action", Value: "panic"}}, "action"},
		{[]config.Property{{Key: "key_val_eq", Value: "onlykey"}}, "key_val_eq"},
		{[]config.Property{{Key: "key_exists", Value: "$a["}}, "key_exists"},
	} {
		f, _ := pipeline.NewFilter("expect")
		var ce *config.Error
		if err := pipeline.Configure(f, tc.props); !errors.As(err, &ce) || !strings.EqualFold(ce.Key, tc.key) {
			t.Errorf("%v: %v, want an error on %s", tc.props, err, tc.key)
		}
	}
}

func BenchmarkExpect(b *testing.B) {
	e := newExpect(b, nil, "key_exists", "color", "key_val_eq", "$label['name'] abc", "action", "warn")
	ev := event.Event{Record: event.Map{{"color", "blue"}, {"label", event.Map{{"name", "abc"}}}}}
	b.ReportAllocs()
	for b.Loop() {
		e.Filter("t", &ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
