package mesh

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"net/netip"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
)

// Per-project routing (docs/ARCHITECTURE.md, The model, A packet's way).
// Every project this gateway routes to has a kernel routing table holding its
// remote prefixes; policy rules select the table for the project's members:
// their source addresses, the local networks exported to it (their hosts
// answer), and on a gateway that is also a jump host, the uids of its member
// users. Anybody else finds the remote prefixes in the "unreachable" table:
// an ICMP error comes back and nothing leaves, not even by the default route.
// The nat stage's ACL checks the same memberships again on every packet.
const (
	// tableBase numbers vpcmesh's tables ("vp"); the unreachable table is
	// the base itself, project tables follow.
	tableBase        = 0x76700000
	unreachableTable = tableBase
	// Member rules come first, then the unreachable rule; both before the
	// main table (32766).
	memberRulePriority      = 5100
	unreachableRulePriority = 5200
)

// projectTables numbers the tables of projects, the same for the same
// name every time (a hash, then the next free number on a collision), so
// that a restart finds its tables where they were.
func projectTables(projects []string) map[string]int {
	projects = slices.Clone(projects)
	slices.Sort(projects)
	out, used := map[string]int{}, map[int]bool{}
	for _, p := range slices.Compact(projects) {
		h := fnv.New32a()
		h.Write([]byte(p))
		t := tableBase + 1 + int(h.Sum32()%0xfffe)
		for used[t] {
			t++
		}
		used[t], out[p] = true, t
	}
	return out
}

// remoteExport is a remote site's mapped export: the members that belong
// to its project alone may reach it at its real prefix (transparent mode).
type remoteExport struct {
	project    string
	real, wire netip.Prefix
}

// transparentRoutes offers each remote mapped export at its real prefix,
// unless members could not tell that prefix apart: when it overlaps one of
// this gateway's networks, a route of the project, or another export of
// the project. Members of several projects whose offers overlap are told
// to use wire addresses.
func transparentRoutes(cfg *configs.Config, exports []remoteExport, routes []nat.ProjectRoute) ([]nat.TransparentRoute, []string) {
	var local []netip.Prefix
	for _, s := range cfg.Sites {
		local = append(local, s.CIDRs...)
	}
	overlaps := func(p netip.Prefix, in []netip.Prefix) bool {
		return slices.ContainsFunc(in, p.Overlaps)
	}
	var out []nat.TransparentRoute
	var warnings []string
	for i, e := range exports {
		why := ""
		switch {
		case overlaps(e.real, local):
			why = "it overlaps a network of this gateway"
		case slices.ContainsFunc(routes, func(r nat.ProjectRoute) bool { return r.Project == e.project && r.Wire.Overlaps(e.real) }):
			why = "it overlaps a wire prefix of the project"
		case slices.ContainsFunc(exports, func(o remoteExport) bool {
			return o != exports[i] && o.project == e.project && o.wire != e.wire && o.real.Overlaps(e.real)
		}):
			why = "two sites of the project use it"
		}
		if why != "" {
			warnings = append(warnings, fmt.Sprintf("project %s: %s is reachable at its wire prefix %s only: %s", e.project, e.real, e.wire, why))
			continue
		}
		t := nat.TransparentRoute{Project: e.project, Real: e.real, Wire: e.wire}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	// A member of several projects gets no transparent route (nat), which
	// matters where their real prefixes overlap.
	projectsOf, wants := map[netip.Prefix][]string{}, map[netip.Prefix]bool{}
	for _, s := range cfg.Sites {
		for _, m := range s.Members {
			for _, src := range m.Sources {
				projectsOf[src] = append(projectsOf[src], m.Project)
				wants[src] = wants[src] || m.Transparent
			}
		}
	}
	for src, ps := range projectsOf {
		if len(ps) < 2 || !wants[src] {
			continue
		}
		for _, a := range out {
			for _, b := range out {
				if a.Project < b.Project && slices.Contains(ps, a.Project) && slices.Contains(ps, b.Project) && a.Real.Overlaps(b.Real) {
					warnings = append(warnings, fmt.Sprintf("member %s is in projects %s and %s, whose VPCs overlap at %s: it must use wire addresses (%s, %s)",
						src, a.Project, b.Project, a.Real, a.Wire, b.Wire))
				}
			}
		}
	}
	slices.Sort(warnings)
	return out, warnings
}

// userMember is a local unix user allowed a project's routes from a shell
// on this gateway: its packets leave from the gateway's address in the
// site, which is a member source like any other.
type userMember struct {
	site, project string
	uid           uint32
	addr          netip.Addr
	transparent   bool
}

// userMembers resolves the members' users on this machine.
func userMembers(cfg *configs.Config) ([]userMember, error) {
	var out []userMember
	for i, s := range cfg.Sites {
		for j, m := range s.Members {
			if len(m.Users) == 0 {
				continue
			}
			addr, err := siteAddress(s.CIDRs)
			if err != nil {
				return nil, fmt.Errorf("%s: site[%d].member[%d].users: site %s: %w", cfg.Path, i, j, s.Name, err)
			}
			for k, name := range m.Users {
				u, err := user.Lookup(name)
				if err != nil {
					return nil, fmt.Errorf("%s: site[%d].member[%d].users[%d]: no user %q on this machine", cfg.Path, i, j, k, name)
				}
				uid, err := strconv.ParseUint(u.Uid, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("%s: site[%d].member[%d].users[%d]: uid %q of %s", cfg.Path, i, j, k, u.Uid, name)
				}
				out = append(out, userMember{s.Name, m.Project, uint32(uid), addr, m.Transparent})
			}
		}
	}
	return out, nil
}

// siteAddress is this gateway's own address inside the site's networks.
func siteAddress(cidrs []netip.Prefix) (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, err
	}
	var found []netip.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(ipn.IP)
			if ip = ip.Unmap(); slices.ContainsFunc(cidrs, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				found = append(found, ip)
			}
		}
	}
	if len(found) == 0 {
		var s []string
		for _, c := range cidrs {
			s = append(s, c.String())
		}
		return netip.Addr{}, fmt.Errorf("users need an address of this gateway in %s, and no interface has one", strings.Join(s, ", "))
	}
	slices.SortFunc(found, netip.Addr.Compare)
	return found[0], nil
}

