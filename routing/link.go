package routing

import (
	"fmt"
	"net"
	"net/netip"
	"os"

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
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up %s: %w", dev, err)
	}
	return nil
}

// EnableForwarding turns on IPv4 forwarding, without which a gateway
// answers for itself but forwards nothing.
func EnableForwarding() error {
	return writeSysctl("net/ipv4/ip_forward", "1")
}

// Forwarding reports whether IPv4 forwarding is on.
func Forwarding() (bool, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return false, fmt.Errorf("read ip_forward: %w", err)
	}
	return len(b) > 0 && b[0] == '1', nil
}

func writeSysctl(key, val string) error {
	if err := os.WriteFile("/proc/sys/"+key, []byte(val), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, val, err)
	}
	return nil
}

// UnderlayMTU is the MTU of the link carrying the default route, or 0 when
// there is no default route. The tunnel MTU is this minus the WireGuard
// overhead.
func UnderlayMTU() (int, error) {
	rs, err := netlink.RouteGet(net.IPv4(198, 51, 100, 1))
	if err != nil || len(rs) == 0 {
		return 0, nil // no route to the internet: the caller falls back
	}
	link, err := netlink.LinkByIndex(rs[0].LinkIndex)
	if err != nil {
		return 0, fmt.Errorf("underlay link: %w", err)
	}
	return link.Attrs().MTU, nil
}
