package config

// Fluent Bit's YAML schema:
//
//	env:               {VAR: value}            variables for ${VAR}
//	includes:          [file, glob, ...]       relative to this file
//	service:           {key: value}
//	pipeline:
//	  inputs:          [{name: cpu, key: value}, ...]
//	  filters:         [...]
//	  outputs:         [...]
//	  customs:         [...]                   (also accepted at the top level)
//	parsers:           [{name: json, format: json}, ...]
//	multiline_parsers: [{name: m, type: regex, rules: [{state: .., regex: .., next_state: ..}]}]
//	upstream_servers:  [{name: u, nodes: [{name: n1, host: .., port: ..}]}]
//	plugins:           [path.so, ...]
//
// Scalars become strings as written (true stays "true", 1.50 stays "1.50"). A list as a
// key's value gives one property per element, in order. A map as a key's value is an
// error, except multiline parser `rules` and upstream `nodes` (lists of maps), which
// become Section.Children of kind "rule" and "node", an input's or output's
// `processors: {logs: [...]}`, whose entries become Children of kind "processor" (metrics,
// traces and profiles lists are left out with a warning), and nested maps in `service`
// (storage: {path: x} is storage.path). An input's `routes` (conditional routing) and a
// top-level `stream_processor` are errors that say they are not supported.
// An upstream's nodes are its Children in both formats, so the two compare equal.
//
// YAML anchors may be set but aliases (*name, and so `<<: *name` merges) are rejected:
// Fluent Bit rejects them too, and expanding them would let a small file grow without
// bound. A file holds one YAML document.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

const yamlTopLevel = "env, includes, service, pipeline, parsers, multiline_parsers, customs, upstream_servers, plugins"

func (p *parser) parseYAML(file string, data []byte) error {
	root, err := decodeYAML(file, data)
	if err != nil || root == nil {
		return err
	}
	if err := rejectAliases(file, root); err != nil {
		return err
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" { // an empty file, or just "~"
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return errAt(file, root.Line, "", "the top level must be a map of sections (%s)", yamlTopLevel)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key, err := yamlKey(file, k)
		if err != nil {
			return err
		}
		switch strings.ToLower(key) {
		case "env":
			err = p.yamlEnv(file, key, v)
		case "includes":
			err = p.yamlIncludes(file, key, v)
		case "service":
			line := v.Line
			if v.Kind != yaml.MappingNode {
				line = k.Line
			}
			s := p.newSection("service", file, line, nil)
			err = p.yamlProps(file, s, key, v)
		case "pipeline":
			err = p.yamlPipeline(file, key, v)
		case "parsers":
			err = p.yamlSections(file, key, v, "parser", nil)
		case "multiline_parsers":
			err = p.yamlSections(file, key, v, "multiline_parser", nil)
		case "customs":
			err = p.yamlSections(file, key, v, "custom", nil)
		case "upstream_servers":
			err = p.yamlSections(file, key, v, "upstream", nil)
		case "plugins":
			err = p.yamlPlugins(file, key, v)
		case "stream_processor":
			err = errAt(file, k.Line, key, "the stream processor is not supported (no SQL queries over streams): use filters")
		default:
			err = errAt(file, k.Line, key, "unknown section; expected one of %s", yamlTopLevel)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeYAML parses data into a node tree: nil for an empty file.
func decodeYAML(file string, data []byte) (root *yaml.Node, err error) {
	// The parser is third-party code fed with outside input; a panic in it must not stop
	// the agent, so it becomes an error. Only the decoding is guarded, not our own walk.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{File: file, Err: fmt.Errorf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, &Error{File: file, Err: fmt.Errorf("invalid YAML: %w", err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, &Error{File: file, Err: fmt.Errorf("invalid YAML: %w", err)}
	default:
		return nil, errAt(file, next.Line, "", "a second YAML document (after ---) is not supported")
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

func rejectAliases(file string, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return errAt(file, n.Line, "", "YAML aliases (*%s) are not supported", clip(n.Value))
	}
	for _, c := range n.Content {
		if err := rejectAliases(file, c); err != nil {
			return err
		}
	}
	return nil
}

// isNull reports an empty value ("key:" with nothing after it). The words null and ~ are
// not null here: Fluent Bit reads every YAML scalar as text, so "name: null" names the
// null output.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}

// yamlKey returns the text of a mapping key, which must be a non-empty scalar.
func yamlKey(file string, k *yaml.Node) (string, error) {
	if k.Kind != yaml.ScalarNode {
		return "", errAt(file, k.Line, "", "a key must be plain text, not a list or map")
	}
	if isNull(k) || k.Value == "" {
		return "", errAt(file, k.Line, "", "empty key")
	}
	return k.Value, nil
}

func (p *parser) yamlEnv(file, key string, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return errAt(file, v.Line, key, "want a map of variables (NAME: value)")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		name, err := yamlKey(file, v.Content[i])
		if err != nil {
			return err
		}
		val := v.Content[i+1]
		if val.Kind != yaml.ScalarNode || isNull(val) {
			return errAt(file, val.Line, name, "a variable's value must be a single value")
		}
		p.vars[name] = val.Value
	}
	return nil
}

func (p *parser) yamlIncludes(file, key string, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return errAt(file, v.Line, key, "want a list of file names")
	}
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return errAt(file, item.Line, key, "want a file name")
		}
		if err := p.include(file, item.Line, key, item.Value); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) yamlPipeline(file, key string, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return errAt(file, v.Line, key, "want a map with inputs, filters and outputs")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		name, err := yamlKey(file, k)
		if err != nil {
			return err
		}
		var kind string
		switch strings.ToLower(name) {
		case "inputs":
			kind = "input"
		case "filters":
			kind = "filter"
		case "outputs":
			kind = "output"
		case "customs":
			kind = "custom"
		default:
			return errAt(file, k.Line, name, "unknown pipeline section; expected inputs, filters, outputs or customs")
		}
		if err := p.yamlSections(file, name, val, kind, nil); err != nil {
			return err
		}
	}
	return nil
}

