package mesh

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// RouteStatus is one remote prefix as `vpcmesh routes` shows it: the peer
// that carries it, the projects it belongs to, and whether the kernel has
// the route now.
type RouteStatus struct {
	Prefix    string   `json:"prefix"`
	Peer      string   `json:"peer,omitempty"` // empty: the mesh's overlay range
	Projects  []string `json:"projects"`
	Installed bool     `json:"installed"`
}

// routeTable joins what the gateway wants (routes, peers, the packet
// rules' projects) with what the kernel has.
func routeTable(routes []routing.Route, peers []tunnel.Peer, names map[tunnel.Key]string, projects []nat.ProjectRoute, installed []string) []RouteStatus {
	out := make([]RouteStatus, 0, len(routes))
	for _, r := range routes {
		rs := RouteStatus{Prefix: r.Dst.String(), Peer: carrier(r.Dst, peers, names), Projects: []string{},
			Installed: slices.Contains(installed, r.Dst.String())}
		for _, p := range projects {
			if p.Wire.Overlaps(r.Dst) && !slices.Contains(rs.Projects, p.Project) {
				rs.Projects = append(rs.Projects, p.Project)
			}
		}
		slices.Sort(rs.Projects)
		out = append(out, rs)
	}
	slices.SortFunc(out, func(a, b RouteStatus) int {
		return netip.MustParsePrefix(a.Prefix).Addr().Compare(netip.MustParsePrefix(b.Prefix).Addr())
	})
	return out
}

// carrier names the peer whose allowed IPs take dst, by longest match.
func carrier(dst netip.Prefix, peers []tunnel.Peer, names map[tunnel.Key]string) string {
	best, bits := "", -1
	for _, p := range peers {
		for _, a := range p.AllowedIPs {
			if a.Bits() <= dst.Bits() && a.Contains(dst.Addr()) && a.Bits() > bits {
				best, bits = names[p.PublicKey], a.Bits()
			}
		}
	}
	return best
}

// ProjectStatus is one project as this gateway serves it: the remote wire
// prefixes its members may reach, and the local sources that are members
// (exports count: an exported network is in its project both ways).
type ProjectStatus struct {
	Project string   `json:"project"`
	Routes  []string `json:"routes"`
	Members []string `json:"members"`
	// Transparent are the remote VPCs its single-project members reach at
	// their real prefixes: "real → wire".
	Transparent []string `json:"transparent,omitempty"`
}

// projectTable lists the projects of the packet rules.
func projectTable(policy nat.Config) []ProjectStatus {
	by := map[string]*ProjectStatus{}
	get := func(p string) *ProjectStatus {
		if by[p] == nil {
			by[p] = &ProjectStatus{Project: p, Routes: []string{}, Members: []string{}}
		}
		return by[p]
	}
	for _, r := range policy.Routes {
		ps := get(r.Project)
		if s := r.Wire.String(); !slices.Contains(ps.Routes, s) {
			ps.Routes = append(ps.Routes, s)
		}
	}
	for _, m := range policy.Members {
		ps := get(m.Project)
		if s := m.Source.String(); !slices.Contains(ps.Members, s) {
			ps.Members = append(ps.Members, s)
		}
	}
	for _, tr := range policy.Transparent {
		ps := get(tr.Project)
		ps.Transparent = append(ps.Transparent, tr.Real.String()+" → "+tr.Wire.String())
	}
	out := make([]ProjectStatus, 0, len(by))
	for _, ps := range by {
		slices.Sort(ps.Routes)
		slices.Sort(ps.Members)
		slices.Sort(ps.Transparent)
		out = append(out, *ps)
	}
	slices.SortFunc(out, func(a, b ProjectStatus) int { return strings.Compare(a.Project, b.Project) })
	return out
}
