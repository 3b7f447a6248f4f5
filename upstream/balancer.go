package upstream

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a Balancer chooses nodes.
type Mode int

const (
	// RoundRobin sends each chunk to the next node in turn (Fluent Bit's only mode).
	RoundRobin Mode = iota
	// Failover sends every chunk to the first healthy node in the listed order; later
	// nodes get chunks only while the ones before them are out.
	Failover
	// Hash sends each record to the node its key hashes to on a Ring, so records with
	// one key (one device) always reach the same node while that node is healthy.
	Hash
)

// ParseMode reads round_robin (or round-robin), failover or hash, in any case.
func ParseMode(s string) (Mode, error) {
	switch strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_") {
	case "", "round_robin", "roundrobin":
		return RoundRobin, nil
	case "failover":
		return Failover, nil
	case "hash", "consistent_hash":
		return Hash, nil
	}
	return 0, fmt.Errorf("%q: want round_robin, failover or hash", s)
}

func (m Mode) String() string {
	switch m {
	case Failover:
		return "failover"
	case Hash:
		return "hash"
	}
	return "round_robin"
}

// Defaults of Options.
const (
	DefaultMaxFails       = 3
	DefaultFailTimeout    = 10 * time.Second
	DefaultMaxFailTimeout = 5 * time.Minute
)

// Options tune a Balancer. Zero fields take the defaults.
type Options struct {
	Mode Mode
	// MaxFails consecutive failed attempts take a node out (DefaultMaxFails).
	MaxFails int
	// FailTimeout is how long a node stays out before one chunk is tried on it again
	// (DefaultFailTimeout). Each failed try doubles the pause, up to MaxFailTimeout.
	FailTimeout    time.Duration
	MaxFailTimeout time.Duration
	// Points per node on the hash ring (DefaultPoints).
	Points int
	// Now is the clock (time.Now); tests set it.
	Now func() time.Time
}

// Balancer chooses nodes for chunks and keeps track of their health. Health is passive:
// the output reports each attempt with Success or Failure. A node with MaxFails failures
// in a row is out: chunks go to the other nodes. Once its pause has passed, the next plan
// tries it again (first, in round-robin; in its place, in failover; for its own keys, in
// hash mode); success brings it back, failure doubles the pause. While a node is due for
// such a try, only one plan at a time is given it, so a node that is still dead costs one
// chunk's detour per pause rather than one per chunk. When every node is out, plans
// list them all anyway: trying beats certain failure.
//
// It is safe for concurrent use.
type Balancer struct {
	opt   Options
	nodes []Node
	ring  *Ring
	rr    atomic.Uint64

	mu    sync.Mutex
	state []health
}

type health struct {
	fails int           // consecutive failures
	out   bool          // taken out
	until time.Time     // when out: when it may be tried again
	pause time.Duration // when out: the current pause
}

// New returns a Balancer over nodes (at least one).
func New(nodes []Node, opt Options) *Balancer {
	if opt.MaxFails <= 0 {
		opt.MaxFails = DefaultMaxFails
	}
	if opt.FailTimeout <= 0 {
		opt.FailTimeout = DefaultFailTimeout
	}
	if opt.MaxFailTimeout < opt.FailTimeout {
		opt.MaxFailTimeout = max(DefaultMaxFailTimeout, opt.FailTimeout)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	b := &Balancer{opt: opt, nodes: nodes, state: make([]health, len(nodes))}
	if opt.Mode == Hash {
		names := make([]string, len(nodes))
		for i := range nodes {
			names[i] = nodes[i].Name
		}
		b.ring = NewRing(names, opt.Points)
	}
	return b
}

// Mode returns the balancing mode.
func (b *Balancer) Mode() Mode { return b.opt.Mode }

// Nodes returns the nodes, in their configured order; indexes in plans refer to it.
func (b *Balancer) Nodes() []Node { return b.nodes }

// Healthy reports whether node i is in (not taken out).
func (b *Balancer) Healthy(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.state[i].out
}

// Success records a delivery to node i and reports whether it brought the node back in.
func (b *Balancer) Success(i int) (back bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.state[i]
	back = s.out
	*s = health{}
	return back
}

// Failure records a failed attempt on node i and reports whether it took the node out
// (now, or for longer after a failed try).
func (b *Balancer) Failure(i int) (out bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.state[i]
	s.fails++
	now := b.opt.Now()
	switch {
	case s.out:
		s.pause = min(2*s.pause, b.opt.MaxFailTimeout)
		s.until = now.Add(s.pause)
		return true
	case s.fails >= b.opt.MaxFails:
		s.out, s.pause = true, b.opt.FailTimeout
		s.until = now.Add(s.pause)
		return true
	}
	return false
}

// Plan is the Balancer's choice for one chunk: the order to try nodes in (round-robin
// and failover) or the node for each key (hash), with nodes excluded as they fail during
// this chunk. A Plan is used by one goroutine.
type Plan struct {
	b *Balancer
	// Order lists every node, the ones to try first first: usable nodes in the mode's
	// order (a node due for a try first in round-robin), then the ones that are out.
	Order    []int
	usable   []bool
	excluded []bool
	anyLeft  bool // some usable node is not excluded
	skip     func(int) bool
}

// Plan makes the plan for one chunk.
func (b *Balancer) Plan() *Plan {
	n := len(b.nodes)
	p := &Plan{b: b, Order: make([]int, 0, n), usable: make([]bool, n), excluded: make([]bool, n)}
	start := 0
	if b.opt.Mode == RoundRobin && n > 0 {
		start = int((b.rr.Add(1) - 1) % uint64(n))
	}
	now := b.opt.Now()
	var due, in, out []int
	b.mu.Lock()
	for k := 0; k < n; k++ {
		i := (start + k) % n
		s := &b.state[i]
		switch {
		case !s.out:
			p.usable[i] = true
			in = append(in, i)
		case !now.Before(s.until):
			// Due for a try: this plan has it; others wait out one more pause
			// unless the try succeeds first.
			s.until = now.Add(s.pause)
			p.usable[i] = true
			if b.opt.Mode == RoundRobin {
				due = append(due, i)
			} else {
				in = append(in, i)
			}
		default:
			out = append(out, i)
		}
	}
	b.mu.Unlock()
	if b.opt.Mode == Failover {
		// in holds usable nodes in list order already (start is 0).
		p.Order = append(append(p.Order, in...), out...)
	} else {
		p.Order = append(append(append(p.Order, due...), in...), out...)
	}
	p.anyLeft = len(due)+len(in) > 0
	p.skip = func(i int) bool { return p.excluded[i] || (p.anyLeft && !p.usable[i]) }
	return p
}

// Exclude takes node i out of this plan (it failed for this chunk): keys move to the
// next node on the ring.
func (p *Plan) Exclude(i int) {
	p.excluded[i] = true
	p.anyLeft = false
	for j, u := range p.usable {
		if u && !p.excluded[j] {
			p.anyLeft = true
			return
		}
	}
}

// Excluded reports whether Exclude(i) was called.
func (p *Plan) Excluded(i int) bool { return p.excluded[i] }

// NodeFor returns the node for a key whose Hash is h (hash mode): its owner on the ring,
// or the next node along the ring when the owner is out or excluded. It returns -1 when
// every node is excluded. In other modes it returns the first node of Order that is not
// excluded.
func (p *Plan) NodeFor(h uint64) int {
	if p.b.ring == nil {
		for _, i := range p.Order {
			if !p.excluded[i] {
				return i
			}
		}
		return -1
	}
	return p.b.ring.Lookup(h, p.skip)
}
