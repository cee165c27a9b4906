package nat

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// Compile checks cfg and builds the lookup tables. Prefixes are taken with
// their host bits cleared. Every problem found is reported at once.
func Compile(cfg Config) (*Table, error) {
	cfg = normalize(cfg)
	if err := validate(cfg); err != nil {
		return nil, fmt.Errorf("nat: %w", err)
	}
	c := newCompiler(cfg)
	t := &Table{acl: cfg.ACL, overlay: prefix4Of(cfg.Overlay)}
	if cfg.MSSClamp {
		t.mss = uint16(cfg.MTU - mssOverhead)
	}
	c.buildWire()
	c.buildTransparent()
	c.buildLocal()
	c.linkExports()
	t.wire = newLPM4(maps.All(c.wire))
	t.local = newLPM4(c.local.All4())
	return t, nil
}

// compiler holds what building the tables needs between steps.
type compiler struct {
	cfg   Config
	index map[string]int // project name → bit in a projectSet
	wire  map[netip.Prefix]*wireEntry
	local bart.Table[*localEntry]
	trans []*transparent // by project index; nil where a project has none
}

func newCompiler(cfg Config) *compiler {
	names := map[string]bool{}
	for _, r := range cfg.Routes {
		names[r.Project] = true
	}
	for _, m := range cfg.Members {
		names[m.Project] = true
	}
	c := &compiler{cfg: cfg, index: map[string]int{}, wire: map[netip.Prefix]*wireEntry{}}
	for i, n := range slices.Sorted(maps.Keys(names)) {
		c.index[n] = i
	}
	c.trans = make([]*transparent, len(c.index))
	return c
}

func (c *compiler) newSet() projectSet { return newProjectSet(len(c.index)) }

// buildWire enters every wire prefix with its projects, and the way back to
// real for local exports. validate made sure wire prefixes do not overlap.
func (c *compiler) buildWire() {
	for _, r := range c.cfg.Routes {
		c.wireEntry(r.Wire).projects.add(c.index[r.Project])
	}
	for _, m := range c.cfg.Mappings {
		c.wireEntry(m.Wire).toReal = xlatOf(m.Wire, m.Real)
	}
}

func (c *compiler) wireEntry(p netip.Prefix) *wireEntry {
	e := c.wire[p]
	if e == nil {
		e = &wireEntry{prefix: prefix4Of(p), projects: c.newSet(), toReal: identity}
		c.wire[p] = e
	}
	return e
}

// buildTransparent builds each project's transparent routes, both ways.
func (c *compiler) buildTransparent() {
	out := make([]map[netip.Prefix]xlat, len(c.index))
	in := make([]map[netip.Prefix]xlat, len(c.index))
	for _, r := range c.cfg.Transparent {
		i := c.index[r.Project]
		if out[i] == nil {
			out[i], in[i] = map[netip.Prefix]xlat{}, map[netip.Prefix]xlat{}
		}
		out[i][r.Real] = xlatOf(r.Real, r.Wire)
		in[i][r.Wire] = xlatOf(r.Wire, r.Real)
	}
	for i := range out {
		if out[i] != nil {
			c.trans[i] = &transparent{out: newLPM4(maps.All(out[i])), in: newLPM4(maps.All(in[i]))}
		}
	}
}

// buildLocal enters local exports and member sources. Member prefixes may
// nest in each other and in exports, so each entry takes in everything its
// supernets say: inserting shortest first, the longest match among the
// entries already in is the closest supernet, itself complete.
func (c *compiler) buildLocal() {
	seeds := c.localSeeds()
	for _, p := range slices.SortedFunc(maps.Keys(seeds), byBits) {
		e := seeds[p]
		if parent, ok := c.local.LookupPrefix(p); ok {
			e.inherit(parent)
		}
		if i := e.members.only(); i >= 0 && e.wantsTrans {
			e.trans = c.trans[i]
		}
		c.local.Insert(p, e)
	}
}

// linkExports points each local export's wire entry at the export's local
// entry when no other local prefix lies inside the export.
func (c *compiler) linkExports() {
	for _, m := range c.cfg.Mappings {
		inside := 0
		for range c.local.Subnets(m.Real) { // m.Real itself included
			inside++
		}
		if inside == 1 {
			c.wire[m.Wire].local, _ = c.local.Get(m.Real)
		}
	}
}

// localSeeds returns what each local prefix says by itself.
func (c *compiler) localSeeds() map[netip.Prefix]*localEntry {
	seeds := map[netip.Prefix]*localEntry{}
	seed := func(p netip.Prefix) *localEntry {
		if seeds[p] == nil {
			seeds[p] = &localEntry{projects: c.newSet(), members: c.newSet(), toWire: identity}
		}
		return seeds[p]
	}
	for _, m := range c.cfg.Mappings {
		e := seed(m.Real)
		e.toWire = xlatOf(m.Real, m.Wire)
		if w := c.wire[m.Wire]; w != nil {
			e.projects.addAll(w.projects)
		}
	}
	for _, r := range c.cfg.Members {
		e := seed(r.Source)
		e.projects.add(c.index[r.Project])
		e.members.add(c.index[r.Project])
		e.wantsTrans = e.wantsTrans || r.Transparent
	}
	return seeds
}

// inherit merges the complete entry of the closest supernet into e.
func (e *localEntry) inherit(parent *localEntry) {
	e.projects.addAll(parent.projects)
	e.members.addAll(parent.members)
	e.wantsTrans = e.wantsTrans || parent.wantsTrans
	if e.toWire == identity {
		e.toWire = parent.toWire
	}
}

// byBits orders prefixes shortest first, then by address.
func byBits(a, b netip.Prefix) int {
	if c := cmp.Compare(a.Bits(), b.Bits()); c != 0 {
		return c
	}
	return a.Addr().Compare(b.Addr())
}

// normalize returns cfg with every prefix's host bits cleared, without
// touching the caller's slices.
func normalize(cfg Config) Config {
	cfg.Mappings = cloneEach(cfg.Mappings, func(m *Mapping) { mask(&m.Real, &m.Wire) })
	cfg.Routes = cloneEach(cfg.Routes, func(r *ProjectRoute) { mask(&r.Wire) })
	cfg.Members = cloneEach(cfg.Members, func(m *MemberRule) { mask(&m.Source) })
	cfg.Transparent = cloneEach(cfg.Transparent, func(r *TransparentRoute) { mask(&r.Real, &r.Wire) })
	mask(&cfg.Overlay)
	return cfg
}

// cloneEach returns a copy of s with f applied to each element.
func cloneEach[T any](s []T, f func(*T)) []T {
	s = slices.Clone(s)
	for i := range s {
		f(&s[i])
	}
	return s
}

func mask(ps ...*netip.Prefix) {
	for _, p := range ps {
		*p = p.Masked()
	}
}
