package parser_test

import (
	"fmt"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/parser"
)

// An input that takes a `parser` key resolves it once, then parses each message. The
// parsers are those of the configuration the plugin is built from (given to it through
// pipeline.ConfigAware); here that configuration is written inline.
func Example() {
	cfg, err := config.ParseYAML("fluent-bit.yaml", []byte(`
parsers:
  - name: sensor
    format: regex
    regex: '^(?<id>\w+) t=(?<temp>[-\d.]+) at (?<time>\S+)$'
    time_key: time
    time_format: '%Y-%m-%dT%H:%M:%S%z'
    types: temp:float
`))
	if err != nil {
		panic(err)
	}
	set, err := parser.Load(cfg)
	if err != nil {
		panic(err)
	}
	p, ok := set.Lookup("sensor") // in the input's Validate: unknown names are config errors
	if !ok {
		panic("no parser")
	}
	ev, err := p.Parse([]byte("probe7 t=21.5 at 2024-05-01T12:00:00+02:00"))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Record.Value("id"), ev.Record.Value("temp"), ev.Time.UTC())
	// Output: probe7 21.5 2024-05-01 10:00:00 +0000 UTC
}
