// Package parser turns unstructured text into records, like Fluent Bit's parsers: json,
// regex (named groups), logfmt and ltsv, with the record's time read from a key.
//
// Parsers are defined in [PARSER] sections of a parsers file (the service key parsers_file,
// repeatable) or in the YAML `parsers:` list:
//
//	[PARSER]
//	    Name        apache
//	    Format      regex
//	    Regex       ^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+) (?<path>[^ ]*)"
//	    Time_Key    time
//	    Time_Format %d/%b/%Y:%H:%M:%S %z
//	    Types       code:integer size:integer
//
// Keys:
//
//   - name: the parser's name (required).
//   - format: json, regex, logfmt or ltsv (required).
//   - regex: for format regex, an Onigmo (Ruby syntax) expression as in Fluent Bit, whose
//     named groups ((?<name>...)) become the record's keys; /slashes/ around it are
//     dropped. See package internal/regex: RE2 runs it when it can, a backtracking
//     engine with a 1 s match timeout when it needs look-around, back-references,
//     atomic groups or possessive quantifiers; a match that times out is a failed parse.
//   - time_key (default time): the key holding the record's time.
//   - time_format: strptime-style format of time_key's value (see TimeFormat); without
//     it the time key is not interpreted and stays in the record.
//   - time_keep (default off): keep time_key in the record after reading the time.
//   - time_offset: the zone of times without one, e.g. +0900 (default UTC).
//   - time_system_timezone (default off): times without a zone are in the local zone.
//   - time_zone NAME: times without a zone are in this IANA zone (Europe/Berlin), from the
//     system's zone database; time_offset wins when both are given.
//   - types: "key:type ..." with type integer, float, bool, hex or string, converting
//     string values (a value that does not convert stays a string). As in Fluent Bit, an
//     entry without ':' is ignored and an unknown type (int, or "a:integer,b:float"
//     written with commas) leaves the value a string; each is a warning (Warnings).
//   - skip_empty_values (default on): regex groups that matched nothing are left out.
//   - logfmt_no_bare_keys (default off): a logfmt key without =value fails the parse
//     (otherwise its value is true).
//   - time_strict, decode_field, decode_field_as: accepted so Fluent Bit files load; no
//     effect.
//
// Built-in parsers: syslog-rfc5424, syslog-rfc3164 and syslog-rfc3164-local are defined
// as in Fluent Bit's conf/parsers.conf (see Builtin), so the syslog input's defaults work
// without a parsers file; a parser of the same name in the configuration replaces one.
//
// Use from a plugin: the parsers a plugin may name are those of the configuration it is
// built from. Implement pipeline.ConfigAware to be given that configuration, build its set
// with Load, resolve the parser by name once in Validate (set.Lookup("apache"): an unknown
// name is a configuration error), then call p.Parse(data) per message. There is no
// process-wide set: two agents in one process, a configuration being checked and a reload
// that fails each see only their own parsers.
//
// Differences from Fluent Bit: a few Onigmo constructs are not supported and are a
// configuration error naming them (subexpression calls \g<name>, \K, absent operator,
// class intersection &&); a time that does not match
// time_format leaves the key in the record and the time zero, with an error wrapping
// ErrTime that callers log (Fluent Bit logs a warning and uses the current time, as ours
// do when they get a zero time).
package parser

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
)

// Definition is one parser's keys as written in configuration.
type Definition struct {
	Name               string   `conf:"name"`
	Format             string   `conf:"format"`
	Regex              string   `conf:"regex"`
	TimeKey            string   `conf:"time_key"`
	TimeFormat         string   `conf:"time_format"`
	TimeKeep           bool     `conf:"time_keep"`
	TimeOffset         string   `conf:"time_offset"`
	TimeSystemTimezone bool     `conf:"time_system_timezone"`
	TimeZone           string   `conf:"time_zone"`
	Types              string   `conf:"types"`
	SkipEmptyValues    bool     `conf:"skip_empty_values"`
	LogfmtNoBareKeys   bool     `conf:"logfmt_no_bare_keys"`
	TimeStrict         bool     `conf:"time_strict"`
	DecodeField        []string `conf:"decode_field"`
	DecodeFieldAs      []string `conf:"decode_field_as"`
}

// DefaultDefinition returns a Definition with Fluent Bit's defaults.
func DefaultDefinition() Definition {
	return Definition{TimeKey: "time", SkipEmptyValues: true}
}

type format int

const (
	formatJSON format = iota
	formatRegex
	formatLogfmt
	formatLTSV
)

