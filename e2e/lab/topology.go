package lab

import (
	"fmt"
	"net/netip"
	"slices"
)

// The reference lab (docs/ARCHITECTURE.md, The lab):
//
//	                  inet: br0 203.0.113.1/24, 198.51.100.1/24 (forwarding)
//	               /                                         \
//	 <site>-r  wan 203.0.113.10/24                   <site>-gw  wan 203.0.113.30/24
//	 (NAT)     lan bridge 192.168.0.1/24              (NATNone) lan bridge 172.16.5.1/24
//	      ├── <site>-gw  lan  192.168.0.2                  └── <site>-<host> eth0
//	      └── <site>-<host> eth0 192.168.0.50
//
// Interface names are fixed: "wan" faces the internet, "lan" is a
// gateway's (or router's) LAN side, "eth0" a host's only interface, "br0"
// the internet's segment. Bridge ports are "p<n>-<role>".

// publicSegments are the internet's subnets, all on inet's br0; a site's
// upstream is the inet address in its public IP's segment.
var publicSegments = []netip.Prefix{
	netip.MustParsePrefix("203.0.113.1/24"),
	netip.MustParsePrefix("198.51.100.1/24"),
}

// Internet returns the namespace "inet": the public segment, one bridge
// "br0" that every site's WAN plugs into, routing between the public
// subnets. It is made on first use.
func (l *Lab) Internet() (*NS, error) {
	l.inetMu.Lock() // sites built in parallel share one internet
	defer l.inetMu.Unlock()
	if l.inet != nil {
		return l.inet, nil
	}
	inet, err := l.NS("inet")
	if err != nil {
		return nil, err
	}
	if err := l.Bridge(inet, "br0", publicSegments[0].String()); err != nil {
		return nil, err
	}
	for _, p := range publicSegments[1:] {
		if err := inet.ip("addr", "add", p.String(), "dev", "br0"); err != nil {
			return nil, err
		}
	}
	if err := inet.Forwarding(true); err != nil {
		return nil, err
	}
	l.inet = inet
	return inet, nil
}

// upstream is the inet address a public IP routes through, and its prefix
// length.
func upstream(public netip.Addr) (netip.Addr, int, error) {
	for _, p := range publicSegments {
		if p.Contains(public) {
			return p.Addr(), p.Bits(), nil
		}
	}
	return netip.Addr{}, 0, fmt.Errorf("public IP %s is in none of the internet's segments %v", public, publicSegments)
}

// NATKind is how a site reaches the internet.
type NATKind int

const (
	// NATNone: no router; the gateway itself has the public IP and is its
	// LAN's router (.1).
	NATNone NATKind = iota
	// NATMasquerade: an office router; endpoint-independent mapping.
	NATMasquerade
	// NATRandom: masquerade with random ports; endpoint-dependent mapping.
	NATRandom
	// NATOneToOne: a cloud edge; the gateway has a 1:1 public IP, the other
	// hosts are masqueraded behind the same address.
	NATOneToOne
)

func (k NATKind) String() string {
	switch k {
	case NATNone:
		return "none"
	case NATMasquerade:
		return "masquerade"
	case NATRandom:
		return "masquerade-random"
	case NATOneToOne:
		return "1:1"
	}
	return fmt.Sprintf("NATKind(%d)", int(k))
}

// SiteSpec describes a site: an office LAN or a VPC subnet.
type SiteSpec struct {
	Name     string  // short; part of namespace names: "<name>-r", "<name>-gw", "<name>-<host>"
	NAT      NATKind // how the site reaches the internet
	PublicIP string  // the router's WAN address, or the gateway's for NATNone
	LAN      string  // e.g. "192.168.0.0/24": router .1, gateway .2 (NATNone: gateway .1)
	Hosts    map[string]string
	// MeshRoutes are the prefixes the site router sends to the gateway: the
	// office router's static route, the VPC route table entry. Not for
	// NATNone, where the gateway is the router.
	MeshRoutes []string
}

// Site is a built site.
type Site struct {
	Name      string
	Router    *NS // nil for NATNone
	Gateway   *NS
	Hosts     map[string]*NS
	PublicIP  string       // the router's WAN address (NATNone: the gateway's)
	GatewayIP string       // the gateway's LAN address
	LAN       netip.Prefix // the LAN's network
}

// siteAddrs are a site's parsed addresses.
type siteAddrs struct {
	public    netip.Addr
	up        netip.Addr // the inet address it routes through
	upBits    int
	lan       netip.Prefix
	router    netip.Addr // .1: the router, or the gateway for NATNone
	gateway   netip.Addr
	hosts     map[string]netip.Addr
	meshRoute []netip.Prefix
}

// parse checks a spec before anything is built.
func (s SiteSpec) parse() (*siteAddrs, error) {
	if !roleRE.MatchString(s.Name) {
		return nil, fmt.Errorf("site name %q: want lowercase letters, digits and dashes", s.Name)
	}
	a := &siteAddrs{hosts: map[string]netip.Addr{}}
	var err error
	if a.public, err = netip.ParseAddr(s.PublicIP); err != nil {
		return nil, fmt.Errorf("site %s: public IP: %w", s.Name, err)
	}
	if a.up, a.upBits, err = upstream(a.public); err != nil {
		return nil, fmt.Errorf("site %s: %w", s.Name, err)
	}
	if a.lan, err = netip.ParsePrefix(s.LAN); err != nil || a.lan != a.lan.Masked() || !a.lan.Addr().Is4() {
		return nil, fmt.Errorf("site %s: LAN %q: want an IPv4 network like 192.168.0.0/24 (%v)", s.Name, s.LAN, err)
	}
	a.router = a.lan.Addr().Next()
	a.gateway = a.router
	if s.NAT != NATNone {
		a.gateway = a.router.Next()
	}
	if err := a.parseHosts(s); err != nil {
		return nil, err
	}
	return a, a.parseMeshRoutes(s)
}

func (a *siteAddrs) parseHosts(s SiteSpec) error {
	for name, ip := range s.Hosts {
		h, err := netip.ParseAddr(ip)
		if err != nil || !roleRE.MatchString(name) || !a.lan.Contains(h) || h == a.router || h == a.gateway {
			return fmt.Errorf("site %s: host %q at %q: want a name and a free address in %s", s.Name, name, ip, a.lan)
		}
		a.hosts[name] = h
	}
	return nil
}

func (a *siteAddrs) parseMeshRoutes(s SiteSpec) error {
	if s.NAT == NATNone && len(s.MeshRoutes) > 0 {
		return fmt.Errorf("site %s: MeshRoutes need a router; with NATNone the gateway routes itself", s.Name)
	}
	for _, r := range s.MeshRoutes {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return fmt.Errorf("site %s: mesh route: %w", s.Name, err)
		}
		a.meshRoute = append(a.meshRoute, p.Masked())
	}
	return nil
}

// sortedHosts gives host names in a fixed order, so runs build alike.
func sortedHosts(m map[string]netip.Addr) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
