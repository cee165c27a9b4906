package nat

import (
	"cmp"
	"iter"
	"net/netip"
	"slices"
)

// lpm4 is the data path's longest-prefix match for IPv4: a multibit trie
// with 8-bit strides, built once from a finished table and then only read.
// Each node expands the prefixes that end in it over every slot they cover
// (as in Knuth's allotment routing table), so a lookup is at most four
// dependent loads with no branches on prefix lengths. bart builds and
// checks the tables; on the data path, its lookup, generic over IPv4 and
// IPv6 and compressed for memory, cost two to three times as much, and the
// packet path does two per packet. A node takes 2 KiB: a mesh's few
// thousand prefixes under a few hundred /16s fit in a few hundred KiB.
type lpm4[V any] struct {
	nodes  []lpmNode // nodes[0] is the root
	values []V
}

type lpmNode [256]lpmSlot

// lpmSlot holds the longest prefix ending in the node that covers the slot
// (val: 1 + an index into values, 0 for none) and the node below (child: 0
// for none; the root is never a child).
type lpmSlot struct{ val, child uint32 }

// newLPM4 builds an lpm4 from IPv4 prefixes and their values.
func newLPM4[V any](all iter.Seq2[netip.Prefix, V]) *lpm4[V] {
	type entry struct {
		p netip.Prefix
		v V
	}
	var es []entry
	for p, v := range all {
		es = append(es, entry{p, v})
	}
	// Shortest first: a longer prefix then overwrites the slots of a shorter
	// one that holds it.
	slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.p.Bits(), b.p.Bits()) })
	l := &lpm4[V]{nodes: make([]lpmNode, 1)}
	for _, e := range es {
		l.insert(e.p, e.v)
	}
	return l
}

// insert enters p → v; see newLPM4 for the order.
func (l *lpm4[V]) insert(p netip.Prefix, v V) {
	l.values = append(l.values, v)
	val := uint32(len(l.values))
	a, bits := addrU32(p.Addr()), p.Bits()
	node, depth := uint32(0), 0
	for ; bits > 8*(depth+1); depth++ {
		node = l.child(node, byte(a>>(24-8*depth)))
	}
	first := int(byte(a >> (24 - 8*depth)))
	for i := range 1 << (8*(depth+1) - bits) {
		l.nodes[node][first+i].val = val
	}
}

// child returns the node below slot o of node, making it if need be.
func (l *lpm4[V]) child(node uint32, o byte) uint32 {
	if c := l.nodes[node][o].child; c != 0 {
		return c
	}
	l.nodes = append(l.nodes, lpmNode{})
	c := uint32(len(l.nodes) - 1)
	l.nodes[node][o].child = c
	return c
}

// lookup returns the value of the longest prefix holding a.
func (l *lpm4[V]) lookup(a uint32) (v V, ok bool) {
	n := &l.nodes[0]
	best := uint32(0)
	for shift := 24; ; shift -= 8 {
		s := n[byte(a>>shift)]
		if s.val != 0 {
			best = s.val
		}
		if s.child == 0 {
			break
		}
		n = &l.nodes[s.child]
	}
	if best == 0 {
		return v, false
	}
	return l.values[best-1], true
}
