package config

// How both formats come into one model:
//
//   - Keys are stored lower-case (Fluent Bit compares them without case), values as written.
//     The `name` key of a plugin, parser, multiline parser, upstream or node section becomes
//     Section.Name instead of a property; such a section without a name is an error.
//   - Sections and properties keep the order of the files, with an included file's sections
//     at the place of its @INCLUDE / `includes` entry.
//   - Variables (classic @SET KEY=VALUE, YAML `env`) are global: every ${VAR} in every value
//     of every file is expanded after all files are read, from the variables first, then from
//     the process environment. A variable defined twice takes its last value. Values of
//     variables are not expanded again, and include paths are not expanded at all.
//     An undefined variable expands to "" as in Fluent Bit (so a config written for it
//     behaves the same), and each such use is reported in Config.Warnings.
//   - Includes are relative to the including file, may be globs (matches are read in
//     lexical order; a glob matching nothing is a warning, a missing plain path an error),
//     may be of either format (chosen by extension), and may not form a cycle. As in Fluent
//     Bit, one file included twice is an error, which also keeps a glob and an explicit
//     include of the same file from doubling its inputs.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	// maxIncludedFiles bounds the files one configuration may read (Fluent Bit: 1000).
	maxIncludedFiles = 1000
	// maxFileSize bounds one included file, so a glob that reaches a log directory fails
	// quickly instead of reading gigabytes.
	maxFileSize = 16 << 20
)

// Load reads the configuration file at path: YAML when its name ends in .yaml or .yml,
// the classic format otherwise.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a configuration held in data as if it were the file name: YAML when name
// ends in .yaml or .yml, classic otherwise. Includes are resolved relative to
// filepath.Dir(name).
func Parse(name string, data []byte) (*Config, error) {
	if isYAMLName(name) {
		return ParseYAML(name, data)
	}
	return ParseClassic(name, data)
}

// ParseYAML reads a configuration in Fluent Bit's YAML schema; name is used for includes
// and error messages.
func ParseYAML(name string, data []byte) (*Config, error) {
	return newParser(osFS{}).run(name, data, true)
}

// ParseClassic reads a configuration in Fluent Bit's classic .conf format; name is used
// for includes and error messages.
func ParseClassic(name string, data []byte) (*Config, error) {
	return newParser(osFS{}).run(name, data, false)
}

func isYAMLName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// fileSystem is what includes need; tests and fuzzing use one held in memory so that
// generated input cannot read the real disk.
type fileSystem interface {
	ReadFile(path string) ([]byte, error)
	Glob(pattern string) ([]string, error)
	// Canonical names the file path refers to, so that two spellings of one file (or a
	// symbolic link to it) are recognised as the same when looking for cycles.
	Canonical(path string) string
}

type osFS struct{}

func (osFS) ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// A FIFO or device would block or never end.
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

