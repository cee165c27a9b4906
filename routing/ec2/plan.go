package ec2

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Table is a VPC route table as DescribeRouteTables shows it, reduced to
// its IPv4 routes.
type Table struct {
	ID     string
	Routes []Route
	// Leftover marks a table vpcmesh no longer manages (taken out of the
	// config) that still holds routes it made: those are removed, nothing
	// is added.
	Leftover bool
}

// Route is one IPv4 route of a table.
type Route struct {
	Dst       netip.Prefix
	Target    string // eni-…, igw-…, nat-…, local, …: where EC2 sends the traffic
	Blackhole bool   // the target is gone (state blackhole)
}

// TableRoute names one route: a destination in a table.
type TableRoute struct {
	Table string       `json:"table"`
	Dst   netip.Prefix `json:"destination"`
}

func compareTableRoutes(a, b TableRoute) int {
	return cmp.Or(strings.Compare(a.Table, b.Table), a.Dst.Addr().Compare(b.Dst.Addr()), cmp.Compare(a.Dst.Bits(), b.Dst.Bits()))
}

// Op is what to do with one route.
type Op int

const (
	Create   Op = iota + 1 // add the route, to this gateway's interface
	Replace                // re-point vpcmesh's route from another interface to this one
	Delete                 // remove vpcmesh's route that is no longer wanted
	Forget                 // drop from the record a route that is gone or no longer ours
	Conflict               // a route vpcmesh did not create holds a wanted prefix: left alone
)

func (o Op) String() string {
	return [...]string{"?", "create", "replace", "delete", "forget", "conflict"}[o]
}

// Action is one step of a plan. Target is the route's current target, for
// Replace and Conflict.
type Action struct {
	Op Op
	TableRoute
	Target string
}

func (a Action) String() string {
	switch a.Op {
	case Replace:
		return fmt.Sprintf("replace %s in %s (was → %s)", a.Dst, a.Table, a.Target)
	case Conflict:
		return fmt.Sprintf("conflict: %s in %s → %s was not created by vpcmesh; left alone", a.Dst, a.Table, a.Target)
	}
	return fmt.Sprintf("%s %s in %s", a.Op, a.Dst, a.Table)
}

// Plan computes what makes the tables send every wanted prefix to eni.
// owned holds the routes vpcmesh created (by this gateway or by a peer of
// its HA group). The rules:
//   - a wanted prefix with no route gets one (only when active: a standby
//     does not steer traffic to itself);
//   - a route to it that points elsewhere is replaced when vpcmesh owns it
//     and this gateway is active, else reported as a conflict if vpcmesh
//     does not own it;
//   - an owned route no longer wanted is deleted if it points here (or
//     nowhere), and forgotten if it is gone or now points elsewhere;
//   - any other route is never touched.
//
// IPv6 prefixes are ignored: EC2 keeps them apart and vpcmesh routes IPv4.
func Plan(wanted []netip.Prefix, eni string, tables []Table, owned map[TableRoute]bool, active bool) []Action {
	want := wantedSet(wanted)
	var out []Action
	for _, t := range tables {
		routes := make(map[netip.Prefix]Route, len(t.Routes))
		for _, r := range t.Routes {
			routes[r.Dst] = r
		}
		if !t.Leftover {
			out = append(out, planWanted(t.ID, want, routes, eni, owned, active)...)
		}
		out = append(out, planUnwanted(t, want, routes, eni, owned)...)
	}
	return out
}

// wantedSet is wanted, IPv4 only, masked, sorted and without duplicates.
func wantedSet(wanted []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range wanted {
		if p.IsValid() && p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return compareTableRoutes(TableRoute{Dst: a}, TableRoute{Dst: b})
	})
	return slices.Compact(out)
}

func planWanted(table string, want []netip.Prefix, routes map[netip.Prefix]Route, eni string, owned map[TableRoute]bool, active bool) []Action {
	var out []Action
	for _, p := range want {
		key := TableRoute{Table: table, Dst: p}
		r, ok := routes[p]
		switch {
		case !ok:
			if active {
				out = append(out, Action{Op: Create, TableRoute: key})
			}
		case r.Target == eni && !r.Blackhole:
		case !owned[key]:
			out = append(out, Action{Op: Conflict, TableRoute: key, Target: r.Target})
		case active:
			out = append(out, Action{Op: Replace, TableRoute: key, Target: r.Target})
		}
	}
	return out
}

func planUnwanted(t Table, want []netip.Prefix, routes map[netip.Prefix]Route, eni string, owned map[TableRoute]bool) []Action {
	var out []Action
	for _, key := range unwanted(t, want, owned) {
		r, ok := routes[key.Dst]
		switch {
		case ok && (r.Target == eni || r.Blackhole):
			out = append(out, Action{Op: Delete, TableRoute: key})
		default:
			out = append(out, Action{Op: Forget, TableRoute: key, Target: r.Target})
		}
	}
	return out
}

// unwanted lists, sorted, the owned routes of t whose prefix is not wanted
// there.
func unwanted(t Table, want []netip.Prefix, owned map[TableRoute]bool) []TableRoute {
	var out []TableRoute
	for k, on := range owned {
		if on && k.Table == t.ID && (t.Leftover || !slices.Contains(want, k.Dst)) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, compareTableRoutes)
	return out
}
