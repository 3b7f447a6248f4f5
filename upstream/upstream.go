// Package upstream is a list of destination nodes for an output that balances across
// several servers, as Fluent Bit's upstream servers: the [UPSTREAM] section with its [NODE]
// sections (YAML `upstream_servers:` with `nodes:`), the choice of node per chunk
// (round-robin, failover, or consistent hashing of a record key over a hash ring), and
// the health of each node (taken out after consecutive failures, let back in after a
// growing pause).
//
//	[UPSTREAM]
//	    name  aggregators
//	[NODE]
//	    name  agg-1
//	    host  10.0.0.1
//	    port  24224
//	[NODE]
//	    name  agg-2
//	    host  10.0.0.2
//	    port  24224
//	    tls   on
//	    shared_key secret
//
// Node keys: name (required, unique: the identity of the node on the hash ring, so a node
// keeps its keys when its address changes), host (required), port (required, 1-65535).
// Any other key of a node (tls, tls.verify, shared_key, ...) is kept in Node.Props for the
// output to read as its per-node settings.
//
// It knows nothing of protocols, sockets or records: the output dials, sends, and tells the
// Balancer how each attempt went; the output extracts the key a record is hashed by.
package upstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// Node is one destination.
type Node struct {
	Name  string
	Host  string
	Port  int
	Props []config.Property // the node's other keys, for the output
	File  string            // where the node is defined, for errors
	Line  int
}

// Addr is host:port.
func (n *Node) Addr() string { return joinHostPort(n.Host, n.Port) }

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]:" + strconv.Itoa(p)
	}
	return h + ":" + strconv.Itoa(p)
}

// Upstream is a named list of nodes.
type Upstream struct {
	Name  string
	Nodes []Node
}

// FromSection reads an upstream section (kind "upstream") and its node children.
func FromSection(s *config.Section) (*Upstream, error) {
	if s == nil || s.Kind != "upstream" {
		return nil, errors.New("upstream: not an upstream section")
	}
	u := &Upstream{Name: s.Name}
	for _, p := range s.Props {
		return nil, config.Errorf(p, "unknown key in an upstream section (it takes name, and [NODE] sections)")
	}
	if len(s.Children) == 0 {
		return nil, config.SectionErrorf(s, "upstream %q has no nodes", s.Name)
	}
	seen := map[string]bool{}
	for _, ns := range s.Children {
		if ns.Kind != "node" {
			return nil, config.SectionErrorf(ns, "unexpected %s section in upstream %q", ns.Kind, s.Name)
		}
		n := Node{Name: ns.Name, File: ns.File, Line: ns.Line}
		if seen[strings.ToLower(n.Name)] {
			return nil, config.SectionErrorf(ns, "upstream %q has two nodes named %q (names identify nodes on the hash ring)", s.Name, n.Name)
		}
		seen[strings.ToLower(n.Name)] = true
		hasPort := false
		for _, p := range ns.Props {
			switch strings.ToLower(p.Key) {
			case "host":
				n.Host = strings.TrimSpace(p.Value)
			case "port":
				v, err := strconv.Atoi(strings.TrimSpace(p.Value))
				if err != nil || v < 1 || v > 65535 {
					return nil, config.Errorf(p, "bad port %q: want a number from 1 to 65535", p.Value)
				}
				n.Port, hasPort = v, true
			default:
				n.Props = append(n.Props, p)
			}
		}
		if n.Host == "" {
			return nil, config.SectionErrorf(ns, "node %q has no host", n.Name)
		}
		if !hasPort {
			return nil, config.SectionErrorf(ns, "node %q has no port", n.Name)
		}
		u.Nodes = append(u.Nodes, n)
	}
	return u, nil
}

// Find returns the upstream named name (case-insensitive) among sections, or, when name
// is empty, the only one there is.
func Find(sections []*config.Section, name string) (*Upstream, error) {
	var found []*config.Section
	for _, s := range sections {
		if s.Kind == "upstream" && (name == "" || strings.EqualFold(s.Name, name)) {
			found = append(found, s)
		}
	}
	switch {
	case len(found) == 0 && name == "":
		return nil, errors.New("no upstream section")
	case len(found) == 0:
		return nil, fmt.Errorf("no upstream named %q", name)
	case len(found) > 1 && name == "":
		return nil, fmt.Errorf("%d upstream sections: name the one to use", len(found))
	}
	return FromSection(found[0])
}

// Resolve finds the upstream a plugin's `upstream` key names: a configuration file (as
// in Fluent Bit, where the key is the path of a file holding one [UPSTREAM] and its
// [NODE]s; a relative path is taken from the directory of from, then from the working
// directory), or else the
// name of an upstream section in the configuration file from, the file the key was
// written in (its includes count too). from may be empty (a key set on the command line).
func Resolve(ref, from string) (*Upstream, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, errors.New("empty upstream")
	}
	path := ref
	if !filepath.IsAbs(ref) && from != "" {
		// As Fluent Bit does, a relative path is relative to the configuration's
		// directory; the working directory is tried after it.
		if st, err := os.Stat(filepath.Join(filepath.Dir(from), ref)); err == nil && !st.IsDir() {
			path = filepath.Join(filepath.Dir(from), ref)
		}
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		ref = path
		cfg, err := config.Load(ref)
		if err != nil {
			return nil, err
		}
		u, err := Find(cfg.Other, "")
		if err != nil {
			return nil, fmt.Errorf("upstream file %s: %w", ref, err)
		}
		return u, nil
	}
	if from == "" {
		return nil, fmt.Errorf("upstream %q: no such file", ref)
	}
	cfg, err := config.Load(from)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: reading %s: %w", ref, from, err)
	}
	u, err := Find(cfg.Other, ref)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: not a file, and %s has no upstream section of that name", ref, from)
	}
	return u, nil
}
