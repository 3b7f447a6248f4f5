package fluentbit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	_ "github.com/fluentbit-go/fluentbit-go/filters/grep"
	"github.com/fluentbit-go/fluentbit-go/internal/poll"
)

// wordsInput emits n records {"w": "0"}, {"w": "1"}, ... (strings: grep matches strings).
type wordsInput struct {
	N int `conf:"n"`
}

func (w *wordsInput) Run(ctx context.Context, em fluentbit.Emitter) error {
	for i := 0; i < w.N; i++ {
		if err := em.Emit("", fluentbit.Event{Record: fluentbit.Map{{"w", strconv.Itoa(i)}}}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func init() { fluentbit.RegisterInput("test_words", func() fluentbit.Input { return &wordsInput{} }) }

// YAML processors run on their own plugin's records only: the input's before routing (for
// every output), an output's for that output alone.
func TestProcessorsOnInputAndOutput(t *testing.T) {
	cfg := parse(t, `
service:
  flush: 3600
pipeline:
  inputs:
    - name: test_words
      tag: words
      n: 10
      processors:
        logs:
          - name: grep
            regex: w ^[0-4]$
          - name: modify
            add: stage input
  outputs:
    - name: test_sink
      match: '*'
      sink: SINK_plain
    - name: test_sink
      match: '*'
      sink: SINK_processed
      processors:
        logs:
          - name: modify
            add: out second
          - name: grep
            exclude: w ^0$
`)
	agent, err := fluentbit.New(cfg, fluentbit.WithLogger(discard()), fluentbit.WithoutPush())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The input emits at once; Stop flushes what it holds (flush is an hour).
	if !poll.Until(10*time.Second, func() bool { return agent.Metrics().Inputs[0].Records == 10 }) {
		t.Fatal("the input did not emit its 10 records")
	}
	if err := agent.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	p0, _ := agent.Config().Outputs[0].Get("sink")
	p1, _ := agent.Config().Outputs[1].Get("sink")
	plain, processed := getSink(p0.Value), getSink(p1.Value)
	if plain.count() != 5 {
		t.Fatalf("plain output got %d records, want the 5 the input's grep keeps", plain.count())
	}
	for _, r := range plain.recs {
		if r["stage"] != "input" || r["out"] != nil {
			t.Errorf("plain output record %v: want the input's processor's key only", r)
		}
	}
	if processed.count() != 4 {
		t.Fatalf("processed output got %d records, want 4", processed.count())
	}
	for _, r := range processed.recs {
		if r["stage"] != "input" || r["out"] != "second" || r["w"] == "0" {
			t.Errorf("processed output record %v", r)
		}
	}
}
