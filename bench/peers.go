package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Peer is another agent run side by side with ours: a fluent-bit or telegraf binary the
// user has (on PATH or named by -peer). The suite never downloads one.
type Peer struct {
	Kind    string // "fluent-bit" or "telegraf"
	Path    string
	Version string // first line of its --version, trimmed
}

func (p *Peer) label() string {
	if p.Version != "" {
		return p.Version
	}
	return p.Kind
}

func peerKind(p *Peer) string {
	if p == nil {
		return "ours"
	}
	return p.Kind
}

// findPeers looks for fluent-bit and telegraf on PATH (and where their packages install
// them) unless -peer already named that kind.
func findPeers(given []Peer) []Peer {
	var found []Peer
	for i := range given {
		given[i].Version = peerVersion(given[i].Path)
	}
	for _, c := range []struct{ kind, alt string }{
		{"fluent-bit", "/opt/fluent-bit/bin/fluent-bit"},
		{"telegraf", "/usr/bin/telegraf"},
	} {
		if slicesContainsKind(given, c.kind) {
			continue
		}
		path, err := exec.LookPath(c.kind)
		if err != nil {
			if _, serr := os.Stat(c.alt); serr != nil {
				continue
			}
			path = c.alt
		}
		found = append(found, Peer{Kind: c.kind, Path: path, Version: peerVersion(path)})
	}
	return found
}

func slicesContainsKind(ps []Peer, kind string) bool {
	for _, p := range ps {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

// peerVersion runs path --version and keeps its first line.
func peerVersion(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// StartPeer writes config into the run's directory (named with ext: ".conf" for
// fluent-bit's classic format, ".toml" for telegraf) and starts env.Peer on it, then waits
// until something accepts connections on readyAddr (peers log differently from us, so a
// port is the one readiness signal they share).
func (e *Env) StartPeer(config, ext, readyAddr string) (*Agent, error) {
	path := filepath.Join(e.Dir, "peer"+ext)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	var args []string
	switch e.Peer.Kind {
	case "telegraf":
		args = []string{"--config", path}
	default:
		args = []string{"-c", path}
	}
	a, err := e.start(exec.Command(e.Peer.Path, args...))
	if err != nil {
		return nil, err
	}
	a.peer = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", readyAddr, time.Second)
		if err == nil {
			c.Close()
			return a, nil
		}
		select {
		case <-a.done:
			return nil, fmt.Errorf("%s exited before listening on %s:\n%s", e.Peer.Kind, readyAddr, a.Log())
		case <-time.After(20 * time.Millisecond): // a peer offers no signal but its port
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not listening on %s within 30s:\n%s", e.Peer.Kind, readyAddr, a.Log())
		}
	}
}