type valueType int

const (
	typeString valueType = iota
	typeInteger
	typeFloat
	typeBool
	typeHex
)

// Parser is a compiled parser. It is immutable and safe for concurrent use.
type Parser struct {
	def    Definition
	format format
	re     *regex.Regexp
	names  []string // re's group names ("" for unnamed)
	tf     *TimeFormat
	loc    *time.Location
	types  map[string]valueType
	now    func() time.Time
	warns  []error
}

// ErrTime is wrapped by Parse's error when the time key's value does not match time_format.
// The event is still returned: the record is good, only its time is unknown.
var ErrTime = errors.New("parser: time does not match time_format")

// New compiles d. Errors are config.KeyErrorf errors naming the key at fault.
func New(d Definition) (*Parser, error) {
	p := &Parser{def: d, loc: time.UTC, now: time.Now}
	if strings.TrimSpace(d.Name) == "" {
		return nil, config.KeyErrorf("name", "a parser needs a name")
	}
	switch strings.ToLower(strings.TrimSpace(d.Format)) {
	case "json":
		p.format = formatJSON
	case "regex":
		p.format = formatRegex
		pat := d.Regex
		if len(pat) >= 2 && pat[0] == '/' && pat[len(pat)-1] == '/' {
			pat = pat[1 : len(pat)-1]
		}
		if pat == "" {
			return nil, config.KeyErrorf("regex", "parser %q: format regex needs a regex", d.Name)
		}
		re, err := regex.Compile(pat)
		if err != nil {
			return nil, config.KeyErrorf("regex", "parser %q: %v", d.Name, err)
		}
		p.re, p.names = re, re.SubexpNames()
	case "logfmt":
		p.format = formatLogfmt
	case "ltsv":
		p.format = formatLTSV
	case "":
		return nil, config.KeyErrorf("format", "parser %q: no format (want json, regex, logfmt or ltsv)", d.Name)
	default:
		return nil, config.KeyErrorf("format", "parser %q: unknown format %q (want json, regex, logfmt or ltsv)", d.Name, d.Format)
	}
	if d.TimeFormat != "" {
		tf, err := CompileTimeFormat(d.TimeFormat)
		if err != nil {
			return nil, config.KeyErrorf("time_format", "parser %q: %v", d.Name, err)
		}
		p.tf = tf
	}
	if d.TimeSystemTimezone {
		p.loc = time.Local
	}
	if d.TimeZone != "" {
		loc, err := time.LoadLocation(d.TimeZone)
		if err != nil {
			return nil, config.KeyErrorf("time_zone", "parser %q: %v", d.Name, err)
		}
		p.loc = loc
	}
	if d.TimeOffset != "" {
		off, err := ParseOffset(d.TimeOffset)
		if err != nil {
			return nil, config.KeyErrorf("time_offset", "parser %q: %v", d.Name, err)
		}
		p.loc = time.FixedZone(d.TimeOffset, off)
	}
	if strings.TrimSpace(d.Types) != "" {
		p.types = map[string]valueType{}
		// As Fluent Bit's proc_types_str: entries split at spaces, one without ':' is
		// skipped, an unknown type name leaves the value a string. Each is a warning here.
		for _, f := range strings.Fields(d.Types) {
			k, t, ok := strings.Cut(f, ":")
			if !ok || k == "" {
				p.warns = append(p.warns, config.KeyErrorf("types", "parser %q: %q is not key:type; ignored, as Fluent Bit does", d.Name, f))
				continue
			}
			var vt valueType
			switch strings.ToLower(t) {
			case "integer":
				vt = typeInteger
			case "float":
				vt = typeFloat
			case "bool":
				vt = typeBool
			case "hex":
				vt = typeHex
			case "string":
				vt = typeString
			default:
				hint := ""
				if strings.Contains(t, ",") {
					hint = " (entries are separated by spaces, not commas)"
				} else if strings.EqualFold(t, "int") {
					hint = " (did you mean integer?)"
				}
				p.warns = append(p.warns, config.KeyErrorf("types",
					"parser %q: %q: unknown type %q: the value stays a string, as in Fluent Bit%s", d.Name, f, t, hint))
				vt = typeString
			}
			p.types[k] = vt
		}
	}
	return p, nil
}

// Warnings returns what New accepted the way Fluent Bit does but a person should look at
// (Types entries Fluent Bit ignores). Each names the key.
func (p *Parser) Warnings() []error { return p.warns }