func (osFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

func (osFS) Canonical(path string) string {
	if path == "" {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// namedKinds are the section kinds whose `name` key is Section.Name and required.
var namedKinds = map[string]bool{
	"input": true, "filter": true, "output": true, "custom": true, "parser": true,
	"multiline_parser": true, "upstream": true, "node": true, "processor": true,
}

// parser holds the state of reading one configuration and its includes.
type parser struct {
	fs   fileSystem
	cfg  *Config
	vars map[string]string

	stack    []string          // canonical paths of the files being read, outermost first
	names    []string          // the same files as written, for messages
	included map[string]string // canonical path -> where it was included ("file:line")

	sections     []*Section       // every section in the order made, for the final passes
	nameLines    map[*Section]int // line of each section's name key
	serviceSeen  bool             // Config.Service has its place (File, Line)
	lastUpstream *Section         // the section a classic [NODE] belongs to
}

func newParser(fs fileSystem) *parser {
	return &parser{
		fs:        fs,
		cfg:       &Config{Service: Section{Kind: "service"}},
		vars:      map[string]string{},
		included:  map[string]string{},
		nameLines: map[*Section]int{},
	}
}

// run reads the main file, then expands variables and checks what only the whole
// configuration can tell.
func (p *parser) run(name string, data []byte, yaml bool) (*Config, error) {
	if c := p.fs.Canonical(name); c != "" {
		p.included[c] = "the command line"
	}
	if err := p.parseFile(name, data, yaml); err != nil {
		return nil, err
	}
	p.expandAll()
	for _, s := range p.sections {
		if namedKinds[s.Kind] && s.Name == "" {
			if line, ok := p.nameLines[s]; ok {
				return nil, &Error{File: s.File, Line: line, Key: "name", Err: fmt.Errorf("%s has an empty name", s.Kind)}
			}
			return nil, SectionErrorf(s, "%s section has no name key (which %s it is)", s.Kind, whatNameNames(s.Kind))
		}
	}
	return p.cfg, nil
}

func whatNameNames(kind string) string {
	switch kind {
	case "input", "filter", "output", "custom", "processor":
		return "plugin"
	case "multiline_parser":
		return "multiline parser"
	}
	return kind
}

func (p *parser) parseFile(name string, data []byte, yaml bool) error {
	p.stack = append(p.stack, p.fs.Canonical(name))
	p.names = append(p.names, name)
	defer func() {
		p.stack = p.stack[:len(p.stack)-1]
		p.names = p.names[:len(p.names)-1]
	}()
	if yaml {
		return p.parseYAML(name, data)
	}
	return p.parseClassic(name, data)
}

// include reads the file(s) pattern names, relative to file, at file:line.
func (p *parser) include(file string, line int, key, pattern string) error {
	fail := func(format string, args ...any) error {
		return &Error{File: file, Line: line, Key: key, Err: fmt.Errorf(format, args...)}
	}
	if strings.TrimSpace(pattern) == "" {
		return fail("empty include path")
	}
	path := pattern
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(file), path)
	}
	paths := []string{path}
	if strings.ContainsAny(pattern, "*?[") {
		matches, err := p.fs.Glob(path)
		if err != nil {
			return fail("include pattern %q: %w", pattern, err)
		}
		if len(matches) == 0 {
			p.warn(&Error{File: file, Line: line, Key: key, Err: fmt.Errorf("include pattern %q matches no file", pattern)})
			return nil
		}
		slices.Sort(matches)
		paths = matches
	}
	for _, inc := range paths {
		canon := p.fs.Canonical(inc)
		if i := slices.Index(p.stack, canon); i >= 0 {
			cycle := append(slices.Clone(p.names[i:]), inc)
			return fail("include cycle: %s", strings.Join(cycle, " -> "))
		}
		if where, ok := p.included[canon]; ok {
			return fail("%s is already included (from %s)", inc, where)
		}
		if len(p.included) >= maxIncludedFiles {
			return fail("more than %d configuration files", maxIncludedFiles)
		}
		p.included[canon] = fmt.Sprintf("%s:%d", file, line)
		data, err := p.fs.ReadFile(inc)
		if err != nil {
			return fail("include: %w", err)
		}
		if err := p.parseFile(inc, data, isYAMLName(inc)); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) warn(err error) { p.cfg.Warnings = append(p.cfg.Warnings, err) }

// newSection makes a section of kind at file:line and puts it in its place in the
// configuration; for "node" and "rule" the caller gives the parent.
func (p *parser) newSection(kind, file string, line int, parent *Section) *Section {
	if kind == "service" {
		if !p.serviceSeen {
			p.serviceSeen = true
			p.cfg.Service.File, p.cfg.Service.Line = file, line
			p.sections = append(p.sections, &p.cfg.Service)
		}
		return &p.cfg.Service
	}
	s := &Section{Kind: kind, File: file, Line: line}
	p.sections = append(p.sections, s)
	switch {
	case parent != nil:
		parent.Children = append(parent.Children, s)
	case kind == "input":
		p.cfg.Inputs = append(p.cfg.Inputs, s)
	case kind == "filter":
		p.cfg.Filters = append(p.cfg.Filters, s)
	case kind == "output":
		p.cfg.Outputs = append(p.cfg.Outputs, s)
	case kind == "parser":
		p.cfg.Parsers = append(p.cfg.Parsers, s)
	default:
		p.cfg.Other = append(p.cfg.Other, s)
	}
	if kind == "upstream" {
		p.lastUpstream = s
	}
	return s
}

// addProp adds key = value to s, or sets s.Name for the name key of a named section.
func (p *parser) addProp(s *Section, key, value, file string, line int) error {
	written := key
	key = strings.ToLower(key)
	if key == "name" && namedKinds[s.Kind] {
		if first, ok := p.nameLines[s]; ok {
			return &Error{File: file, Line: line, Key: written, Err: fmt.Errorf("%s section has a second name (the first is at line %d)", s.Kind, first)}
		}
		p.nameLines[s] = line
		s.Name = value
		return nil
	}
	s.Props = append(s.Props, Property{Key: key, Value: value, File: file, Line: line})
	return nil
}

// expandAll replaces ${VAR} in every section name and property value.
func (p *parser) expandAll() {
	for _, s := range p.sections {
		if s.Name != "" {
			s.Name = p.expand(s.Name, s.File, p.nameLines[s], "name")
		}
		for i := range s.Props {
			pr := &s.Props[i]
			pr.Value = p.expand(pr.Value, pr.File, pr.Line, pr.Key)
		}
	}
}

// expand replaces each ${VAR} in v. An unterminated "${" is kept as written.
func (p *parser) expand(v, file string, line int, key string) string {
	if !strings.Contains(v, "${") {
		return v
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i+2:], '}')
		if j < 0 {
			break
		}
		b.WriteString(v[:i])
		name := v[i+2 : i+2+j]
		val, ok := p.vars[name]
		if !ok {
			val, ok = os.LookupEnv(name)
		}
		if !ok {
			p.warn(&Error{File: file, Line: line, Key: key, Err: fmt.Errorf("variable ${%s} is not defined (by @SET, env or the environment): it expands to \"\"", name)})
		}
		b.WriteString(val)
		v = v[i+2+j+1:]
	}
	b.WriteString(v)
	return b.String()
}

// errAt makes an *Error at file:line about key (which may be empty).
func errAt(file string, line int, key, format string, args ...any) error {
	return &Error{File: file, Line: line, Key: key, Err: fmt.Errorf(format, args...)}
}
