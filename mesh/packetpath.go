package mesh

import (
	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/nat"
)

// LinkProject is the project of static peers configured without one: a
// plain site-to-site link, as a hand-built WireGuard tunnel would be. Every
// unmapped address of this gateway's sites may use it. The parentheses keep
// it apart from real project names, which are DNS labels.
const LinkProject = "(site-to-site)"

// PacketPolicy derives the nat stage's rules from the config
// (docs/ARCHITECTURE.md, A packet's way): local exports give the translations
// and which projects the site's addresses take part in, member rules who may
// use which project, and each static peer's prefixes the routes of its
// project. Overlay addresses are left out: overlay-to-overlay traffic always
// passes untranslated. The ACL is always on.
func PacketPolicy(cfg *configs.Config, mtu int) nat.Config {
	c := nat.Config{
		Overlay:  cfg.Mesh.OverlayRange,
		MTU:      mtu,
		MSSClamp: cfg.MSSClampEnabled(),
		ACL:      true,
	}
	var exports []configs.Export
	for _, s := range cfg.Sites {
		for _, e := range s.Exports {
			c.Mappings = append(c.Mappings, nat.Mapping{Real: e.CIDR, Wire: e.Wire()})
			c.Routes = append(c.Routes, nat.ProjectRoute{Project: e.Project, Wire: e.Wire()})
			exports = append(exports, e)
		}
		for _, m := range s.Members {
			for _, src := range m.Sources {
				c.Members = append(c.Members, nat.MemberRule{Project: m.Project, Source: src, Transparent: m.Transparent})
			}
		}
	}
	link := false
	for _, p := range cfg.Peers {
		project := p.Project
		if project == "" {
			project, link = LinkProject, true
		}
		for _, pfx := range p.Prefixes {
			if !cfg.Mesh.OverlayRange.Overlaps(pfx) {
				c.Routes = append(c.Routes, nat.ProjectRoute{Project: project, Wire: pfx})
			}
		}
	}
	if link {
		c = linkSites(c, cfg.Sites, exports)
	}
	return c
}

// linkSites exports the sites' CIDRs, as they are, to LinkProject. A CIDR
// that overlaps an export other than itself unmapped is left out: a host
// must have one wire address, and a mapped one is not what a plain link
// routes to.
func linkSites(c nat.Config, sites []configs.Site, exports []configs.Export) nat.Config {
	for _, s := range sites {
	next:
		for _, cidr := range s.CIDRs {
			for _, e := range exports {
				if e.CIDR.Overlaps(cidr) && (e.CIDR != cidr || e.Wire() != cidr) {
					continue next
				}
			}
			c.Mappings = append(c.Mappings, nat.Mapping{Real: cidr, Wire: cidr})
			c.Routes = append(c.Routes, nat.ProjectRoute{Project: LinkProject, Wire: cidr})
		}
	}
	return c
}