// FromSection decodes and compiles a [PARSER] section (or a YAML parsers entry).
// Errors name the file, line and key.
func FromSection(s *config.Section) (*Parser, error) {
	d := DefaultDefinition()
	d.Name = s.Name
	if err := config.Decode(s.Props, &d); err != nil {
		return nil, err
	}
	if d.Name == "" {
		d.Name = s.Name
	}
	p, err := New(d)
	if err != nil {
		return nil, config.Place(s, "parser", err)
	}
	for i, w := range p.warns {
		p.warns[i] = config.Place(s, "parser", w)
	}
	return p, nil
}

// Name returns the parser's name.
func (p *Parser) Name() string { return p.def.Name }

// Definition returns the keys the parser was made from.
func (p *Parser) Definition() Definition { return p.def }

// Parse turns data into an event. Its Time is zero when the parser has no time_format or
// the time key is missing (the caller then uses its own time, e.g. now). A message the
// format cannot read (not a JSON object, no regex match, a bare logfmt key when those are
// refused) is an error and no event. A time that does not match time_format returns the
// event (time key kept, Time zero) and an error wrapping ErrTime.
func (p *Parser) Parse(data []byte) (event.Event, error) {
	var rec event.Map
	var err error
	switch p.format {
	case formatJSON:
		rec, err = event.RecordFromJSON(data)
		if err != nil {
			return event.Event{}, fmt.Errorf("parser %s: %w", p.def.Name, err)
		}
	case formatRegex:
		rec, err = p.parseRegex(data)
	case formatLogfmt:
		rec, err = p.parseLogfmt(data)
	case formatLTSV:
		rec = p.parseLTSV(data)
	}
	if err != nil {
		return event.Event{}, err
	}
	if p.types != nil {
		for i := range rec {
			if vt, ok := p.types[rec[i].Key]; ok {
				if s, ok := rec[i].Value.(string); ok {
					rec[i].Value = convert(s, vt)
				}
			}
		}
	}
	ev := event.Event{Record: rec}
	if p.tf == nil {
		return ev, nil
	}
	v, ok := rec.Get(p.def.TimeKey)
	if !ok {
		return ev, nil
	}
	s, ok := v.(string)
	if !ok {
		return ev, nil
	}
	t, terr := p.tf.Parse(s, p.loc, p.now())
	if terr != nil {
		return ev, fmt.Errorf("parser %s: %w: %v", p.def.Name, ErrTime, terr)
	}
	ev.Time = t
	if !p.def.TimeKeep {
		ev.Record.Delete(p.def.TimeKey)
	}
	return ev, nil
}

// ParseString is Parse for a string.
func (p *Parser) ParseString(s string) (event.Event, error) { return p.Parse([]byte(s)) }

func (p *Parser) parseRegex(data []byte) (event.Map, error) {
	// FindSubmatchIndex on a string avoids copying every group: one string, then slices.
	s := string(data)
	m, err := p.re.FindStringSubmatchIndex(s)
	if err != nil {
		return nil, fmt.Errorf("parser %s: %w", p.def.Name, err)
	}
	if m == nil {
		return nil, fmt.Errorf("parser %s: no regex match", p.def.Name)
	}
	rec := make(event.Map, 0, len(p.names))
	for i, name := range p.names {
		if i == 0 || name == "" {
			continue
		}
		a, b := m[2*i], m[2*i+1]
		if a < 0 {
			if !p.def.SkipEmptyValues {
				rec.Set(name, "")
			}
			continue
		}
		if a == b && p.def.SkipEmptyValues {
			continue
		}
		rec.Set(name, s[a:b])
	}
	return rec, nil
}

