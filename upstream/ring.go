package upstream

import (
	"slices"
	"strconv"
)

// DefaultPoints is how many points each node has on a Ring. Each node's share of the ring
// varies by about 1/sqrt(points) (ketama's 160 points give ±8% at one standard deviation);
// 1024 keep three nodes within ±10% of their share with a wide margin, at 24 bytes a
// point.
const DefaultPoints = 1024

// Ring is a consistent-hash ring with virtual nodes, the memcached (ketama) way: every
// node is put at many points of a 64-bit circle by hashing its name and the point's
// number, and a key belongs to the node of the first point at or after the key's hash.
// Removing a node therefore moves only the keys that were on its points (each to the
// point after), and adding one takes keys only from others onto its own points. The
// hash is FNV-1a 64 with a murmur3 finalizer: stable across versions and machines,
// so agents on different devices agree on where a key goes.
//
// A Ring is immutable and safe for concurrent use.
type Ring struct {
	points []point
	names  []string
}

type point struct {
	hash uint64
	node int32 // index in names
}

// NewRing places nodes (by their names, which must be distinct) on a ring with points
// per node (DefaultPoints when points <= 0).
func NewRing(names []string, points int) *Ring {
	if points <= 0 {
		points = DefaultPoints
	}
	r := &Ring{names: slices.Clone(names), points: make([]point, 0, len(names)*points)}
	var buf []byte
	for i, name := range names {
		for p := 0; p < points; p++ {
			buf = append(buf[:0], name...)
			buf = append(buf, '#')
			buf = strconv.AppendInt(buf, int64(p), 10)
			r.points = append(r.points, point{hash: HashKey(buf), node: int32(i)})
		}
	}
	// Ties (two points with one hash) are broken by node name, so the ring does not
	// depend on the order nodes were listed in.
	slices.SortFunc(r.points, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		switch na, nb := r.names[a.node], r.names[b.node]; {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	})
	return r
}

// HashKey is the ring's hash of a key: FNV-1a 64 followed by murmur3's 64-bit finalizer
// (FNV alone leaves similar short keys, "node#1", "node#2", close together).
func HashKey(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// HashKeyString is HashKey of a string, without allocating.
func HashKeyString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Len is the number of nodes on the ring.
func (r *Ring) Len() int { return len(r.names) }

// Lookup returns the index (in the names given to NewRing) of the node key hash h
// belongs to: the owner of the first point at or after h, wrapping around. skip, if not
// nil, passes over nodes for which it returns true, so the key goes to the next node on
// the ring; Lookup returns -1 when every node is skipped or the ring is empty.
func (r *Ring) Lookup(h uint64, skip func(node int) bool) int {
	if len(r.points) == 0 {
		return -1
	}
	i, _ := slices.BinarySearchFunc(r.points, h, func(p point, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	if skip == nil {
		return int(r.points[i%len(r.points)].node)
	}
	for n := 0; n < len(r.points); n++ {
		if p := r.points[(i+n)%len(r.points)]; !skip(int(p.node)) {
			return int(p.node)
		}
	}
	return -1
}