// yamlSections reads v, a list of maps, as sections of kind (children of parent if any).
func (p *parser) yamlSections(file, key string, v *yaml.Node, kind string, parent *Section) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return errAt(file, v.Line, key, "want a list of maps, one per %s", strings.ReplaceAll(kind, "_", " "))
	}
	for _, item := range v.Content {
		if item.Kind != yaml.MappingNode {
			return errAt(file, item.Line, key, "each entry must be a map of keys (- name: ...)")
		}
		s := p.newSection(kind, file, item.Line, parent)
		if err := p.yamlProps(file, s, key, item); err != nil {
			return err
		}
	}
	return nil
}

// yamlProps adds the keys of m, a map (or null), to s.
func (p *parser) yamlProps(file string, s *Section, key string, m *yaml.Node) error {
	if isNull(m) {
		return nil
	}
	if m.Kind != yaml.MappingNode {
		return errAt(file, m.Line, key, "want a map of keys")
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name, err := yamlKey(file, k)
		if err != nil {
			return err
		}
		lower := strings.ToLower(name)
		switch {
		case lower == "processors":
			if err := p.yamlProcessors(file, s, name, k, v); err != nil {
				return err
			}
			continue
		case lower == "routes" && s.Kind == "input":
			return errAt(file, k.Line, name, "conditional routing (routes) is not supported: give the input a tag and each output a match")
		case lower == "rules" && s.Kind == "multiline_parser":
			if err := p.yamlSections(file, name, v, "rule", s); err != nil {
				return err
			}
			continue
		case lower == "nodes" && s.Kind == "upstream":
			if err := p.yamlSections(file, name, v, "node", s); err != nil {
				return err
			}
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if isNull(v) {
				return errAt(file, k.Line, name, "key has no value (write \"\" for an empty string)")
			}
			if err := p.addProp(s, name, v.Value, file, k.Line); err != nil {
				return err
			}
		case yaml.SequenceNode:
			if lower == "name" && namedKinds[s.Kind] {
				return errAt(file, k.Line, name, "want a single name, not a list")
			}
			for _, item := range v.Content {
				if maps := v.Content[0].Kind == yaml.MappingNode; maps != (item.Kind == yaml.MappingNode) {
					return errAt(file, item.Line, name, "a list must hold single values or maps, not both")
				}
				if item.Kind == yaml.MappingNode {
					// A list of small maps (modbus points): each becomes one property
					// in the inline form (see FormatInline), at the item's line.
					value, err := yamlInline(file, name, item)
					if err != nil {
						return err
					}
					if err := p.addProp(s, name, value, file, item.Line); err != nil {
						return err
					}
					continue
				}
				if item.Kind != yaml.ScalarNode || isNull(item) {
					return errAt(file, item.Line, name, "each list entry must be a single value, not a list, map or null")
				}
				if err := p.addProp(s, name, item.Value, file, k.Line); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			if s.Kind != "service" {
				return errAt(file, k.Line, name, "a map is not allowed as a value here; use a single value or a list of values")
			}
			// Fluent Bit's YAML service takes nested keys: storage: {path: x} is storage.path.
			if err := p.yamlNested(file, s, name, v); err != nil {
				return err
			}
		default:
			return errAt(file, k.Line, name, "a map is not allowed as a value here; use a single value or a list of values")
		}
	}
	return nil
}

// yamlProcessors reads an input's or output's processors: the logs list becomes its
// Children of kind "processor" (filters applied to that plugin's records only); metrics,
// traces and profiles lists are left out with a warning, since this agent carries logs.
func (p *parser) yamlProcessors(file string, s *Section, key string, k, v *yaml.Node) error {
	if s.Kind != "input" && s.Kind != "output" {
		return errAt(file, k.Line, key, "processors belong to an input or an output, not a %s", strings.ReplaceAll(s.Kind, "_", " "))
	}
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return errAt(file, v.Line, key, "want a map of signal lists (logs: [...])")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		sk, sv := v.Content[i], v.Content[i+1]
		signal, err := yamlKey(file, sk)
		if err != nil {
			return err
		}
		switch strings.ToLower(signal) {
		case "logs":
			if err := p.yamlSections(file, key+"."+signal, sv, "processor", s); err != nil {
				return err
			}
		case "metrics", "traces", "profiles":
			p.warn(errAt(file, sk.Line, key+"."+signal, "ignored: this agent carries logs only, so %s processors have nothing to act on", signal))
		default:
			return errAt(file, sk.Line, key+"."+signal, "unknown signal; expected logs, metrics, traces or profiles")
		}
	}
	return nil
}