// parseLogfmt reads key=value pairs separated by spaces; values may be "quoted" with \"
// \\ \n \t escapes; a bare key is true.
func (p *Parser) parseLogfmt(data []byte) (event.Map, error) {
	rec := event.Map{}
	i := 0
	for i < len(data) {
		for i < len(data) && (data[i] <= ' ') {
			i++
		}
		if i >= len(data) {
			break
		}
		start := i
		for i < len(data) && data[i] > ' ' && data[i] != '=' && data[i] != '"' {
			i++
		}
		if i == start {
			// A stray quote or '=' where a key should be: skip the token.
			for i < len(data) && data[i] > ' ' {
				i++
			}
			continue
		}
		key := string(data[start:i])
		if i >= len(data) || data[i] != '=' {
			if p.def.LogfmtNoBareKeys {
				return nil, fmt.Errorf("parser %s: logfmt: bare key %q", p.def.Name, key)
			}
			rec.Set(key, true)
			continue
		}
		i++ // '='
		if i < len(data) && data[i] == '"' {
			i++
			var b []byte
			closed := false
			vs := i
			for i < len(data) {
				c := data[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(data) {
					if b == nil {
						b = append([]byte{}, data[vs:i]...)
					}
					switch data[i+1] {
					case 'n':
						b = append(b, '\n')
					case 't':
						b = append(b, '\t')
					case 'r':
						b = append(b, '\r')
					default:
						b = append(b, data[i+1])
					}
					i += 2
					continue
				}
				if b != nil {
					b = append(b, c)
				}
				i++
			}
			if !closed {
				return nil, fmt.Errorf("parser %s: logfmt: unterminated quoted value for %q", p.def.Name, key)
			}
			if b != nil {
				rec.Set(key, string(b))
			} else {
				rec.Set(key, string(data[vs:i-1]))
			}
			continue
		}
		vs := i
		for i < len(data) && data[i] > ' ' {
			i++
		}
		rec.Set(key, string(data[vs:i]))
	}
	return rec, nil
}

// parseLTSV reads label:value fields separated by tabs; a field without ':' is skipped.
func (p *Parser) parseLTSV(data []byte) event.Map {
	rec := event.Map{}
	for len(data) > 0 {
		var field []byte
		if i := indexByte(data, '\t'); i >= 0 {
			field, data = data[:i], data[i+1:]
		} else {
			field, data = data, nil
		}
		if n := len(field); n > 0 && field[n-1] == '\n' {
			field = field[:n-1]
			if n := len(field); n > 0 && field[n-1] == '\r' {
				field = field[:n-1]
			}
		}
		c := indexByte(field, ':')
		if c <= 0 {
			continue
		}
		rec.Set(string(field[:c]), string(field[c+1:]))
	}
	return rec
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func convert(s string, vt valueType) any {
	switch vt {
	case typeInteger:
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n
		}
	case typeFloat:
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f
		}
	case typeBool:
		return strings.EqualFold(s, "true") || s == "1" || strings.EqualFold(s, "on") || strings.EqualFold(s, "yes")
	case typeHex:
		t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
		if n, err := strconv.ParseUint(t, 16, 64); err == nil {
			if n <= 1<<63-1 {
				return int64(n)
			}
			return n
		}
	}
	return s
}

// Set is a collection of parsers by name.
type Set struct {
	byName map[string]*Parser
}

// Warnings returns the warnings of the set's parsers (see Parser.Warnings), by parser
// name.
func (s *Set) Warnings() []error {
	if s == nil {
		return nil
	}
	var out []error
	for _, n := range s.Names() {
		out = append(out, s.byName[n].warns...)
	}
	return out
}

// NewSet returns a set holding ps; a later parser replaces an earlier one of the same name.
func NewSet(ps ...*Parser) *Set {
	s := &Set{byName: map[string]*Parser{}}
	for _, p := range ps {
		s.byName[p.def.Name] = p
	}
	return s
}

// Lookup returns the parser named name: the set's, else a built-in one (see Builtin).
func (s *Set) Lookup(name string) (*Parser, bool) {
	if s != nil {
		if p, ok := s.byName[name]; ok {
			return p, true
		}
	}
	return Builtin(name)
}

// Names lists the parsers in the set, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Load builds the set a configuration defines: the parsers of every file named by the
// service key parsers_file (relative paths are relative to the file that names them), then
// cfg.Parsers (the [PARSER] sections and YAML parsers list of the configuration itself),
// which win over a file's parser of the same name.
func Load(cfg *config.Config) (*Set, error) {
	set := NewSet()
	for _, prop := range cfg.Service.Props {
		if !strings.EqualFold(prop.Key, "parsers_file") {
			continue
		}
		path := prop.Value
		if !filepath.IsAbs(path) && prop.File != "" {
			path = filepath.Join(filepath.Dir(prop.File), path)
		}
		pc, err := config.Load(path)
		if err != nil {
			return nil, config.Errorf(prop, "parsers file: %v", err)
		}
		for _, s := range pc.Parsers {
			p, err := FromSection(s)
			if err != nil {
				return nil, err
			}
			set.byName[p.def.Name] = p
		}
	}
	for _, s := range cfg.Parsers {
		p, err := FromSection(s)
		if err != nil {
			return nil, err
		}
		set.byName[p.def.Name] = p
	}
	return set, nil
}
