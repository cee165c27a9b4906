package configs

import (
	"fmt"
	"net/netip"
)

// memberWarnings warns of member sources that lie inside an export of
// this config to the same project: an export puts every address of its
// CIDR in the project, both ways, so such a member adds nothing, and
// whoever listed it likely meant only the members to be in the project.
// Transparent members are left alone: the flag changes how they reach the
// project.
func memberWarnings(cfg *Config) []problem {
	var w []problem
	for i, s := range cfg.Sites {
		for j, m := range s.Members {
			if m.Transparent {
				continue
			}
			for k, src := range m.Sources {
				src, ok := usable(src)
				if !ok {
					continue
				}
				if at, e, ok := exportHolding(cfg, m.Project, src); ok {
					w = append(w, fieldProblem(indexed(fmt.Sprintf("site[%d].member[%d].sources", i, j), k),
						"warning: %s lies inside %s %s, exported to project %q: every address of an export is in the project already, both ways, so this member adds nothing; to let only the members in, do not export %s",
						src, at, e.CIDR, m.Project, e.CIDR))
				}
			}
		}
	}
	return w
}

// exportHolding finds an export of cfg to project whose CIDR holds p.
func exportHolding(cfg *Config, project string, p netip.Prefix) (string, Export, bool) {
	for i, s := range cfg.Sites {
		for j, e := range s.Exports {
			if cidr, ok := usable(e.CIDR); ok && e.Project == project && contains(cidr, p) {
				return fmt.Sprintf("site[%d].export[%d].cidr", i, j), e, true
			}
		}
	}
	return "", Export{}, false
}
