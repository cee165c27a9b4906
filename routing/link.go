package routing

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// SetupLink gives the mesh interface its overlay address and brings it up.
func SetupLink(dev string, addr netip.Prefix) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find %s: %w", dev, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}}
	if err := netlink.AddrReplace(link, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, dev, err)
	}
	// The mesh is IPv4; without this the kernel sends router solicitations
	// into the tunnel, which the ACL can only drop and count. Where IPv6
	// is off altogether the file is absent, and there is nothing to do.
	if err := procSys.write("net.ipv6.conf."+strings.ReplaceAll(dev, ".", "/")+".disable_ipv6", "1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up %s: %w", dev, err)
	}
	return nil
}

// Underlay is the link carrying the default route and its MTU, or "" and
// 0 when there is no default route. The tunnel MTU is this MTU minus the
// WireGuard overhead.
func Underlay() (name string, mtu int, err error) {
	link, err := routeLink(net.IPv4(198, 51, 100, 1))
	if link == nil {
		return "", 0, err
	}
	return link.Attrs().Name, link.Attrs().MTU, nil
}

// ForwardingLinks are the links a gateway forwards across besides its
// tunnel interface: the one holding the default route and those its site
// networks are reached through, each once.
func ForwardingLinks(sites []netip.Prefix) ([]string, error) {
	dsts := []net.IP{net.IPv4(198, 51, 100, 1)}
	for _, p := range sites {
		dsts = append(dsts, p.Addr().AsSlice())
	}
	var names []string
	for _, dst := range dsts {
		link, err := routeLink(dst)
		if err != nil {
			return names, err
		}
		if link != nil && link.Attrs().Name != "lo" && !slices.Contains(names, link.Attrs().Name) {
			names = append(names, link.Attrs().Name)
		}
	}
	return names, nil
}

// routeLink is the link the kernel routes dst through, nil when it has no
// route.
func routeLink(dst net.IP) (netlink.Link, error) {
	rs, err := netlink.RouteGet(dst)
	if err != nil || len(rs) == 0 {
		return nil, nil // no route: the caller decides
	}
	link, err := netlink.LinkByIndex(rs[0].LinkIndex)
	if err != nil {
		return nil, fmt.Errorf("link of the route to %s: %w", dst, err)
	}
	return link, nil
}