// yamlNested adds the scalars of m under prefix as dotted keys (prefix.key) to s.
func (p *parser) yamlNested(file string, s *Section, prefix string, m *yaml.Node) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name, err := yamlKey(file, k)
		if err != nil {
			return err
		}
		key := prefix + "." + name
		switch {
		case v.Kind == yaml.MappingNode:
			if err := p.yamlNested(file, s, key, v); err != nil {
				return err
			}
		case v.Kind == yaml.ScalarNode && !isNull(v):
			if err := p.addProp(s, key, v.Value, file, k.Line); err != nil {
				return err
			}
		default:
			return errAt(file, k.Line, key, "want a single value or a map of them")
		}
	}
	return nil
}

// yamlInline writes a map of scalars, one entry of a list of maps, in the inline form.
func yamlInline(file, key string, m *yaml.Node) (string, error) {
	var pairs [][2]string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name, err := yamlKey(file, k)
		if err != nil {
			return "", err
		}
		if v.Kind != yaml.ScalarNode || isNull(v) {
			return "", errAt(file, k.Line, key+"."+name, "want a single value (write \"\" for an empty string)")
		}
		pairs = append(pairs, [2]string{name, v.Value})
	}
	return FormatInline(pairs), nil
}

func (p *parser) yamlPlugins(file, key string, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return errAt(file, v.Line, key, "want a list of plugin paths")
	}
	s := p.newSection("plugins", file, v.Line, nil)
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return errAt(file, item.Line, key, "want a plugin path")
		}
		if err := p.addProp(s, "path", item.Value, file, item.Line); err != nil {
			return err
		}
	}
	return nil
}
