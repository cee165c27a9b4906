package nat

import (
	"iter"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gaissmai/bart"
)

// TestLPM4AgainstBart checks lpm4 against bart on random tables, with
// lookups near the prefixes' edges as well as anywhere.
func TestLPM4AgainstBart(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var ref bart.Table[int]
		var edges []uint32
		for i := range 1 + r.IntN(300) {
			p := randomPrefix(r, round)
			ref.Insert(p, i)
			lo := addrU32(p.Addr())
			edges = append(edges, lo, lo|^uint32(0)>>p.Bits(), lo-1, lo|^uint32(0)>>p.Bits()+1)
		}
		l := newLPM4(shuffled(r, &ref))
		for i := range 2000 {
			a := r.Uint32()
			if i%2 == 0 {
				a = edges[r.IntN(len(edges))]
			}
			want, wantOK := ref.Lookup(u32Addr(a))
			got, ok := l.lookup(a)
			if got != want || ok != wantOK {
				t.Fatalf("round %d: %s: got %d %v, want %d %v", round, u32Addr(a), got, ok, want, wantOK)
			}
		}
	}
}

// shuffled yields the entries of t in random order: newLPM4 must not rely
// on bart's, which puts supernets first.
func shuffled(r *rand.Rand, t *bart.Table[int]) iter.Seq2[netip.Prefix, int] {
	var ps []netip.Prefix
	for p := range t.All4() {
		ps = append(ps, p)
	}
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	return func(yield func(netip.Prefix, int) bool) {
		for _, p := range ps {
			v, _ := t.Get(p)
			if !yield(p, v) {
				return
			}
		}
	}
}

// randomPrefix returns a prefix of any length, crowded into few /8s so
// that prefixes nest.
func randomPrefix(r *rand.Rand, round int) netip.Prefix {
	a := r.Uint32()&0x03ffffff | uint32(round%4)<<24
	return netip.PrefixFrom(u32Addr(a), r.IntN(33)).Masked()
}

func TestLPM4Empty(t *testing.T) {
	l := newLPM4(new(bart.Table[int]).All4())
	if _, ok := l.lookup(0x0a000001); ok {
		t.Fatal("empty table found something")
	}
	var ref bart.Table[int]
	ref.Insert(pfx("0.0.0.0/0"), 7)
	if v, ok := newLPM4(ref.All4()).lookup(0xffffffff); v != 7 || !ok {
		t.Fatalf("default route: %d %v", v, ok)
	}
}
