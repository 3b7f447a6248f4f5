// Package tcp receives records over TCP, like Fluent Bit's tcp input: JSON objects one
// after another (format json, the default) or lines of text (format none, each line a
// record {"log": line}), optionally over TLS.
//
//	[INPUT]
//	    Name    tcp
//	    Listen  0.0.0.0
//	    Port    5170
//	    Format  none
//
// Keys: listen (0.0.0.0), port (5170; 0 picks a free one), format json|none, separator
// (format none; default "\n", escapes \n \r \t \0 \\ understood), chunk_size (32: a
// connection's buffer grows by this many kilobytes), buffer_size (64: a connection's
// largest message, in kilobytes; a longer one closes the connection, logged),
// source_address_key (adds "tcp://host:port" of the client), parser (format none: parse
// each line), tls, tls.crt_file, tls.key_file, tls.ca_file, tls.verify (see
// internal/tlsconf), workers (accepted; one reader per connection). See docs/tcp-udp.md.
package tcp

import (
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/netserver"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the tcp input.
type Input struct {
	netserver.LineInput
	tlsconf.ServerSettings // tls, tls.verify, tls.ca_file, tls.crt_file, tls.key_file, ...
}

// New returns a tcp input with Fluent Bit's defaults.
func New() *Input {
	in := &Input{ServerSettings: tlsconf.DefaultServer()}
	in.LineInput = netserver.NewLineInput("tcp", netserver.TCP, &in.ServerSettings)
	return in
}

func init() { pipeline.RegisterInput("tcp", func() pipeline.Input { return New() }) }

// Interface guards.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
	_ pipeline.Closer      = (*Input)(nil)
	_ pipeline.ConfigAware = (*Input)(nil)
)

// Validate checks the keys, TLS ones included.
func (in *Input) Validate() error { return in.LineInput.Validate() }
