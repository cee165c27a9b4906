package mesh

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gaissmai/bart"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// View is what gossip and admission know about the other gateways: the
// input, besides the config, of the reconciler.
type View struct {
	Nodes []*discovery.Node
	// Standby are gateways gossip has given up on but that may be back
	// under their names (discovery.Gossip.Standby): a tunnel, no routes.
	Standby []*discovery.Node
	// Observed is where admission last heard from a gateway: the endpoint
	// to use when its record offers none (it is behind NAT).
	Observed map[string]netip.AddrPort
	// Down are the gateways whose probes go unanswered: in an HA group
	// they carry their site only when no member is healthy.
	Down map[string]bool
	// Awaited are the gateways in Down that have not answered since they
	// were first probed, a few seconds ago: perhaps a lost handshake.
	Awaited map[string]bool
	// Known are all gateways whose records are held, live or not: an HA
	// group's members.
	Known []*discovery.Node
	// Paths are the endpoints chosen by hole punching: a gateway's direct
	// address that answered, or a relayed path.
	Paths map[string]netip.AddrPort
}

// remote is what the other gateways add to the desired state.
type remote struct {
	peers     []tunnel.Peer
	routes    []routing.Route
	projects  []nat.ProjectRoute
	exports   []remoteExport // what transparent mode may offer
	names     map[tunnel.Key]string
	conflicts []string
	ha        []HAGroup
}

// claim is one wire prefix a gateway announces for a project.
type claim struct {
	node, site string
	down       bool
	priority   int
	project    string
	wire       netip.Prefix
	real       netip.Prefix // of an export; invalid for a member prefix
}

// fromView turns the other gateways into peers, routes and project routes.
// Wire prefixes must be unique in the mesh; when two gateways of different
// sites announce overlapping ones, every gateway picks the same winner (the
// smaller site name, then node name) and reports the loser. Prefixes that
// overlap this gateway's own networks, exports, static peers or the
// overlay range are refused here, whoever announces them: locally, local
// configuration wins. Two gateways of one site (an HA group) announce the
// same prefixes; the higher priority carries them.
func fromView(cfg *configs.Config, v View) remote {
	r := remote{names: map[tunnel.Key]string{}}
	reserved := localReserved(cfg)
	seenKey := map[tunnel.Key]string{}
	for _, p := range cfg.Peers {
		if k, err := tunnel.ParseKey(p.PublicKey); err == nil {
			seenKey[k] = "static peer " + p.Name
		}
	}
	seenOverlay := map[netip.Addr]string{cfg.Node.OverlayAddress: cfg.Node.Name}
	var nodes, standby []*discovery.Node
	for i, n := range slices.Concat(v.Nodes, v.Standby) {
		key, err := tunnel.ParseKey(n.WireGuardKey)
		switch {
		case n.Name == cfg.Node.Name:
			continue
		case err != nil:
			r.conflicts = append(r.conflicts, fmt.Sprintf("gateway %s: WireGuard key: %v", n.Name, err))
			continue
		case seenKey[key] != "":
			r.conflicts = append(r.conflicts, fmt.Sprintf("gateway %s has the WireGuard key of %s; ignored", n.Name, seenKey[key]))
			continue
		case seenOverlay[n.Overlay] != "":
			r.conflicts = append(r.conflicts, fmt.Sprintf("gateway %s has the overlay address %s of %s; ignored", n.Name, n.Overlay, seenOverlay[n.Overlay]))
			continue
		}
		seenKey[key], seenOverlay[n.Overlay] = n.Name, n.Name
		if i < len(v.Nodes) {
			nodes = append(nodes, n)
		} else {
			standby = append(standby, n)
		}
	}
	won := pickClaims(nodes, v.Down, reserved, &r.conflicts)
	for _, n := range slices.Concat(nodes, standby) {
		key, _ := tunnel.ParseKey(n.WireGuardKey)
		p := tunnel.Peer{
			PublicKey:  key,
			Endpoint:   endpointOf(n, v.Observed),
			AllowedIPs: []netip.Prefix{netip.PrefixFrom(n.Overlay, 32)},
			Keepalive:  keepaliveFor(cfg),
		}
		if ep, ok := v.Paths[n.Name]; ok {
			p.Endpoint = ep
		}
		for _, c := range won[n.Name] {
			if !slices.Contains(p.AllowedIPs, c.wire) {
				p.AllowedIPs = append(p.AllowedIPs, c.wire)
				r.routes = append(r.routes, routing.Route{Dst: c.wire})
			}
			r.projects = append(r.projects, nat.ProjectRoute{Project: c.project, Wire: c.wire})
			if c.real.IsValid() && c.real != c.wire {
				r.exports = append(r.exports, remoteExport{c.project, c.real, c.wire})
			}
		}
		r.peers = append(r.peers, p)
		r.names[key] = n.Name
	}
	if len(nodes)+len(standby) > 0 {
		r.routes = append(r.routes, routing.Route{Dst: cfg.Mesh.OverlayRange})
	}
	r.ha = haGroups(append(slices.Clone(nodes), v.Known...), won)
	return r
}

