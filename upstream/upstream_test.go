package upstream

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
)

func TestRingSpreadsKeysEvenly(t *testing.T) {
	r := NewRing([]string{"agg-1", "agg-2", "agg-3"}, 0)
	const keys = 10000
	count := make([]int, 3)
	for k := 0; k < keys; k++ {
		count[r.Lookup(HashKeyString(fmt.Sprintf("device-%d", k)), nil)]++
	}
	for i, c := range count {
		share := float64(c) / (keys / 3.0)
		if share < 0.9 || share > 1.1 {
			t.Errorf("node %d got %d of %d keys (%.1f%% of its fair share), want within ±10%%", i, c, keys, share*100)
		}
	}
	t.Logf("keys per node: %v", count)
}

func TestRingRemovingANodeMovesOnlyItsKeys(t *testing.T) {
	all := NewRing([]string{"agg-1", "agg-2", "agg-3"}, 0)
	without2 := NewRing([]string{"agg-1", "agg-3"}, 0) // agg-1 -> 0, agg-3 -> 1
	newName := []string{"agg-1", "agg-3"}
	oldName := []string{"agg-1", "agg-2", "agg-3"}
	moved := 0
	for k := 0; k < 10000; k++ {
		h := HashKeyString(fmt.Sprintf("device-%d", k))
		before := oldName[all.Lookup(h, nil)]
		after := newName[without2.Lookup(h, nil)]
		if before != "agg-2" && before != after {
			t.Fatalf("key %d moved from %s to %s though %s is still there", k, before, after, before)
		}
		if before == "agg-2" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("agg-2 owned no keys")
	}
	// Skipping a node in a lookup is the same as removing it from the ring.
	skip2 := func(i int) bool { return i == 1 }
	for k := 0; k < 10000; k++ {
		h := HashKeyString(fmt.Sprintf("device-%d", k))
		if a, b := oldName[all.Lookup(h, skip2)], newName[without2.Lookup(h, nil)]; a != b {
			t.Fatalf("key %d: skipping agg-2 gives %s, removing it gives %s", k, a, b)
		}
	}
}

func TestRingIgnoresNodeOrder(t *testing.T) {
	a := NewRing([]string{"x", "y", "z"}, 64)
	b := NewRing([]string{"z", "x", "y"}, 64)
	an, bn := []string{"x", "y", "z"}, []string{"z", "x", "y"}
	for k := 0; k < 2000; k++ {
		h := HashKeyString(fmt.Sprint(k))
		if an[a.Lookup(h, nil)] != bn[b.Lookup(h, nil)] {
			t.Fatalf("key %d lands on different nodes when the nodes are listed in another order", k)
		}
	}
}