// transparentTable names the table of a project's transparent members:
// the project's routes and the real prefixes of its VPCs.
func transparentTable(project string) string { return project + transparentSuffix }

const transparentSuffix = " (transparent)"

// kernelPolicy places the wanted routes: the overlay range and plain
// site-to-site links in the main table; every project's prefixes in the
// project's table, and with its VPCs' real prefixes in the table of its
// transparent members; the unreachable twin of each for everybody else
// (of a real prefix only where no route of the system's own covers it:
// locally, local routing wins); and the rules that pick the tables.
func kernelPolicy(cfg *configs.Config, wanted []routing.Route, policy nat.Config, users []userMember, local []netip.Prefix) ([]routing.Route, []routing.Rule) {
	projectsOf := map[netip.Prefix][]string{}
	for _, r := range policy.Routes {
		if !slices.Contains(projectsOf[r.Wire], r.Project) {
			projectsOf[r.Wire] = append(projectsOf[r.Wire], r.Project)
		}
	}
	inMain := func(dst netip.Prefix) bool {
		ps := projectsOf[dst]
		return dst == cfg.Mesh.OverlayRange || len(ps) == 0 || slices.Contains(ps, LinkProject)
	}
	var names []string
	for _, r := range wanted {
		if !inMain(r.Dst) {
			names = append(names, projectsOf[r.Dst]...)
		}
	}
	// A project gets a transparent table when it has transparent routes
	// and members that asked for them.
	wants := map[string]bool{}
	for _, m := range policy.Members {
		wants[m.Project] = wants[m.Project] || m.Transparent
	}
	transparent := map[string]bool{}
	for _, t := range policy.Transparent {
		if slices.Contains(names, t.Project) && wants[t.Project] {
			transparent[t.Project] = true
		}
	}
	for p := range transparent {
		names = append(names, transparentTable(p))
	}
	tables := projectTables(names)
	src := map[string]netip.Addr{}
	for _, u := range users {
		src[u.project] = u.addr
	}
	var routes []routing.Route
	add := func(r routing.Route) {
		if !slices.Contains(routes, r) {
			routes = append(routes, r)
		}
	}
	for _, r := range wanted {
		if inMain(r.Dst) {
			add(routing.Route{Dst: r.Dst})
			continue
		}
		for _, p := range projectsOf[r.Dst] {
			add(routing.Route{Dst: r.Dst, Table: tables[p], Src: src[p]})
			if transparent[p] {
				add(routing.Route{Dst: r.Dst, Table: tables[transparentTable(p)], Src: src[p]})
			}
		}
		add(routing.Route{Dst: r.Dst, Table: unreachableTable, Unreachable: true})
	}
	for _, t := range policy.Transparent {
		if transparent[t.Project] {
			add(routing.Route{Dst: t.Real, Table: tables[transparentTable(t.Project)], Src: src[t.Project]})
			if !slices.ContainsFunc(local, t.Real.Overlaps) {
				add(routing.Route{Dst: t.Real, Table: unreachableTable, Unreachable: true})
			}
		}
	}
	var rules []routing.Rule
	addRule := func(r routing.Rule) {
		if !slices.ContainsFunc(rules, func(o routing.Rule) bool {
			return o.Priority == r.Priority && o.Src == r.Src && o.Table == r.Table && (o.UIDs == nil) == (r.UIDs == nil) && (o.UIDs == nil || *o.UIDs == *r.UIDs)
		}) {
			rules = append(rules, r)
		}
	}
	tableFor := func(project string, wantsTransparent bool) (int, bool) {
		if wantsTransparent && transparent[project] {
			return tables[transparentTable(project)], true
		}
		t, ok := tables[project]
		return t, ok
	}
	for _, m := range policy.Members {
		if t, ok := tableFor(m.Project, m.Transparent); ok {
			addRule(routing.Rule{Priority: memberRulePriority, Src: m.Source, Table: t})
		}
	}
	for _, s := range cfg.Sites {
		for _, e := range s.Exports {
			if t, ok := tables[e.Project]; ok {
				addRule(routing.Rule{Priority: memberRulePriority, Src: e.CIDR, Table: t})
			}
		}
	}
	for _, u := range users {
		if t, ok := tableFor(u.project, u.transparent); ok {
			addRule(routing.Rule{Priority: memberRulePriority, UIDs: &[2]uint32{u.uid, u.uid}, Table: t})
		}
	}
	// The gateway's own packets from its overlay address (ICMP errors for
	// packets from the mesh, as traceroute shows) go back the way they
	// came, whatever the project.
	for _, p := range slices.Sorted(maps.Keys(tables)) {
		if !strings.HasSuffix(p, transparentSuffix) {
			addRule(routing.Rule{Priority: memberRulePriority, Src: netip.PrefixFrom(cfg.Node.OverlayAddress, 32), Table: tables[p]})
		}
	}
	if slices.ContainsFunc(routes, func(r routing.Route) bool { return r.Unreachable }) {
		addRule(routing.Rule{Priority: unreachableRulePriority, Table: unreachableTable})
	}
	return routes, rules
}
