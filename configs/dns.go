package configs

import (
	"net/netip"

	"github.com/miekg/dns"
)

// maxZones bounds an export's dns_zones: they travel in its record.
const maxZones = 16

// dns checks the forwarder and the sites' names: addresses that parse,
// zones that are domain names, a resolver wherever zones are exported.
func (c *checker) dns(cfg *Config) {
	d := cfg.DNS
	for i, l := range d.Listen {
		if _, err := netip.ParseAddrPort(l); err != nil {
			c.add(indexed("dns.listen", i), "%q: want IP:port, e.g. 192.168.0.2:53", l)
		}
	}
	for i, u := range d.Upstream {
		if !ipOrIPPort(u) {
			c.add(indexed("dns.upstream", i), "%q: want an IP or IP:port", u)
		}
	}
	c.between("dns.cache_entries", d.CacheEntries, 0, 1000000)
	if len(d.Listen) > 0 && !cfg.Gossip() {
		c.add("dns.listen", "needs gossip (mesh.root_file): the projects' zones come in the gateways' records")
	}
	for i, s := range cfg.Sites {
		f := indexed("site", i)
		if s.Resolver != "" && !ipOrIPPort(s.Resolver) {
			c.add(f+".resolver", "%q: want an IP or IP:port, e.g. 10.0.0.2", s.Resolver)
		}
		zoned := false
		for j, e := range s.Exports {
			ef := indexed(f+".export", j) + ".dns_zones"
			if len(e.DNSZones) > maxZones {
				c.add(ef, "%d zones: at most %d", len(e.DNSZones), maxZones)
			}
			for k, z := range e.DNSZones {
				if n, ok := dns.IsDomainName(z); !ok || n < 1 || len(z) > 253 {
					c.add(indexed(ef, k), "%q is not a domain name", z)
				}
			}
			zoned = zoned || len(e.DNSZones) > 0
		}
		switch {
		case !zoned:
		case !cfg.Gossip():
			c.add(f+".export", "dns_zones need gossip (mesh.root_file): they travel in this gateway's record")
		case s.Resolver == "" && cfg.EC2.Mode != EC2On:
			c.add(f+".resolver", "required where exports have dns_zones (on EC2 with ec2.mode = \"on\" the VPC's resolver is the default)")
		}
	}
}

func ipOrIPPort(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParseAddrPort(s)
	return err == nil
}