func TestHashIsStable(t *testing.T) {
	// Agents on different machines and versions must agree: pin a few values.
	for s, want := range map[string]uint64{"": HashKey(nil), "device-1": HashKey([]byte("device-1"))} {
		if got := HashKeyString(s); got != want {
			t.Errorf("HashKeyString(%q) = %x, Hash = %x", s, got, want)
		}
	}
	if got := HashKeyString("device-1"); got != 0xe340ac1c4190ad44 {
		t.Errorf("HashKeyString(device-1) = %#x, want 0xe340ac1c4190ad44: changing the hash moves every key", got)
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func nodes(names ...string) []Node {
	out := make([]Node, len(names))
	for i, n := range names {
		out[i] = Node{Name: n, Host: "127.0.0.1", Port: 24224 + i}
	}
	return out
}

func TestFailoverUsesFirstHealthyNodeInOrder(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := New(nodes("a", "b", "c"), Options{Mode: Failover, MaxFails: 2, FailTimeout: 10 * time.Second, Now: c.now})
	first := func() int { return b.Plan().NodeFor(0) }
	if got := first(); got != 0 {
		t.Fatalf("first node = %d, want 0", got)
	}
	if b.Failure(0) {
		t.Fatal("one failure took the node out; MaxFails is 2")
	}
	if got := first(); got != 0 {
		t.Fatalf("after one failure first node = %d, want still 0", got)
	}
	if !b.Failure(0) {
		t.Fatal("two failures did not take the node out")
	}
	if got := b.Plan().Order; fmt.Sprint(got) != "[1 2 0]" {
		t.Fatalf("order with a out = %v, want [1 2 0]", got)
	}
	b.Failure(1)
	b.Failure(1)
	if got := b.Plan().Order; fmt.Sprint(got) != "[2 0 1]" {
		t.Fatalf("order with a, b out = %v, want [2 0 1]", got)
	}
	// Within one plan, a node that fails for this chunk is passed over.
	p := b.Plan()
	p.Exclude(2)
	if got := p.NodeFor(0); got != 0 {
		t.Fatalf("after excluding c, next = %d, want a (out, but the last resort)", got)
	}
}

func TestNodeIsProbedBackIn(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := New(nodes("a", "b"), Options{Mode: Failover, MaxFails: 1, FailTimeout: 10 * time.Second, MaxFailTimeout: 30 * time.Second, Now: c.now})
	b.Failure(0)
	if b.Healthy(0) {
		t.Fatal("a still healthy after MaxFails failures")
	}
	c.t = c.t.Add(9 * time.Second)
	if got := b.Plan().Order[0]; got != 1 {
		t.Fatalf("before the pause passed, first = %d, want b", got)
	}
	c.t = c.t.Add(time.Second)
	if got := b.Plan().Order[0]; got != 0 {
		t.Fatalf("after the pause, first = %d, want a (tried again)", got)
	}
	// Only one plan gets the try; the others keep using b.
	if got := b.Plan().Order[0]; got != 1 {
		t.Fatalf("second plan during the try: first = %d, want b", got)
	}
	// The try fails: the pause doubles (20s).
	b.Failure(0)
	c.t = c.t.Add(19 * time.Second)
	if got := b.Plan().Order[0]; got != 1 {
		t.Fatalf("19s after a failed try, first = %d, want b (pause doubled to 20s)", got)
	}
	c.t = c.t.Add(time.Second)
	if got := b.Plan().Order[0]; got != 0 {
		t.Fatalf("20s after a failed try, first = %d, want a", got)
	}
	b.Failure(0) // 40s, capped at 30s
	c.t = c.t.Add(30 * time.Second)
	if got := b.Plan().Order[0]; got != 0 {
		t.Fatalf("pause not capped at MaxFailTimeout: first = %d", got)
	}
	if !b.Success(0) {
		t.Fatal("success after a try did not report the node back")
	}
	if !b.Healthy(0) || b.Plan().Order[0] != 0 {
		t.Fatal("a not back in after a successful try")
	}
}

func TestRoundRobinRotatesAndTriesRecoveredNodeFirst(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := New(nodes("a", "b", "c"), Options{MaxFails: 1, FailTimeout: time.Second, Now: c.now})
	var firsts []int
	for i := 0; i < 6; i++ {
		firsts = append(firsts, b.Plan().Order[0])
	}
	if fmt.Sprint(firsts) != "[0 1 2 0 1 2]" {
		t.Fatalf("round robin firsts = %v", firsts)
	}
	b.Failure(1)
	for i := 0; i < 6; i++ {
		if o := b.Plan().Order; o[0] == 1 || o[len(o)-1] != 1 {
			t.Fatalf("out node b not last: %v", o)
		}
	}
	c.t = c.t.Add(time.Second)
	if o := b.Plan().Order; o[0] != 1 {
		t.Fatalf("node due for a try not first: %v", o)
	}
}

func TestHashModeMovesKeysOfOutNodeToNextOnRing(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := New(nodes("a", "b", "c"), Options{Mode: Hash, MaxFails: 1, FailTimeout: time.Minute, Now: c.now})
	before := make([]int, 1000)
	p := b.Plan()
	for k := range before {
		before[k] = p.NodeFor(HashKeyString(fmt.Sprint(k)))
	}
	b.Failure(1)
	p = b.Plan()
	ref := NewRing([]string{"a", "c"}, 0)
	for k := range before {
		got := p.NodeFor(HashKeyString(fmt.Sprint(k)))
		if before[k] != 1 && got != before[k] {
			t.Fatalf("key %d moved from %d to %d though only b went out", k, before[k], got)
		}
		if want := []int{0, 2}[ref.Lookup(HashKeyString(fmt.Sprint(k)), nil)]; got != want {
			t.Fatalf("key %d: %d, want %d (as on a ring without b)", k, got, want)
		}
	}
	p.Exclude(0)
	p.Exclude(2)
	if got := p.NodeFor(1); got != 1 {
		t.Fatalf("with a and c excluded, the out node b is the last resort: got %d", got)
	}
	p.Exclude(1)
	if got := p.NodeFor(1); got != -1 {
		t.Fatalf("every node excluded: got %d, want -1", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": RoundRobin, "round-robin": RoundRobin, "Failover": Failover, "hash": Hash} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("random"); err == nil {
		t.Error("ParseMode(random) accepted")
	}
}

const classicUpstream = `[UPSTREAM]
    name  aggregators

[NODE]
    name  agg-1
    host  127.0.0.1
    port  43000

[NODE]
    name  agg-2
    host  ::1
    port  44000
    tls   on
    shared_key secret
`

const yamlUpstream = `upstream_servers:
  - name: aggregators
    nodes:
      - name: agg-1
        host: 127.0.0.1
        port: 43000
      - name: agg-2
        host: ::1
        port: 44000
        tls: on
        shared_key: secret
`

func TestUpstreamFromBothFormats(t *testing.T) {
	for name, text := range map[string]string{"up.conf": classicUpstream, "up.yaml": yamlUpstream} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			u, err := Resolve(path, "")
			if err != nil {
				t.Fatal(err)
			}
			if u.Name != "aggregators" || len(u.Nodes) != 2 {
				t.Fatalf("got %+v", u)
			}
			n := u.Nodes[1]
			if n.Name != "agg-2" || n.Addr() != "[::1]:44000" || len(n.Props) != 2 || n.Props[0].Key != "tls" || n.Props[1].Value != "secret" {
				t.Fatalf("node 2 = %+v", n)
			}
		})
	}
}