// HAGroup is a site served by more than one gateway, as seen from here.
type HAGroup struct {
	Site    string   `json:"site"`
	Members []string `json:"members"`
	Active  string   `json:"active"` // the member carrying the site now; "" when none
}

// haGroups lists the remote sites with several gateways, and which of
// them won the site's prefixes.
func haGroups(nodes []*discovery.Node, won map[string][]claim) []HAGroup {
	bySite := map[string][]string{}
	for _, n := range nodes {
		for _, s := range n.Sites {
			if !slices.Contains(bySite[s.Name], n.Name) {
				bySite[s.Name] = append(bySite[s.Name], n.Name)
			}
		}
	}
	var out []HAGroup
	for site, members := range bySite {
		if len(members) < 2 {
			continue
		}
		slices.Sort(members)
		g := HAGroup{Site: site, Members: members}
		for _, m := range members {
			if slices.ContainsFunc(won[m], func(c claim) bool { return c.site == site }) {
				g.Active = m
			}
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b HAGroup) int { return cmp.Compare(a.Site, b.Site) })
	return out
}

// endpointOf is where to send to n: its first candidate, else where
// admission heard from it; zero when neither (it will dial us).
func endpointOf(n *discovery.Node, observed map[string]netip.AddrPort) netip.AddrPort {
	if len(n.Endpoints) > 0 {
		return n.Endpoints[0]
	}
	return observed[n.Name]
}

// claimsOf lists what a node announces: its exports and its members, by
// wire prefix.
func claimsOf(n *discovery.Node, down bool) []claim {
	var cs []claim
	failed := func(site string) bool { return down || slices.Contains(n.SitesDown, site) }
	for _, s := range n.Sites {
		for _, e := range s.Exports {
			cs = append(cs, claim{n.Name, s.Name, failed(s.Name), s.Priority, e.Project, e.Wire.Masked(), e.CIDR.Masked()})
		}
	}
	for _, m := range n.Members {
		cs = append(cs, claim{n.Name, m.Site, failed(m.Site), 0, m.Project, m.Wire.Masked(), netip.Prefix{}})
	}
	return cs
}

// pickClaims decides, for every wire prefix announced, which node carries
// it, and reports the ones refused.
func pickClaims(nodes []*discovery.Node, down map[string]bool, reserved *bart.Table[string], conflicts *[]string) map[string][]claim {
	var all []claim
	for _, n := range nodes {
		all = append(all, claimsOf(n, down[n.Name])...)
	}
	// The order decides every conflict, the same on every gateway: site
	// name, then the HA group's healthy members before failed ones, by
	// priority (higher first), then node name.
	slices.SortStableFunc(all, func(a, b claim) int {
		return cmp.Or(cmp.Compare(a.site, b.site), cmpBool(a.down, b.down), cmp.Compare(b.priority, a.priority),
			cmp.Compare(a.node, b.node), a.wire.Addr().Compare(b.wire.Addr()), cmp.Compare(a.wire.Bits(), b.wire.Bits()))
	})
	var taken bart.Table[claim]
	won := map[string][]claim{}
	for _, c := range all {
		if what, ok := overlapping(reserved, c.wire); ok {
			*conflicts = append(*conflicts, fmt.Sprintf("gateway %s announces %s (site %s, project %s), which overlaps %s here; refused",
				c.node, c.wire, c.site, c.project, what))
			continue
		}
		if prev, ok := firstOverlap(&taken, c.wire); ok {
			switch {
			case prev.node == c.node:
				// One node's prefix in several projects: one route.
			case prev.site == c.site:
				continue // the HA group's other member carries it
			default:
				*conflicts = append(*conflicts, fmt.Sprintf("wire prefix %s of gateway %s (site %s) overlaps %s of gateway %s (site %s); %s wins",
					c.wire, c.node, c.site, prev.wire, prev.node, prev.site, prev.node))
				continue
			}
			if prev.wire != c.wire {
				continue
			}
		} else {
			taken.Insert(c.wire, c)
		}
		won[c.node] = append(won[c.node], c)
	}
	return won
}

