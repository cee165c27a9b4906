package lab

import (
	"fmt"
	"net/netip"
)

// Attacker makes the namespace "attacker": a host on the internet that
// tests use to flood or probe gateways from outside. Its "wan" is on inet's
// br0 with the IPv4 address v4 (in one of the internet's segments, default
// route via that segment's inet address, as a site's uplink) and, when v6
// is valid, also the IPv6 address v6 in PublicV6.
func (l *Lab) Attacker(v4 string, v6 netip.Addr) (*NS, error) {
	return l.internetHost("attacker", v4, v6)
}

// internetHost makes a namespace whose only interface, "wan", is on inet's
// br0: a host on the internet itself.
func (l *Lab) internetHost(role, v4 string, v6 netip.Addr) (*NS, error) {
	a, err := netip.ParseAddr(v4)
	if err != nil || !a.Is4() {
		return nil, fmt.Errorf("%s: IPv4 address %q: want e.g. 203.0.113.250 (%v)", role, v4, err)
	}
	up, bits, err := upstream(a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", role, err)
	}
	if v6.IsValid() && !PublicV6.Contains(v6) {
		return nil, fmt.Errorf("%s: IPv6 address %v is not in the internet's %v", role, v6, PublicV6)
	}
	inet, err := l.Internet()
	if err != nil {
		return nil, err
	}
	n, err := l.NS(role)
	if err != nil {
		return nil, err
	}
	if err := l.WireToBridge(n, "wan", cidr(a, bits), inet, "br0"); err != nil {
		return nil, err
	}
	if err := n.Route("default", up.String()); err != nil {
		return nil, err
	}
	if v6.IsValid() {
		if err := l.InternetV6(); err != nil {
			return nil, err
		}
		if err := n.AddAddr6("wan", v6); err != nil {
			return nil, err
		}
	}
	return n, nil
}
