package lab

import (
	"fmt"
	"net/netip"
)

// AddSite builds a site and plugs it into the internet (made if needed).
//
// With a router (every NAT kind but NATNone): "<name>-r" has "wan" on the
// internet with PublicIP and a bridge "lan" with the LAN's .1; the gateway
// "<name>-gw" is .2 on that bridge with its default route via .1, as are
// the hosts; the router forwards, NATs as spec.NAT says, and routes
// MeshRoutes to the gateway. The gateway's own forwarding stays off: that is
// vpcmesh's job.
//
// With NATNone there is no router: the gateway has "wan" on the internet
// with PublicIP, and the LAN bridge "lan" with the LAN's .1 is in the
// gateway's namespace, so the gateway is its hosts' default route.
func (l *Lab) AddSite(spec SiteSpec) (*Site, error) {
	a, err := spec.parse()
	if err != nil {
		return nil, err
	}
	inet, err := l.Internet()
	if err != nil {
		return nil, err
	}
	s := &Site{Name: spec.Name, Hosts: map[string]*NS{}, PublicIP: spec.PublicIP,
		GatewayIP: a.gateway.String(), LAN: a.lan}
	if spec.NAT == NATNone {
		err = l.buildPublicGateway(s, a, inet)
	} else {
		err = l.buildRouted(s, spec.NAT, a, inet)
	}
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", spec.Name, err)
	}
	if err := l.addHosts(s, a); err != nil {
		return nil, fmt.Errorf("site %s: %w", spec.Name, err)
	}
	return s, nil
}

// cidr writes addr with the LAN's or segment's prefix length.
func cidr(addr netip.Addr, bits int) string { return netip.PrefixFrom(addr, bits).String() }

// buildRouted makes the site router and the gateway behind it.
func (l *Lab) buildRouted(s *Site, nat NATKind, a *siteAddrs, inet *NS) error {
	r, err := l.NS(s.Name + "-r")
	if err != nil {
		return err
	}
	s.Router = r
	if err := r.Forwarding(true); err != nil {
		return err
	}
	if err := l.uplink(r, a, inet); err != nil {
		return err
	}
	if err := l.Bridge(r, "lan", cidr(a.router, a.lan.Bits())); err != nil {
		return err
	}
	if s.Gateway, err = l.lanMember(s.Name+"-gw", "lan", a.gateway, a, r); err != nil {
		return err
	}
	for _, p := range a.meshRoute {
		if err := r.Route(p.String(), a.gateway.String()); err != nil {
			return err
		}
	}
	return l.siteNAT(r, nat, a)
}

// siteNAT sets up the router's NAT and its firewall for traffic to the
// router itself, which every real NAT router has and which the lab needs to
// behave like one (see RouterFirewall).
func (l *Lab) siteNAT(r *NS, nat NATKind, a *siteAddrs) error {
	if err := r.RouterFirewall("wan"); err != nil {
		return err
	}
	if nat == NATOneToOne {
		if err := r.OneToOne("wan", a.public.String(), a.gateway.String()); err != nil {
			return err
		}
	}
	return r.Masquerade("wan", nat == NATRandom)
}

// buildPublicGateway makes a gateway that is on the internet itself and
// routes its LAN.
func (l *Lab) buildPublicGateway(s *Site, a *siteAddrs, inet *NS) error {
	gw, err := l.NS(s.Name + "-gw")
	if err != nil {
		return err
	}
	s.Gateway = gw
	if err := l.uplink(gw, a, inet); err != nil {
		return err
	}
	return l.Bridge(gw, "lan", cidr(a.router, a.lan.Bits()))
}

// uplink plugs n's "wan" into the internet with the site's public IP.
func (l *Lab) uplink(n *NS, a *siteAddrs, inet *NS) error {
	if err := l.WireToBridge(n, "wan", cidr(a.public, a.upBits), inet, "br0"); err != nil {
		return err
	}
	return n.Route("default", a.up.String())
}

// addHosts puts the hosts on the LAN bridge, default route via .1.
func (l *Lab) addHosts(s *Site, a *siteAddrs) error {
	lan := s.Router
	if lan == nil {
		lan = s.Gateway
	}
	for _, name := range sortedHosts(a.hosts) {
		h, err := l.lanMember(s.Name+"-"+name, "eth0", a.hosts[name], a, lan)
		if err != nil {
			return err
		}
		s.Hosts[name] = h
	}
	return nil
}

// lanMember makes a namespace on the LAN bridge of lan with its default
// route via the LAN's .1.
func (l *Lab) lanMember(role, ifname string, addr netip.Addr, a *siteAddrs, lan *NS) (*NS, error) {
	n, err := l.NS(role)
	if err != nil {
		return nil, err
	}
	if err := l.WireToBridge(n, ifname, cidr(addr, a.lan.Bits()), lan, "lan"); err != nil {
		return nil, err
	}
	return n, n.Route("default", a.router.String())
}

// AddGateway puts another gateway on a routed site's LAN, e.g. the second
// member of an HA pair: namespace "<site>-<role>" at addr, default route via
// the router; with public set, the router maps that public address to it
// 1:1, as a second elastic IP.
func (l *Lab) AddGateway(s *Site, role, addr, public string) (*NS, error) {
	if s.Router == nil {
		return nil, fmt.Errorf("site %s has no router to share", s.Name)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !s.LAN.Contains(a) {
		return nil, fmt.Errorf("site %s: gateway address %q is not in %s", s.Name, addr, s.LAN)
	}
	n, err := l.NS(s.Name + "-" + role)
	if err != nil {
		return nil, err
	}
	if err := l.WireToBridge(n, "lan", cidr(a, s.LAN.Bits()), s.Router, "lan"); err != nil {
		return nil, err
	}
	if err := n.Route("default", s.LAN.Addr().Next().String()); err != nil {
		return nil, err
	}
	if public != "" {
		if err := s.Router.OneToOne("wan", public, addr); err != nil {
			return nil, err
		}
	}
	return n, nil
}