// firstOverlap returns a claim already taken that overlaps p.
func firstOverlap(t *bart.Table[claim], p netip.Prefix) (claim, bool) {
	if c, ok := t.Get(p); ok {
		return c, true
	}
	if _, c, ok := t.LookupPrefixLPM(p); ok {
		return c, true
	}
	for _, c := range t.Subnets(p) {
		return c, true
	}
	return claim{}, false
}

func overlapping(t *bart.Table[string], p netip.Prefix) (string, bool) {
	if s, ok := t.Get(p); ok {
		return s, true
	}
	if _, s, ok := t.LookupPrefixLPM(p); ok {
		return s, true
	}
	for _, s := range t.Subnets(p) {
		return s, true
	}
	return "", false
}

// localReserved holds the prefixes local configuration owns.
func localReserved(cfg *configs.Config) *bart.Table[string] {
	var t bart.Table[string]
	t.Insert(cfg.Mesh.OverlayRange, "mesh.overlay_range")
	for _, s := range cfg.Sites {
		for _, c := range s.CIDRs {
			t.Insert(c, "site "+s.Name)
		}
		for _, e := range s.Exports {
			t.Insert(e.Wire(), "an export of site "+s.Name)
		}
	}
	for _, p := range cfg.Peers {
		for _, pfx := range p.Prefixes {
			if !cfg.Mesh.OverlayRange.Overlaps(pfx) {
				t.Insert(pfx, "static peer "+p.Name)
			}
		}
	}
	return &t
}

// keepaliveFor is the keepalive toward discovered gateways. Only a gateway
// behind NAT needs one, to hold its mapping open. A public gateway sends
// none, and so does not start a handshake the moment a peer appears: when
// both ends of a new pair did that at once, each dropped the other's
// session and the tunnel stayed dead until WireGuard's 15 s retry.
func keepaliveFor(cfg *configs.Config) int {
	if cfg.Node.PublicEndpoint != "" {
		return 0
	}
	return cfg.Node.PersistentKeepalive
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// activeForSites says whether this gateway carries its sites: no healthy
// member of an HA group it is in ranks above it (priority, then name).
// Within the hold-down after its start (settlingSince, its start time;
// zero once the hold-down is over) it leaves the site to a healthy member
// that was up before it, whatever the ranks: a gateway back from a failure
// takes over only once it has stayed up. A member that started after it
// (a record's version is its node's start time in nanoseconds, plus its
// changes) is no reason to wait: a pair started together would otherwise
// leave the site to nobody for a whole hold-down. Nor is a member up
// before it that it has not heard from yet (v.Awaited) a member that
// failed: one lost handshake packet makes WireGuard wait 5 s, and taking
// the site meanwhile would move it three times instead of once.
func activeForSites(cfg *configs.Config, v View, settlingSince time.Time, ownDown []string) bool {
	for _, s := range cfg.Sites {
		if !activeFor(cfg, s, v, settlingSince, ownDown) {
			return false
		}
	}
	return true
}

// activeFor says whether this gateway carries the site s, by the rules of
// activeForSites.
func activeFor(cfg *configs.Config, s configs.Site, v View, settlingSince time.Time, ownDown []string) bool {
	if slices.Contains(ownDown, s.Name) {
		return false
	}
	for _, n := range v.Nodes {
		upBefore := !settlingSince.IsZero() && n.Version < uint64(settlingSince.UnixNano())
		if (v.Down[n.Name] && !(upBefore && v.Awaited[n.Name])) || slices.Contains(n.SitesDown, s.Name) {
			continue
		}
		for _, ns := range n.Sites {
			if ns.Name == s.Name && (upBefore || ns.Priority > s.Priority || (ns.Priority == s.Priority && n.Name < cfg.Node.Name)) {
				return false
			}
		}
	}
	return true
}
