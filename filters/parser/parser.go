// Package parser is the parser filter: it parses the text of one key of a record with
// named parsers (package parser) and replaces the record with the result, like Fluent
// Bit's parser filter.
//
//	[FILTER]
//	    Name         parser
//	    Match        dummy.*
//	    Key_Name     data
//	    Parser       dummy_test
//	    Parser       json
//	    Reserve_Data On
//
// Keys:
//
//   - key_name KEY (required): the key whose string value is parsed; a record accessor
//     ($log, $kubernetes['raw']) or a plain key.
//   - parser NAME (repeatable, at least one): parsers tried in order; the first that
//     reads the value wins. Names are looked up among the parsers the filter's own
//     configuration defines ([PARSER] sections, parsers_file, YAML parsers:), when the
//     filter is configured, so an unknown name is a configuration error. A program that
//     builds the filter in code sets Parsers instead.
//   - preserve_key on|off (default off): keep key_name in the result.
//   - reserve_data on|off (default off): keep the record's other keys beside the parsed
//     ones (a parsed key wins over an original key of the same name).
//   - unescape_key: accepted so Fluent Bit configs load (deprecated there); no effect.
//
// Behaviour, as in Fluent Bit: a record whose key is missing or not a string, or that no
// parser can read, passes unchanged. When the parser reads a time (time_key with
// time_format) the record takes that time; otherwise it keeps its own. A time that does not
// match time_format keeps the record's time and the time key (see package parser).
package parser

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Filter is the parser filter.
type Filter struct {
	KeyName     string   `conf:"key_name"`
	Parser      []string `conf:"parser"`
	PreserveKey bool     `conf:"preserve_key"`
	ReserveData bool     `conf:"reserve_data"`
	UnescapeKey bool     `conf:"unescape_key"`

	// Parsers, when set before Validate, are used instead of looking Parser names up:
	// for programs that build parsers in code.
	Parsers []*parser.Parser

	cfg *config.Config // the configuration the filter is built from (SetConfig)
	key *accessor.Accessor
	log *slog.Logger
}

// SetConfig gives the filter the configuration it is built from: its parser names are
// looked up among the parsers that configuration defines.
func (f *Filter) SetConfig(cfg *config.Config) { f.cfg = cfg }

func init() {
	pipeline.RegisterFilter("parser", func() pipeline.Filter { return &Filter{} })
}

// Validate resolves the key and the parsers.
func (f *Filter) Validate() error {
	if f.KeyName == "" {
		return config.KeyErrorf("key_name", "missing: name the key to parse")
	}
	a, err := accessor.Parse(f.KeyName)
	if err != nil {
		return config.KeyErrorf("key_name", "%v", err)
	}
	f.key = a
	if len(f.Parser) > 0 {
		set := parser.NewSet()
		if f.cfg != nil {
			set, err = parser.Load(f.cfg)
			if err != nil {
				return err // placed at the parser's own section or parsers_file key
			}
		}
		ps := make([]*parser.Parser, 0, len(f.Parser))
		for _, name := range f.Parser {
			p, ok := set.Lookup(name)
			if !ok {
				return config.KeyErrorf("parser", "no parser named %q is defined (define it in a [PARSER] section, a parsers_file or the YAML parsers list)", name)
			}
			ps = append(ps, p)
		}
		f.Parsers = ps
	}
	if len(f.Parsers) == 0 {
		return config.KeyErrorf("parser", "missing: name at least one parser")
	}
	return nil
}

// Init resolves the keys (if Validate has not run) and keeps the logger.
func (f *Filter) Init(_ context.Context, env pipeline.Env) error {
	f.log = env.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.key == nil {
		return f.Validate()
	}
	return nil
}

// Filter parses the key's value and replaces the record.
func (f *Filter) Filter(_ string, ev *event.Event) (pipeline.Verdict, error) {
	v, ok := f.key.Get(ev.Record)
	if !ok {
		return pipeline.Keep, nil
	}
	var data []byte
	switch s := v.(type) {
	case string:
		data = []byte(s)
	case []byte:
		data = s
	default:
		return pipeline.Keep, nil
	}
	var parsed event.Event
	var perr error
	found := false
	for _, p := range f.Parsers {
		parsed, perr = p.Parse(data)
		if perr == nil || errors.Is(perr, parser.ErrTime) {
			found = true
			break
		}
	}
	if !found {
		if errors.Is(perr, regex.ErrTimeout) && f.log != nil {
			f.log.Warn("parser: regex match timed out; record kept unparsed", "err", perr)
		}
		return pipeline.Keep, nil
	}
	if perr != nil && f.log != nil {
		f.log.Debug("parser: time not read", "err", perr)
	}
	rec := parsed.Record
	if f.ReserveData {
		if !f.PreserveKey {
			f.key.Delete(&ev.Record)
		}
		for _, kv := range ev.Record {
			if !rec.Has(kv.Key) {
				rec = append(rec, kv)
			}
		}
	}
	if f.PreserveKey {
		if _, dup := f.key.Get(rec); !dup {
			f.key.Set(&rec, v)
		}
	}
	ev.Record = rec
	if !parsed.Time.IsZero() {
		ev.Time = parsed.Time
	}
	return pipeline.Keep, nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*Filter)(nil)
	_ pipeline.Validator   = (*Filter)(nil)
	_ pipeline.Initializer = (*Filter)(nil)
	_ pipeline.ConfigAware = (*Filter)(nil)
)
