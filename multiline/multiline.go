// Package multiline joins the lines of one message written over several lines (stack
// traces, panics) back into one, with Fluent Bit's regex multiline parsers: the built-ins
// go, python and java (the same rules as Fluent Bit's src/multiline/flb_ml_parser_*.c) and
// the [MULTILINE_PARSER] sections of a configuration (type regex, flush_timeout, rule
// "from_states" "/regex/" "next_state").
//
// A rule whose from-states include start_state begins a message; a message goes on while
// a line matches a rule reachable from the state the last line left it in; a line that
// matches none ends it (and is a message of its own, or begins the next). When the state a
// rule leads to can begin a new message (python's last line leads to start_state), the
// message ends with that line. This is Fluent Bit's algorithm (flb_ml_rule.c), so the
// same input gives the same messages (checked against Fluent Bit v5.1.1's tail:
// TestSameMessagesAsFluentBit), quirks included: after a line no rule took, the state
// stays. A message is its lines, each with its '\n', as Fluent Bit's tail gives it.
//
// It reads no files and knows no records: the tail input feeds it lines and turns what
// it returns into records. Types endswith, equal and parser are not supported (a
// configuration error naming the key).
package multiline

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/regex"
)

// DefaultFlushTimeout is how long a message waits for its next line before it is
// emitted as it is: Fluent Bit's FLB_ML_FLUSH_TIMEOUT.
const DefaultFlushTimeout = 4 * time.Second

const startState = "start_state"

// rule is one transition: from any of its states, a line matching re leads to to.
type rule struct {
	from      []string
	re        *regex.Regexp
	to        string
	start     bool    // from includes start_state
	next      []*rule // the rules whose from includes to
	nextStart bool    // one of next is a start rule: a message ends with this rule's line
}

// Parser is a regex multiline parser.
type Parser struct {
	Name         string
	FlushTimeout time.Duration
	rules        []*rule
}

// RuleDef is one rule as written: its from-states (comma-separated), its regex (slashes
// around it are dropped) and its next state.
type RuleDef struct{ From, Regex, To string }

// New compiles a regex parser from its rules.
func New(name string, flush time.Duration, defs []RuleDef) (*Parser, error) {
	if flush <= 0 {
		flush = DefaultFlushTimeout
	}
	p := &Parser{Name: name, FlushTimeout: flush}
	hasStart := false
	for i, d := range defs {
		pat := d.Regex
		if len(pat) >= 2 && pat[0] == '/' && pat[len(pat)-1] == '/' {
			pat = pat[1 : len(pat)-1]
		}
		re, err := regex.Compile(pat)
		if err != nil {
			return nil, config.KeyErrorf("rule", "multiline parser %q: rule %d: %v", name, i+1, err)
		}
		r := &rule{re: re, to: strings.TrimSpace(d.To)}
		for _, f := range strings.Split(d.From, ",") {
			if f = strings.TrimSpace(f); f != "" {
				r.from = append(r.from, f)
				if f == startState {
					r.start = true
				}
			}
		}
		if len(r.from) == 0 || r.to == "" {
			return nil, config.KeyErrorf("rule", "multiline parser %q: rule %d: want \"state\" \"/regex/\" \"next_state\"", name, i+1)
		}
		hasStart = hasStart || r.start
		p.rules = append(p.rules, r)
	}
	if !hasStart {
		return nil, config.KeyErrorf("rule", "multiline parser %q: no rule from start_state", name)
	}
	for _, r := range p.rules {
		for _, n := range p.rules {
			for _, f := range n.from {
				if f == r.to {
					r.next = append(r.next, n)
					r.nextStart = r.nextStart || n.start
					break
				}
			}
		}
	}
	return p, nil
}

// FromSection builds a parser from a [MULTILINE_PARSER] section (classic: repeated
// `rule "state" "/regex/" "next"` keys; YAML: a rules list of state, regex, next_state).
func FromSection(s *config.Section) (*Parser, error) {
	name, typ := s.Name, "regex"
	flush := DefaultFlushTimeout
	var defs []RuleDef
	for _, p := range s.Props {
		switch strings.ToLower(p.Key) {
		case "name":
			name = p.Value
		case "type":
			typ = strings.ToLower(strings.TrimSpace(p.Value))
		case "flush_timeout":
			ms, err := strconv.Atoi(strings.TrimSpace(p.Value))
			if err != nil || ms <= 0 {
				return nil, config.Errorf(p, "flush_timeout: want milliseconds, got %q", p.Value)
			}
			flush = time.Duration(ms) * time.Millisecond
		case "rule":
			parts, err := splitQuoted(p.Value)
			if err != nil || len(parts) != 3 {
				return nil, config.Errorf(p, "rule: want \"state\" \"/regex/\" \"next_state\", got %s", p.Value)
			}
			defs = append(defs, RuleDef{parts[0], parts[1], parts[2]})
		case "key_content", "key_pattern", "key_group", "negate", "match_string", "parser":
			if strings.TrimSpace(p.Value) != "" && !strings.EqualFold(p.Key, "key_content") {
				return nil, config.Errorf(p, "%s: not supported: only type regex multiline parsers are", p.Key)
			}
		default:
			return nil, config.Errorf(p, "unknown key %q in multiline parser %q", p.Key, name)
		}
	}
	for _, c := range s.Children {
		if c.Kind != "rule" {
			continue
		}
		var d RuleDef
		for _, p := range c.Props {
			switch strings.ToLower(p.Key) {
			case "state":
				d.From = p.Value
			case "regex":
				d.Regex = p.Value
			case "next_state":
				d.To = p.Value
			default:
				return nil, config.Errorf(p, "unknown key %q in a rule (want state, regex, next_state)", p.Key)
			}
		}
		defs = append(defs, d)
	}
	if name == "" {
		return nil, config.SectionErrorf(s, "multiline parser without a name")
	}
	if typ != "regex" {
		return nil, config.SectionErrorf(s, "multiline parser %q: type %q is not supported: only regex is", name, typ)
	}
	p, err := New(name, flush, defs)
	if err != nil {
		return nil, config.SectionErrorf(s, "%v", err)
	}
	return p, nil
}

// splitQuoted splits `"a" "b c" "d"` into its quoted parts (\" and \\ escape inside);
// unquoted words count as parts too.
func splitQuoted(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unclosed quote")
			}
			out = append(out, b.String())
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

// Set is the multiline parsers a configuration may name: its own and the built-ins.
type Set struct{ byName map[string]*Parser }

// Load builds the set of cfg: the [MULTILINE_PARSER] sections of the files named by the
// service key parsers_file and of the configuration itself (which win).
func Load(cfg *config.Config) (*Set, error) {
	set := &Set{byName: map[string]*Parser{}}
	if cfg == nil {
		return set, nil
	}
	add := func(secs []*config.Section) error {
		for _, s := range secs {
			if s.Kind != "multiline_parser" {
				continue
			}
			p, err := FromSection(s)
			if err != nil {
				return err
			}
			set.byName[p.Name] = p
		}
		return nil
	}
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
		if err := add(pc.Other); err != nil {
			return nil, err
		}
	}
	if err := add(cfg.Other); err != nil {
		return nil, err
	}
	return set, nil
}

// Lookup returns the parser named name: the configuration's, else a built-in one (go,
// python, java).
func (s *Set) Lookup(name string) (*Parser, bool) {
	if s != nil {
		if p, ok := s.byName[name]; ok {
			return p, true
		}
	}
	return Builtin(name)
}
