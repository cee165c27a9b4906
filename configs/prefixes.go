package configs

import "net/netip"

// The mesh's invariant is that every wire prefix is unique
// (docs/ARCHITECTURE.md, The model); locally, a gateway must also tell its
// own networks, the overlay and the remote prefixes apart to route at all.
// These checks see every prefix a field puts to use as a claim and report
// each overlapping pair once, at the later field.

type kind int

const (
	localCIDR  kind = iota // a site's real network
	plainWire              // an exported CIDR, on the wire as it is
	mappedWire             // an export's mapped prefix
	peerPrefix             // a static peer's prefix
)

type claim struct {
	field  string
	prefix netip.Prefix
	kind   kind
	site   int // the local site, for localCIDR and exports
}

func (c *checker) prefixes(cfg *Config) {
	claims := localClaims(cfg.Sites)
	claims = append(claims, c.wireClaims(cfg.Sites)...)
	claims = append(claims, peerClaims(cfg.Peers)...)
	c.overlaps(claims)
	if overlay, ok := usable(cfg.Mesh.OverlayRange); ok {
		c.overlay(cfg, overlay, claims)
	}
}

func localClaims(sites []Site) []claim {
	var claims []claim
	for i, s := range sites {
		for j, p := range s.CIDRs {
			if p, ok := usable(p); ok {
				claims = append(claims, claim{indexed(indexed("site", i)+".cidrs", j), p, localCIDR, i})
			}
		}
	}
	return claims
}

// wireClaims are the sites' exports. One CIDR exported to several projects
// is one wire prefix; exporting it under two different ones is an error.
func (c *checker) wireClaims(sites []Site) []claim {
	var claims []claim
	for i, s := range sites {
		seen := map[netip.Prefix]exported{}
		for j, e := range s.Exports {
			f := indexed(indexed("site", i)+".export", j)
			cidr, w, ok := exportClaim(f, e, i)
			if !ok {
				continue
			}
			prev, dup := seen[cidr]
			switch {
			case !dup:
				c.nestedMapping(cidr, w, seen)
				seen[cidr] = exported{w, e.Project}
				claims = append(claims, w)
			case prev.prefix != w.prefix:
				c.add(w.field, "%s is exported as wire prefix %s at %s already; one CIDR has one wire prefix", cidr, prev.prefix, prev.field)
			case prev.project == e.Project:
				c.add(f+".cidr", "duplicate export of %s to project %q, also at %s", cidr, e.Project, parent(prev.field))
			}
		}
	}
	return claims
}

// exported is the first export of a CIDR.
type exported struct {
	claim
	project string
}

// nestedMapping reports an exported CIDR that overlaps another export's
// CIDR when either is mapped: the hosts in both would have two wire
// addresses, and a reply could not be translated back to one of them.
func (c *checker) nestedMapping(cidr netip.Prefix, w claim, seen map[netip.Prefix]exported) {
	for other, prev := range seen {
		if other.Overlaps(cidr) && (w.kind == mappedWire || prev.kind == mappedWire) {
			c.add(w.field, "%s overlaps the CIDR exported at %s, and one of them is mapped; a host must have one wire address", cidr, parent(prev.field))
		}
	}
}

// exportClaim is an export's CIDR and wire prefix, when both are usable.
// A mapped prefix equal to the CIDR is no translation at all.
func exportClaim(f string, e Export, site int) (netip.Prefix, claim, bool) {
	cidr, ok := usable(e.CIDR)
	if !ok {
		return cidr, claim{}, false
	}
	switch {
	case e.Mapped.Auto && !e.Mapped.IsValid():
		return cidr, claim{}, false // allocated at signing: nothing to compare yet
	case !e.Mapped.IsValid():
		return cidr, claim{f + ".cidr", cidr, plainWire, site}, true
	}
	mapped, ok := usable(e.Mapped.Prefix)
	if !ok || mapped.Bits() != cidr.Bits() {
		return cidr, claim{}, false
	}
	if mapped == cidr {
		return cidr, claim{f + ".mapped", cidr, plainWire, site}, true
	}
	return cidr, claim{f + ".mapped", mapped, mappedWire, site}, true
}

func peerClaims(peers []Peer) []claim {
	var claims []claim
	for i, p := range peers {
		for j, q := range p.Prefixes {
			if q, ok := usable(q); ok {
				claims = append(claims, claim{indexed(indexed("peer", i)+".prefixes", j), q, peerPrefix, -1})
			}
		}
	}
	return claims
}

func (c *checker) overlaps(claims []claim) {
	for j, b := range claims {
		for _, a := range claims[:j] {
			if why := clash(a, b); why != "" && a.prefix.Overlaps(b.prefix) {
				c.add(b.field, "%s overlaps %s %s: %s", b.prefix, a.field, a.prefix, why)
			}
		}
	}
}

// clash says why claims a and b (a first) must not overlap, or "" when
// their overlap is fine or reported through another pair: an exported CIDR
// lies inside its site's network, which is checked against the others.
func clash(a, b claim) string {
	switch {
	case a.kind == localCIDR && b.kind == localCIDR:
		return "a gateway cannot route two local networks that overlap"
	case a.kind == plainWire && b.kind == plainWire && a.site == b.site:
		return "every wire prefix must be unique in the mesh"
	case a.kind == plainWire || b.kind == plainWire:
		return ""
	case a.kind == localCIDR || b.kind == localCIDR:
		return "a wire prefix must not reuse this gateway's local addresses"
	default:
		return "every wire prefix must be unique in the mesh"
	}
}

// overlay keeps the overlay range apart: it holds gateways' overlay
// addresses only, and a peer's /32 inside it is that peer's address.
func (c *checker) overlay(cfg *Config, overlay netip.Prefix, claims []claim) {
	addr := cfg.Node.OverlayAddress
	if addr.Is4() && !overlay.Contains(addr) {
		c.add("node.overlay_address", "%s is outside mesh.overlay_range %s", addr, overlay)
	}
	if pool, ok := usable(cfg.Mesh.MappedPool); ok && pool.Overlaps(overlay) {
		c.add("mesh.mapped_pool", "%s overlaps mesh.overlay_range %s", pool, overlay)
	}
	for _, cl := range claims {
		switch {
		case cl.kind == plainWire || !cl.prefix.Overlaps(overlay):
		case cl.kind == peerPrefix && cl.prefix.Bits() == 32 && cl.prefix.Addr() == addr:
			c.add(cl.field, "%s is this node's own overlay address (node.overlay_address)", cl.prefix)
		case cl.kind == peerPrefix && cl.prefix.Bits() == 32:
			// the peer's overlay address
		default:
			c.add(cl.field, "%s overlaps mesh.overlay_range %s, which is kept for gateways' overlay addresses", cl.prefix, overlay)
		}
	}
}

// usable is p masked, if it is an IPv4 prefix: what cross-field checks
// work on, whatever its own problems (reported elsewhere).
func usable(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

func usableAll(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p, ok := usable(p); ok {
			out = append(out, p)
		}
	}
	return out
}

// contains says whether inner lies wholly inside outer.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func containedIn(p netip.Prefix, outers []netip.Prefix) bool {
	for _, o := range outers {
		if contains(o, p) {
			return true
		}
	}
	return false
}
