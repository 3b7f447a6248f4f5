package fluentbit_test

import (
	"context"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"sort"
	"sync"

	fluentbit "github.com/fluentbit-go/fluentbit-go"
	"github.com/fluentbit-go/fluentbit-go/config"
	_ "github.com/fluentbit-go/fluentbit-go/filters/grep"
)

// printOutput is a user's own output: it prints each record's message.
type printOutput struct {
	mu    sync.Mutex
	lines []string
}

func (p *printOutput) Flush(ctx context.Context, c *fluentbit.Chunk) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return c.Events(func(ev fluentbit.Event) error {
		p.lines = append(p.lines, fmt.Sprintf("%s: %v", c.Tag, ev.Record.Value("msg")))
		return nil
	})
}

var printed = &printOutput{}

func init() {
	fluentbit.RegisterOutput("example_print", func() fluentbit.Output { return printed })
}

// Push records from your own program through a grep filter to your own output.
func Example() {
	cfg, err := config.Parse("inline.yaml", []byte(`
service:
  flush: 1
pipeline:
  filters:
    - name: grep
      match: 'app.*'
      exclude: level ^debug$
  outputs:
    - name: example_print
      match: '*'
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	agent, err := fluentbit.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := agent.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_ = agent.Push("app.sensor", event.Map{{"msg", "temperature 21.5"}, {"level", "info"}})
	_ = agent.Push("app.sensor", event.Map{{"msg", "raw adc 1023"}, {"level", "debug"}})
	_ = agent.Push("app.sensor", event.Map{{"msg", "humidity 48%"}, {"level", "info"}})
	if err := agent.Stop(ctx); err != nil { // flushes what is buffered
		fmt.Println(err)
	}
	sort.Strings(printed.lines)
	for _, l := range printed.lines {
		fmt.Println(l)
	}
	// Output:
	// app.sensor: humidity 48%
	// app.sensor: temperature 21.5
}