func TestUpstreamByNameInTheMainConfig(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "fluent-bit.yaml")
	text := yamlUpstream + "pipeline:\n  outputs:\n    - name: forward\n      match: '*'\n      upstream: aggregators\n"
	if err := os.WriteFile(main, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := Resolve("aggregators", main)
	if err != nil || len(u.Nodes) != 2 {
		t.Fatalf("Resolve by name: %+v, %v", u, err)
	}
	// A relative file name is looked for beside the configuration first.
	if err := os.WriteFile(filepath.Join(dir, "up.conf"), []byte(classicUpstream), 0o644); err != nil {
		t.Fatal(err)
	}
	if u, err := Resolve("up.conf", main); err != nil || len(u.Nodes) != 2 {
		t.Fatalf("Resolve relative file: %+v, %v", u, err)
	}
	if _, err := Resolve("nope", main); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown upstream name: %v", err)
	}
}

func TestUpstreamErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[UPSTREAM]\n    name u\n", "has no nodes"},
		{"[UPSTREAM]\n    name u\n[NODE]\n    name n\n    port 1\n", "no host"},
		{"[UPSTREAM]\n    name u\n[NODE]\n    name n\n    host h\n", "no port"},
		{"[UPSTREAM]\n    name u\n[NODE]\n    name n\n    host h\n    port 70000\n", "bad port"},
		{"[UPSTREAM]\n    name u\n[NODE]\n    name n\n    host h\n    port 1\n[NODE]\n    name N\n    host h\n    port 2\n", "two nodes named"},
		{"[UPSTREAM]\n    name u\n    balance x\n[NODE]\n    name n\n    host h\n    port 1\n", "unknown key"},
	} {
		cfg, err := config.ParseClassic("u.conf", []byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Find(cfg.Other, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func BenchmarkRingLookup(b *testing.B) {
	r := NewRing([]string{"a", "b", "c"}, 0)
	keys := make([]uint64, 1024)
	for i := range keys {
		keys[i] = HashKeyString(fmt.Sprint(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Lookup(keys[i&1023], nil)
	}
}

func TestRingAddingANodeTakesKeysOnlyOntoIt(t *testing.T) {
	three := NewRing([]string{"agg-1", "agg-2", "agg-3"}, 0)
	four := NewRing([]string{"agg-1", "agg-2", "agg-3", "agg-4"}, 0)
	moved := 0
	for k := 0; k < 10000; k++ {
		h := HashKeyString(fmt.Sprintf("device-%d", k))
		before, after := three.Lookup(h, nil), four.Lookup(h, nil)
		if before != after {
			if after != 3 {
				t.Fatalf("key %d moved from node %d to node %d, not to the new node", k, before, after)
			}
			moved++
		}
	}
	// About a quarter of the keys go to the new node.
	if moved < 2000 || moved > 3000 {
		t.Errorf("%d of 10000 keys moved to the fourth node, want about 2500", moved)
	}
}
