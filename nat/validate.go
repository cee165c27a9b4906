package nat

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"
)

// validate reports every problem in cfg at once. The later checks assume
// the prefixes themselves are sound, so they run only when they are.
func validate(cfg Config) error {
	if err := errors.Join(checkPrefixes(cfg)...); err != nil {
		return err
	}
	var errs []error
	errs = append(errs, checkMappings(cfg.Mappings)...)
	errs = append(errs, checkWire(cfg)...)
	errs = append(errs, checkTransparent(cfg)...)
	if cfg.MSSClamp && (cfg.MTU < 68 || cfg.MTU > 65535) {
		errs = append(errs, fmt.Errorf("mtu %d out of range 68-65535", cfg.MTU))
	}
	return errors.Join(errs...)
}

// checkPrefixes checks that every prefix is a valid IPv4 prefix and every
// rule names a project.
func checkPrefixes(cfg Config) []error {
	var errs []error
	check := func(what string, p netip.Prefix) {
		if !p.IsValid() || !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("%s %q: not an IPv4 prefix", what, p))
		}
	}
	named := func(what, project string) {
		if project == "" {
			errs = append(errs, fmt.Errorf("%s without a project", what))
		}
	}
	for _, m := range cfg.Mappings {
		check("mapping real", m.Real)
		check("mapping wire", m.Wire)
	}
	for _, r := range cfg.Routes {
		check("route", r.Wire)
		named("route "+r.Wire.String(), r.Project)
	}
	for _, m := range cfg.Members {
		check("member", m.Source)
		named("member "+m.Source.String(), m.Project)
	}
	for _, r := range cfg.Transparent {
		check("transparent real", r.Real)
		check("transparent wire", r.Wire)
	}
	if cfg.Overlay != (netip.Prefix{}) {
		check("overlay", cfg.Overlay)
	}
	return errs
}

// checkMappings checks that each mapping keeps the prefix length and that
// local real prefixes do not overlap: translation back from wire would
// otherwise not be the inverse of translation to wire.
func checkMappings(ms []Mapping) []error {
	var errs []error
	var reals overlapIndex
	for _, m := range ms {
		if m.Real.Bits() != m.Wire.Bits() {
			errs = append(errs, fmt.Errorf("mapping %s → %s: prefix lengths differ", m.Real, m.Wire))
		}
		if q, bad := reals.add(m.Real, m.Wire); bad {
			errs = append(errs, fmt.Errorf("mapping real %s overlaps %s", m.Real, q))
		}
	}
	return errs
}

// checkWire checks that wire prefixes are unique: no two distinct ones
// overlap, and none overlaps the overlay range.
func checkWire(cfg Config) []error {
	var errs []error
	var wires overlapIndex
	add := func(p netip.Prefix) {
		if q, bad := wires.add(p, p); bad {
			errs = append(errs, fmt.Errorf("wire prefix %s overlaps %s", p, q))
		}
	}
	for _, r := range cfg.Routes {
		add(r.Wire)
	}
	for _, m := range cfg.Mappings {
		add(m.Wire)
	}
	if cfg.Overlay.IsValid() && wires.t.OverlapsPrefix(cfg.Overlay) {
		errs = append(errs, fmt.Errorf("overlay %s overlaps a wire prefix", cfg.Overlay))
	}
	return errs
}

// checkTransparent checks transparent routes: the length is kept, the wire
// prefix is a route of the project, and a member of the project can tell
// every real destination apart: it overlaps neither another destination of
// the project nor a local real prefix.
func checkTransparent(cfg Config) []error {
	var errs []error
	routes := map[ProjectRoute]bool{}
	dests := map[string]*overlapIndex{}
	for _, r := range cfg.Routes {
		routes[r] = true
		projectDests(dests, r.Project).add(r.Wire, r.Wire)
	}
	var locals overlapIndex
	for _, m := range cfg.Mappings {
		locals.add(m.Real, m.Real)
	}
	for _, r := range cfg.Transparent {
		errs = append(errs, checkTransparentRoute(r, routes, projectDests(dests, r.Project), &locals)...)
	}
	return errs
}

func checkTransparentRoute(r TransparentRoute, routes map[ProjectRoute]bool, dests, locals *overlapIndex) []error {
	var errs []error
	name := fmt.Sprintf("transparent %s %s → %s", r.Project, r.Real, r.Wire)
	if r.Real.Bits() != r.Wire.Bits() {
		errs = append(errs, fmt.Errorf("%s: prefix lengths differ", name))
	}
	if !routes[ProjectRoute{Project: r.Project, Wire: r.Wire}] {
		errs = append(errs, fmt.Errorf("%s: %s is not a route of the project", name, r.Wire))
	}
	if q, bad := dests.add(r.Real, r.Wire); bad {
		errs = append(errs, fmt.Errorf("%s: %s overlaps %s, another destination of the project", name, r.Real, q))
	}
	if locals.t.OverlapsPrefix(r.Real) {
		errs = append(errs, fmt.Errorf("%s: %s overlaps a local real prefix", name, r.Real))
	}
	return errs
}

func projectDests(m map[string]*overlapIndex, project string) *overlapIndex {
	if m[project] == nil {
		m[project] = &overlapIndex{}
	}
	return m[project]
}

// overlapIndex finds overlapping prefixes. Each prefix carries a tag; a
// prefix entered again with the same tag is a harmless repeat.
type overlapIndex struct {
	t bart.Table[netip.Prefix]
}

// add enters p with tag. It returns the prefix p clashes with and true when
// p overlaps a different prefix or repeats one with a different tag.
func (x *overlapIndex) add(p, tag netip.Prefix) (netip.Prefix, bool) {
	if old, ok := x.t.Get(p); ok {
		return p, old != tag
	}
	if q, _, ok := x.t.LookupPrefixLPM(p); ok {
		return q, true
	}
	for q := range x.t.Subnets(p) {
		return q, true
	}
	x.t.Insert(p, tag)
	return netip.Prefix{}, false
}
