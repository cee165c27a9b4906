package configs

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Conflicts reports what the configs of several gateways, each valid on
// its own, get wrong together: two gateways with the same node name or
// overlay address, overlapping wire prefixes (but for the same export of
// the same site, which the gateways of an HA group share), gateways of one
// site (an HA group) declaring different cidrs — each an error at the
// later file's field, naming the earlier file's — and, as warnings,
// mesh.join addresses that are no other gateway's node.public_endpoint
// among them. Configs of different meshes (mesh.name) are not compared.
// Both lists are in the order of cfgs, then by position.
func Conflicts(cfgs []*Config) (errs, warns []*FieldError) {
	for j, b := range cfgs {
		var probs, ws []*FieldError
		for _, a := range cfgs[:j] {
			if a.Mesh.Name == b.Mesh.Name {
				probs = append(probs, conflicts(a, b)...)
				ws = append(ws, zoneOverlaps(a, b)...)
			}
		}
		for k, join := range b.Mesh.Join {
			if !slices.ContainsFunc(cfgs, func(c *Config) bool {
				return c != b && c.Mesh.Name == b.Mesh.Name && strings.EqualFold(c.Node.PublicEndpoint, join)
			}) {
				note := ""
				if host, _, err := net.SplitHostPort(join); err == nil && net.ParseIP(host) == nil {
					note = " (check resolves no names: write both the same way)"
				}
				ws = append(ws, b.fieldError(indexed("mesh.join", k),
					"warning: %s is no other gateway's node.public_endpoint among the %d files checked%s", join, len(cfgs), note))
			}
		}
		errs, warns = append(errs, byPosition(probs)...), append(warns, byPosition(ws)...)
	}
	return errs, warns
}

// zoneOverlaps warns of a DNS zone that an export of b names and an export
// of another site in a names too: of another project, members of both get
// the answer of the project first by name; of the same project, only one
// site's answer is ever seen. An HA group's members share their zones.
func zoneOverlaps(a, b *Config) []*FieldError {
	var ws []*FieldError
	for j, sb := range b.Sites {
		for k, eb := range sb.Exports {
			for z, zb := range eb.DNSZones {
				for _, sa := range a.Sites {
					if sa.Name == sb.Name {
						continue
					}
					for _, ea := range sa.Exports {
						if !slices.ContainsFunc(ea.DNSZones, func(za string) bool { return sameZone(za, zb) }) {
							continue
						}
						f := indexed(indexed(indexed("site", j)+".export", k)+".dns_zones", z)
						if ea.Project == eb.Project {
							ws = append(ws, b.fieldError(f, "warning: zone %s of project %s is also answered by site %s in %s: members see one site's names only",
								zb, eb.Project, sa.Name, a.Path))
						} else {
							first := min(ea.Project, eb.Project)
							ws = append(ws, b.fieldError(f, "warning: zone %s is also a zone of project %s in %s: members of both projects get %s's answers",
								zb, ea.Project, a.Path, first))
						}
					}
				}
			}
		}
	}
	return ws
}

func sameZone(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// conflicts are the problems between a and b, reported at b's fields.
func conflicts(a, b *Config) []*FieldError {
	var errs []*FieldError
	if a.Node.Name != "" && a.Node.Name == b.Node.Name {
		errs = append(errs, b.fieldError("node.name", "%q is also the node name in %s: every gateway needs a name of its own",
			b.Node.Name, a.where("node.name")))
	}
	if a.Node.OverlayAddress.IsValid() && a.Node.OverlayAddress == b.Node.OverlayAddress {
		errs = append(errs, b.fieldError("node.overlay_address", "%s is also the overlay address in %s: every gateway needs one of its own",
			b.Node.OverlayAddress, a.where("node.overlay_address")))
	}
	for i, sa := range a.Sites {
		for j, sb := range b.Sites {
			fa, fb := indexed("site", i), indexed("site", j)
			if sa.Name == sb.Name && !slices.Equal(sortedPrefixes(sa.CIDRs), sortedPrefixes(sb.CIDRs)) {
				errs = append(errs, b.fieldError(fb+".cidrs", "site %q is [%s] here but [%s] in %s: the gateways of one site (an HA group) must declare the same cidrs",
					sb.Name, joinPrefixes(sb.CIDRs), joinPrefixes(sa.CIDRs), a.where(fa+".cidrs")))
			}
			for k, ea := range sa.Exports {
				for l, eb := range sb.Exports {
					wa, wb := ea.Wire(), eb.Wire()
					if !wa.IsValid() || !wb.IsValid() || !wa.Overlaps(wb) {
						continue
					}
					if sa.Name == sb.Name && wa == wb && ea.Project == eb.Project && ea.CIDR == eb.CIDR {
						continue // one export of an HA group's site
					}
					errs = append(errs, b.fieldError(wireField(indexed(fb+".export", l), eb), "wire prefix %s overlaps %s in %s: wire prefixes must be unique in the mesh",
						wb, wa, a.where(wireField(indexed(fa+".export", k), ea))))
				}
			}
		}
	}
	return errs
}

// wireField is the key that gives an export its wire prefix.
func wireField(f string, e Export) string {
	if e.Mapped.IsValid() {
		return f + ".mapped"
	}
	return f + ".cidr"
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := usableAll(ps)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return slices.Compact(out)
}

// fieldError places a problem at field of c's file; a config not parsed
// from a file (built in code) has no positions: 0:0.
func (c *Config) fieldError(field, format string, args ...any) *FieldError {
	p := fieldProblem(field, format, args...)
	if c.ix == nil {
		return &FieldError{File: c.Path, Field: field, Msg: oneLine(p.msg)}
	}
	return fieldError(c.Path, c.ix, p)
}

// where is FILE:LINE:COL (FIELD) of field in c's file.
func (c *Config) where(field string) string {
	e := c.fieldError(field, "")
	return fmt.Sprintf("%s:%d:%d (%s)", e.File, e.Line, e.Col, field)
}

func byPosition(errs []*FieldError) []*FieldError {
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return errs
}
