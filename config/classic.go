package config

// The classic format, as Fluent Bit reads it (src/config_format/flb_cf_fluentbit.c):
//
//	[SECTION]            a header at the start of a line; the name is case-insensitive
//	    Key  value       an indented key, whitespace, the value up to the end of the line
//	    # comment        comments fill whole lines; there are no end-of-line comments
//	@INCLUDE file.conf   commands start at the beginning of a line
//	@SET KEY=VALUE
//
// Differences, chosen to be friendlier while still catching mistakes:
//   - Fluent Bit fixes the indentation once per file; here each section fixes its own, from
//     its first key. Within a section every key must use exactly the same indentation
//     (so a tab in one line and spaces in another is an error, as in Fluent Bit).
//   - Comment lines may have any indentation.
//   - Key and value may be separated by tabs as well as spaces.
//   - Unknown sections, unknown @commands, text after a header's ']' and indented headers
//     or commands are errors instead of being ignored or misread.
//   - Fluent Bit's "groups" (an indented [name] inside a section) are not supported.
//
// A command does not end the current section: keys after an @INCLUDE still belong to the
// section before it, as in Fluent Bit.

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// classicSections maps a header, lower-cased, to the Kind of its section.
var classicSections = map[string]string{
	"service": "service", "input": "input", "filter": "filter", "output": "output",
	"parser": "parser", "multiline_parser": "multiline_parser", "upstream": "upstream",
	"node": "node", "custom": "custom", "plugins": "plugins",
}

const classicSectionList = "SERVICE, INPUT, FILTER, OUTPUT, PARSER, MULTILINE_PARSER, UPSTREAM, NODE, CUSTOM, PLUGINS"

func (p *parser) parseClassic(file string, data []byte) error {
	text := strings.TrimPrefix(string(data), "\uFEFF")
	var (
		cur       *Section // section the next keys belong to
		indent    string   // indentation of cur's keys, once its first key is read
		indentSet bool
	)
	for i, raw := range strings.Split(text, "\n") {
		line := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		body := strings.TrimLeft(raw, " \t")
		lead := raw[:len(raw)-len(body)]
		body = strings.TrimRight(body, " \t\r\v\f")
		if body == "" || body[0] == '#' {
			continue
		}
		if lead == "" {
			switch body[0] {
			case '[':
				s, err := p.classicHeader(file, line, body)
				if err != nil {
					return err
				}
				cur, indentSet = s, false
			case '@':
				if err := p.classicCommand(file, line, body); err != nil {
					return err
				}
			default:
				if cur == nil {
					return errAt(file, line, "", "expected a [SECTION] header, @INCLUDE or @SET, found %q", clip(body))
				}
				return errAt(file, line, "", "key line %q must be indented under its [%s] header", clip(body), strings.ToUpper(cur.Kind))
			}
			continue
		}
		switch {
		case body[0] == '[':
			return errAt(file, line, "", "section header %q must start at the beginning of the line (groups of keys are not supported)", clip(body))
		case body[0] == '@':
			return errAt(file, line, "", "command %q must start at the beginning of the line", clip(body))
		case cur == nil:
			return errAt(file, line, "", "key line %q is outside any section", clip(body))
		}
		if !indentSet {
			indent, indentSet = lead, true
		} else if lead != indent {
			return errAt(file, line, "", "indentation %s differs from the %s of the section's first key", describeIndent(lead), describeIndent(indent))
		}
		key, value := body, ""
		if j := strings.IndexAny(body, " \t"); j >= 0 {
			key, value = body[:j], strings.TrimLeft(body[j:], " \t")
		}
		if value == "" {
			return errAt(file, line, strings.ToLower(key), "key has no value")
		}
		if err := p.addProp(cur, key, value, file, line); err != nil {
			return err
		}
	}
	return nil
}

// classicHeader reads a [SECTION] line and makes the section.
func (p *parser) classicHeader(file string, line int, body string) (*Section, error) {
	end := strings.IndexByte(body, ']')
	if end < 0 {
		return nil, errAt(file, line, "", "section header %q has no closing ]", clip(body))
	}
	if rest := strings.TrimSpace(body[end+1:]); rest != "" {
		return nil, errAt(file, line, "", "unexpected text %q after section header", clip(rest))
	}
	name := strings.TrimSpace(body[1:end])
	kind, ok := classicSections[strings.ToLower(name)]
	if !ok {
		return nil, errAt(file, line, "", "unknown section [%s]; expected one of %s", clip(name), classicSectionList)
	}
	var parent *Section
	if kind == "node" {
		if p.lastUpstream == nil {
			return nil, errAt(file, line, "", "[NODE] must follow an [UPSTREAM] section")
		}
		parent = p.lastUpstream
	}
	return p.newSection(kind, file, line, parent), nil
}

// classicCommand runs an @INCLUDE or @SET line.
func (p *parser) classicCommand(file string, line int, body string) error {
	cmd, arg := body, ""
	if j := strings.IndexAny(body, " \t"); j >= 0 {
		cmd, arg = body[:j], strings.TrimSpace(body[j:])
	}
	switch strings.ToUpper(cmd) {
	case "@INCLUDE":
		if arg == "" {
			return errAt(file, line, "", "@INCLUDE needs a file name")
		}
		return p.include(file, line, "", arg)
	case "@SET":
		k, v, ok := strings.Cut(arg, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return errAt(file, line, "", "@SET wants KEY=VALUE, found %q", clip(arg))
		}
		p.vars[k] = strings.TrimSpace(v)
		return nil
	}
	return errAt(file, line, "", "unknown command %s; expected @INCLUDE or @SET", clip(cmd))
}

func describeIndent(s string) string {
	tabs := strings.Count(s, "\t")
	spaces := len(s) - tabs
	switch {
	case tabs == 0:
		return plural(spaces, "space")
	case spaces == 0:
		return plural(tabs, "tab")
	}
	return plural(spaces, "space") + " and " + plural(tabs, "tab")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
