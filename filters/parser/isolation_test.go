package parser_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// byTag collects what the parsertest_bytag output receives, by chunk tag, so two agents
// in one process write to separate lists.
var byTag struct {
	sync.Mutex
	recs map[string][]map[string]any
}

func init() {
	pipeline.RegisterOutput("parsertest_bytag", func() pipeline.Output {
		return pipeline.OutputFunc(func(_ context.Context, c *pipeline.Chunk) error {
			byTag.Lock()
			defer byTag.Unlock()
			return c.Events(func(ev event.Event) error {
				byTag.recs[c.Tag] = append(byTag.recs[c.Tag], ev.Record.ToMap())
				return nil
			})
		})
	})
}

// agentConfig defines a parser named "p" whose two fields are called first and second,
// and a parser filter using it on tag.
func agentConfig(t *testing.T, tag, first, second, extra string) *config.Config {
	t.Helper()
	text := fmt.Sprintf(`
[SERVICE]
    Flush 0.05

[PARSER]
    Name   p
    Format regex
    Regex  ^(?<%s>\S+) (?<%s>\S+)$

[FILTER]
    Name     parser
    Match    %s
    Key_Name log
    Parser   p
%s
[OUTPUT]
    Name  parsertest_bytag
    Match *
`, first, second, tag, extra)
	cfg, err := config.ParseClassic(tag+".conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Two agents in one process define a parser of the same name differently: each parses with
// its own, and neither a Check nor a failed Reload of a third definition changes them.
func TestParsersBelongToTheirAgent(t *testing.T) {
	byTag.Lock()
	byTag.recs = map[string][]map[string]any{}
	byTag.Unlock()
	ctx := context.Background()
	quiet := fluentbit.WithLogger(slog.New(slog.DiscardHandler))
	start := func(cfg *config.Config) *fluentbit.Agent {
		a, err := fluentbit.New(cfg, quiet)
		if err != nil {
			t.Error(err)
			return nil
		}
		if err := a.Start(ctx); err != nil {
			t.Error(err)
			return nil
		}
		return a
	}
	// a and b are built at the same time as a Check of a third definition of p: with one
	// process-wide set, each build would risk picking up another's p.
	cfgA, cfgB, cfgC := agentConfig(t, "a", "a1", "a2", ""), agentConfig(t, "b", "b1", "b2", ""), agentConfig(t, "c", "c1", "c2", "")
	var a, b *fluentbit.Agent
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a = start(cfgA) }()
	go func() { defer wg.Done(); b = start(cfgB) }()
	var checkErr error
	go func() { defer wg.Done(); checkErr = fluentbit.Check(cfgC) }()
	wg.Wait()
	if a == nil || b == nil || checkErr != nil {
		t.Fatalf("building the agents failed (check: %v)", checkErr)
	}

	// A reload that loads a third definition of p and then fails (its filter names a
	// parser that does not exist) must not reach a.
	bad := agentConfig(t, "a", "c1", "c2", "\n[FILTER]\n    Name parser\n    Match x\n    Key_Name log\n    Parser nope\n")
	if err := a.Reload(bad); err == nil {
		t.Fatal("Reload with an unknown parser name succeeded")
	}

	for _, push := range []struct {
		agent *fluentbit.Agent
		tag   string
	}{{a, "a"}, {b, "b"}} {
		if err := push.agent.Push(push.tag, event.Map{{"log", "x y"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ag := range []*fluentbit.Agent{a, b} {
		if err := ag.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	byTag.Lock()
	defer byTag.Unlock()
	for tag, want := range map[string]map[string]any{
		"a": {"a1": "x", "a2": "y"},
		"b": {"b1": "x", "b2": "y"},
	} {
		if got := byTag.recs[tag]; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("agent %s: records %v, want [%v] (parsed with its own parser p)", tag, got, want)
		}
	}
}

// A parser filter configured from one configuration finds that configuration's parsers,
// whatever agents were built before it in the process.
func TestFilterUsesItsOwnConfigsParsers(t *testing.T) {
	quiet := fluentbit.WithLogger(slog.New(slog.DiscardHandler))
	if _, err := fluentbit.New(agentConfig(t, "b", "b1", "b2", ""), quiet); err != nil {
		t.Fatal(err)
	}
	f, _ := pipeline.NewFilter("parser")
	f.(pipeline.ConfigAware).SetConfig(agentConfig(t, "a", "a1", "a2", ""))
	if err := pipeline.Configure(f, []config.Property{{Key: "key_name", Value: "log"}, {Key: "parser", Value: "p"}}); err != nil {
		t.Fatal(err)
	}
	ev := event.Event{Record: event.Map{{"log", "x y"}}}
	if _, err := f.Filter("a", &ev); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"a1": "x", "a2": "y"}; !reflect.DeepEqual(ev.Record.ToMap(), want) {
		t.Fatalf("record %v, want %v", ev.Record, want)
	}

	// Without a configuration, a name is not found anywhere else.
	g, _ := pipeline.NewFilter("parser")
	if err := pipeline.Configure(g, []config.Property{{Key: "key_name", Value: "log"}, {Key: "parser", Value: "p"}}); err == nil {
		t.Fatal("a filter without a configuration found parser p")
	}
}
