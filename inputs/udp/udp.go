// Package udp receives records over UDP, like Fluent Bit's udp input: each datagram holds
// JSON objects (format json, the default) or lines of text (format none, each line a
// record {"log": line}).
//
//	[INPUT]
//	    Name    udp
//	    Listen  0.0.0.0
//	    Port    5170
//	    Format  none
//
// Keys: listen (0.0.0.0), port (5170; 0 picks a free one), format json|none, separator
// (format none; default "\n"), chunk_size (32, kilobytes: accepted), buffer_size (64,
// kilobytes: the largest datagram read whole; a longer one is cut, logged),
// source_address_key (adds "udp://host:port" of the sender), parser (format none: parse
// each line), workers (accepted; one reader). See docs/tcp-udp.md.
package udp

import (
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/netserver"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the udp input.
type Input struct {
	netserver.LineInput
}

// New returns a udp input with Fluent Bit's defaults.
func New() *Input {
	return &Input{LineInput: netserver.NewLineInput("udp", netserver.UDP, nil)}
}

func init() { pipeline.RegisterInput("udp", func() pipeline.Input { return New() }) }

// Interface guards.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
	_ pipeline.ConfigAware = (*Input)(nil)
)
