// Package routing makes the kernel's routes, addresses and sysctls match
// what mesh computed. Every route it installs carries the route protocol
// number Protocol, so that its own routes can be found again after a crash
// and nobody else's are ever touched.
package routing

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Protocol marks vpcmesh's routes: `ip route show proto 118`.
// The systemd package names it "vpcmesh" in /etc/iproute2/rt_protos.d.
const Protocol netlink.RouteProtocol = 118

// Route is one desired kernel route through the mesh interface.
type Route struct {
	Dst   netip.Prefix
	Table int // 0 means the main table
	// Src is the source address the gateway's own packets take on this
	// route (the kernel's preferred source); invalid: the kernel's choice.
	Src netip.Addr
	// Unreachable makes it a route that answers "unreachable" instead of
	// going anywhere: what a non-member finds.
	Unreachable bool
}

func (r Route) table() int {
	if r.Table == 0 {
		return unix.RT_TABLE_MAIN
	}
	return r.Table
}

// Diff counts what a Sync changed.
type Diff struct{ Added, Removed int }

// Owned lists every route that carries Protocol, in every table.
func Owned() ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_UNSPEC}
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list vpcmesh routes: %w", err)
	}
	return rs, nil
}

// Sync makes the kernel's vpcmesh routes exactly want, all through the link
// named dev: it deletes owned routes that are not wanted (stale ones from a
// crash included) and adds the missing ones. It is idempotent.
func Sync(dev string, want []Route) (Diff, error) {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return Diff{}, fmt.Errorf("find %s: %w", dev, err)
	}
	have, err := Owned()
	if err != nil {
		return Diff{}, err
	}
	var d Diff
	var errs []error
	for _, r := range have {
		if !slices.ContainsFunc(want, func(w Route) bool { return matches(r, w, link) }) {
			errs = append(errs, ignoreMissing(netlink.RouteDel(&r)))
			d.Removed++
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(have, func(r netlink.Route) bool { return matches(r, w, link) }) {
			errs = append(errs, netlink.RouteReplace(kernelRoute(w, link)))
			d.Added++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return d, fmt.Errorf("sync routes on %s: %w", dev, err)
	}
	return d, nil
}

// LocalRoutes lists the destinations of the main table's routes that are
// not vpcmesh's, the default route left out: the networks this machine
// reaches by itself.
func LocalRoutes() ([]netip.Prefix, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range rs {
		if r.Protocol != Protocol && r.Dst != nil {
			if p := prefixOf(r.Dst); p.Bits() > 0 {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Flush removes every vpcmesh route from every table.
func Flush() (int, error) {
	have, err := Owned()
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, r := range have {
		errs = append(errs, ignoreMissing(netlink.RouteDel(&r)))
	}
	return len(have), errors.Join(errs...)
}

func matches(r netlink.Route, w Route, link netlink.Link) bool {
	if r.Table != w.table() || r.Dst == nil || prefixOf(r.Dst) != w.Dst {
		return false
	}
	if w.Unreachable {
		return r.Type == unix.RTN_UNREACHABLE
	}
	src, _ := netip.AddrFromSlice(r.Src)
	return r.Type == unix.RTN_UNICAST && r.LinkIndex == link.Attrs().Index && src.Unmap() == w.Src
}

func kernelRoute(w Route, link netlink.Link) *netlink.Route {
	r := &netlink.Route{
		Dst:      &net.IPNet{IP: w.Dst.Addr().AsSlice(), Mask: net.CIDRMask(w.Dst.Bits(), w.Dst.Addr().BitLen())},
		Protocol: Protocol,
		Table:    w.table(),
	}
	if w.Unreachable {
		r.Type = unix.RTN_UNREACHABLE
		return r
	}
	r.LinkIndex, r.Scope, r.Type = link.Attrs().Index, netlink.SCOPE_LINK, unix.RTN_UNICAST
	if w.Src.IsValid() {
		r.Src = w.Src.AsSlice()
	}
	return r
}

func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

// ignoreMissing treats a route that vanished between list and delete (its
// link went away) as deleted.
func ignoreMissing(err error) error {
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
