package lab

import (
	"fmt"
	"net/netip"
)

// PublicV6 is the internet's IPv6 segment, on the same br0 as the IPv4
// ones. It is a documentation range, so nothing addressed to it can mean a
// real host. Members reach each other on-link: inet has no IPv6 address and
// routes no IPv6.
var PublicV6 = netip.MustParsePrefix("2001:db8:1::/64")

// InternetV6 readies the internet's br0 for IPv6 members; it is idempotent.
// The bridge needs no IPv6 address or sysctl, as it forwards frames and
// routes nothing. It turns off br0's multicast snooping: neighbour
// discovery is multicast, and with snooping on it reaches every port only
// as long as the segment has no MLD querier (true today; a precaution, so
// that IPv6 reachability does not hang on the bridge's multicast state).
func (l *Lab) InternetV6() error {
	inet, err := l.Internet()
	if err != nil {
		return err
	}
	return inet.ip("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
}

// AddAddr6 gives ifname the address addr/64. It first enables IPv6 in the
// namespace and on the interface, since a namespace may inherit
// disable_ipv6=1 from the machine (net.core.devconf_inherit_init_net). The
// address is added with nodad, so that it is usable at once instead of
// after a second of duplicate address detection. Adding an address the
// interface already has is not an error.
func (n *NS) AddAddr6(ifname string, addr netip.Addr) error {
	if !addr.Is6() || addr.Is4In6() || !addr.IsGlobalUnicast() {
		return fmt.Errorf("%s: %s: %v is not an IPv6 unicast address", n.Role, ifname, addr)
	}
	if err := n.Sysctl(
		"net.ipv6.conf.all.disable_ipv6=0",
		"net.ipv6.conf.default.disable_ipv6=0",
		"net.ipv6.conf."+ifname+".disable_ipv6=0",
	); err != nil {
		return err
	}
	return n.ip("-6", "addr", "replace", cidr(addr, 64), "dev", ifname, "nodad")
}
