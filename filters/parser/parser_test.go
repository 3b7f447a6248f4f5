package parser

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// The parsers of Fluent Bit's parser-filter documentation, defined the way a user would.
const parsersConf = `
[PARSER]
    Name   dummy_test
    Format regex
    Regex  ^(?<INT>[^ ]+) (?<FLOAT>[^ ]+) (?<BOOL>[^ ]+) (?<STRING>.+)$

[PARSER]
    Name        json_ts
    Format      json
    Time_Key    ts
    Time_Format %Y-%m-%dT%H:%M:%S%z

[PARSER]
    Name   kv
    Format logfmt
    Types  n:integer
`

// parsersConfig is the configuration the test filters are built from: it defines their
// parsers.
func parsersConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.ParseClassic("parsers.conf", []byte(parsersConf))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newFilter(t testing.TB, props ...string) *Filter {
	t.Helper()
	f := &Filter{}
	f.SetConfig(parsersConfig(t)) // as the engine does first: the parsers are in the configuration
	if err := pipeline.Configure(f, pipelinetest.Props(props...)); err != nil {
		t.Fatal(err)
	}
	return pipelinetest.Init(t, f, pipeline.Env{Name: "parser.0"})
}

func TestParserFilter(t *testing.T) {
	t0 := time.Unix(100, 0)
	doc := func() map[string]any {
		return map[string]any{"data": "100 0.5 true This is example", "key1": "value1", "key2": "value2"}
	}
	parsed := map[string]any{"INT": "100", "FLOAT": "0.5", "BOOL": "true", "STRING": "This is example"}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		props []string
		in    map[string]any
		want  map[string]any
		time  time.Time
	}{
		{"doc: parse data", []string{"Key_Name", "data", "Parser", "dummy_test"}, doc(), parsed, t0},
		{"doc: preserve_key", []string{"Key_Name", "data", "Parser", "dummy_test", "Preserve_Key", "On"}, doc(),
			with(parsed, "data", "100 0.5 true This is example"), t0},
		{"doc: reserve_data", []string{"Key_Name", "data", "Parser", "dummy_test", "Reserve_Data", "On"}, doc(),
			with(parsed, "key1", "value1", "key2", "value2"), t0},
		{"reserve_data and preserve_key", []string{"Key_Name", "data", "Parser", "dummy_test", "Reserve_Data", "On", "Preserve_Key", "On"}, doc(),
			with(parsed, "key1", "value1", "key2", "value2", "data", "100 0.5 true This is example"), t0},
		{"second parser used when the first fails", []string{"Key_Name", "data", "Parser", "dummy_test", "Parser", "kv"},
			map[string]any{"data": "n=5 x=y"}, map[string]any{"n": int64(5), "x": "y"}, t0},
		{"time taken from the parsed value", []string{"Key_Name", "log", "Parser", "json_ts"},
			map[string]any{"log": `{"ts":"2022-01-02T03:04:05Z","m":"hi"}`}, map[string]any{"m": "hi"}, time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"bad time keeps record time and key", []string{"Key_Name", "log", "Parser", "json_ts"},
			map[string]any{"log": `{"ts":"never","m":"hi"}`}, map[string]any{"ts": "never", "m": "hi"}, t0},
		{"parsed key wins over original", []string{"Key_Name", "log", "Parser", "kv", "Reserve_Data", "On"},
			map[string]any{"log": "a=new", "a": "old"}, map[string]any{"a": "new"}, t0},
		{"nested key", []string{"Key_Name", "$k['raw']", "Parser", "kv", "Reserve_Data", "On"},
			map[string]any{"k": map[string]any{"raw": "n=1", "o": 2}}, map[string]any{"n": int64(1), "k": map[string]any{"o": 2}}, t0},
		{"bytes value", []string{"Key_Name", "log", "Parser", "kv"}, map[string]any{"log": []byte("n=2")}, map[string]any{"n": int64(2)}, t0},
		{"unicode", []string{"Key_Name", "ключ", "Parser", "kv"}, map[string]any{"ключ": "🔥=ü"}, map[string]any{"🔥": "ü"}, t0},
		{"missing key passes", []string{"Key_Name", "data", "Parser", "dummy_test"}, map[string]any{"x": 1}, map[string]any{"x": 1}, t0},
		{"non-string passes", []string{"Key_Name", "data", "Parser", "dummy_test"}, map[string]any{"data": int64(5)}, map[string]any{"data": int64(5)}, t0},
		{"no parser matches: passes", []string{"Key_Name", "data", "Parser", "dummy_test"}, map[string]any{"data": "x"}, map[string]any{"data": "x"}, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFilter(t, tc.props...)
			ev := event.Event{Time: t0, Record: event.FromMap(tc.in)}
			v, err := f.Filter("t", &ev)
			if err != nil || v != pipeline.Keep {
				t.Fatalf("%v %v", v, err)
			}
			if !reflect.DeepEqual(ev.Record.ToMap(), tc.want) {
				t.Errorf("got  %v\nwant %v", ev.Record, tc.want)
			}
			if !ev.Time.Equal(tc.time) {
				t.Errorf("time %v, want %v", ev.Time, tc.time)
			}
		})
	}
}

func TestParserFilterHuge(t *testing.T) {
	f := newFilter(t, "Key_Name", "log", "Parser", "kv")
	ev := event.Event{Record: event.Map{{"log", "v=" + strings.Repeat("x", 4<<20)}}}
	f.Filter("t", &ev)
	if s, _ := ev.Record.Value("v").(string); len(s) != 4<<20 {
		t.Fatalf("value of %d bytes", len(s))
	}
}

func TestParserFilterConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		props []config.Property
		key   string
	}{
		{[]config.Property{{Key: "Parser", Value: "kv"}}, "key_name"},
		{[]config.Property{{Key: "Key_Name", Value: "log"}}, "parser"},
		{[]config.Property{{Key: "Key_Name", Value: "log"}, {Key: "Parser", Value: "nope"}}, "parser"},
		{[]config.Property{{Key: "Key_Name", Value: "$a["}, {Key: "Parser", Value: "kv"}}, "key_name"},
	} {
		f, _ := pipeline.NewFilter("parser")
		f.(pipeline.ConfigAware).SetConfig(parsersConfig(t))
		var ce *config.Error
		if err := pipeline.Configure(f, tc.props); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: %v, want an error on %s", tc.props, err, tc.key)
		}
	}
}

func BenchmarkParserFilter(b *testing.B) {
	for _, bc := range []struct {
		name, parser, line string
	}{
		{"regex", "dummy_test", "100 0.5 true This is example"},
		{"json_time", "json_ts", `{"ts":"2022-01-02T03:04:05Z","m":"hi","n":1}`},
		{"logfmt", "kv", `level=info msg="request served" n=12`},
	} {
		f := newFilter(b, "Key_Name", "log", "Parser", bc.parser, "Reserve_Data", "On")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ev := event.Event{Record: event.Map{{"log", bc.line}, {"stream", "stdout"}}}
				f.Filter("t", &ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
