package configs

import (
	"net/netip"
	"path"
	"slices"
	"strings"
	"unicode"
)

// checker collects every problem of a decoded config. Cross-field checks
// use only values that are usable on their own, so that one mistake is
// reported once, at its source.
type checker struct {
	ix    *index
	probs []problem
}

func (c *checker) add(field, format string, args ...any) {
	c.probs = append(c.probs, fieldProblem(field, format, args...))
}

func validate(cfg *Config, ix *index) []problem {
	c := &checker{ix: ix}
	c.version(cfg.Version)
	c.node(&cfg.Node)
	c.mesh(&cfg.Mesh)
	c.gossip(cfg)
	c.sites(cfg.Sites, cfg.Mesh.MappedPool)
	c.peers(cfg.Peers, cfg.Node.Name)
	c.prefixes(cfg)
	c.ec2(&cfg.EC2)
	c.dns(cfg)
	return c.probs
}

func (c *checker) version(v int) {
	switch {
	case v == SchemaVersion:
	case !c.ix.has("version"):
		c.add("version", "required: put version = %d at the top of the file", SchemaVersion)
	default:
		c.add("version", "unsupported version %d; this vpcmesh reads version %d", v, SchemaVersion)
	}
}

func (c *checker) node(n *Node) {
	c.name("node.name", n.Name)
	c.file("node.private_key_file", n.PrivateKeyFile, true)
	c.file("node.signing_key_file", n.SigningKeyFile, false)
	c.file("node.certificate_file", n.CertificateFile, false)
	c.between("node.listen_port", n.ListenPort, 1, 65535)
	if err := checkIfname(n.Interface); err != nil {
		c.add("node.interface", "%v", err)
	}
	if n.MTU != 0 && (n.MTU < 1280 || n.MTU > 9000) {
		c.add("node.mtu", "%d is out of range: 0 (derive from the underlay) or 1280..9000", n.MTU)
	}
	c.address4("node.overlay_address", n.OverlayAddress)
	c.hostPort("node.public_endpoint", n.PublicEndpoint, false)
	if n.Relay && n.PublicEndpoint == "" {
		c.add("node.relay", "a relay must be reachable by every gateway: set node.public_endpoint too")
	}
	if ap, err := netip.ParseAddrPort(n.PublicEndpoint); err == nil && n.Relay && !ap.Addr().Unmap().Is4() {
		c.add("node.relay", "relaying works over IPv4 only: node.public_endpoint %s is IPv6", n.PublicEndpoint)
	}
	c.hostPort("node.metrics_listen", n.MetricsListen, false)
	c.file("node.metrics_web_config", n.MetricsWebConfig, false)
	c.webConfig("node.metrics_web_config", n.MetricsWebConfig)
	c.between("node.probe_interval_ms", n.ProbeIntervalMS, 50, 60000)
	c.between("node.probe_misses", n.ProbeMisses, 1, 100)
	c.between("node.hold_down_ms", n.HoldDownMS, 0, 3600000)
	c.between("node.persistent_keepalive", n.PersistentKeepalive, 0, 65535)
	c.file("node.state_dir", n.StateDir, true)
	c.file("node.control_socket", n.ControlSocket, true)
}

func (c *checker) mesh(m *Mesh) {
	c.name("mesh.name", m.Name)
	if !m.OverlayRange.IsValid() {
		c.add("mesh.overlay_range", "required: the IPv4 range gateways' overlay addresses come from, e.g. 100.96.0.0/16")
	} else {
		c.prefix4("mesh.overlay_range", m.OverlayRange)
	}
	if m.MappedPool.IsValid() {
		c.prefix4("mesh.mapped_pool", m.MappedPool)
	}
	for i, j := range m.Join {
		c.hostPort(indexed("mesh.join", i), j, true)
	}
	c.file("mesh.root_file", m.RootFile, false)
	c.file("mesh.revocations_file", m.RevocationsFile, false)
	if m.RevocationsFile != "" && m.RootFile == "" {
		c.add("mesh.revocations_file", "needs mesh.root_file: revocations apply to gossip's certificates")
	}
}

// gossip: in gossip mode a gateway proves it belongs to the mesh with its
// certificate and signs its records, so it cannot start without either.
func (c *checker) gossip(cfg *Config) {
	for i, s := range cfg.Sites {
		if s.VirtualAddress.IsValid() && !cfg.Gossip() {
			c.add(indexed("site", i)+".virtual_address", "needs gossip (mesh.root_file): the HA group that moves it is formed by gossip")
		}
		for j, e := range s.Exports {
			f := indexed(indexed("site", i)+".export", j) + ".mapped"
			switch {
			case !e.Mapped.Auto:
			case !cfg.Gossip():
				c.add(f, `"auto" needs gossip (mesh.root_file): the wire prefix is allocated when the certificate is signed`)
			case !cfg.Mesh.MappedPool.IsValid():
				c.add(f, `"auto" needs mesh.mapped_pool: the wire prefix is allocated from it`)
			}
		}
	}
	if !cfg.Gossip() {
		return
	}
	if cfg.Node.SigningKeyFile == "" {
		c.add("node.signing_key_file", "required when mesh.root_file is set (gossip)")
	}
	if cfg.Node.CertificateFile == "" {
		c.add("node.certificate_file", "required when mesh.root_file is set (gossip)")
	}
}

func (c *checker) sites(sites []Site, pool netip.Prefix) {
	seen := map[string]string{}
	for i := range sites {
		f := indexed("site", i)
		c.site(f, &sites[i], pool)
		c.unique(seen, f+".name", sites[i].Name, "site")
	}
}

func (c *checker) site(f string, s *Site, pool netip.Prefix) {
	c.name(f+".name", s.Name)
	if len(s.CIDRs) == 0 {
		c.add(f+".cidrs", "at least one CIDR required: the site's networks")
	}
	for j, p := range s.CIDRs {
		c.prefix4(indexed(f+".cidrs", j), p)
	}
	c.between(f+".priority", s.Priority, 1, 1000)
	if t := s.ProbeTarget; t.IsValid() && !slices.ContainsFunc(s.CIDRs, func(p netip.Prefix) bool { return p.Contains(t) }) {
		c.add(f+".probe_target", "%s is not in the site's cidrs %v", t, s.CIDRs)
	}
	c.virtual(f, s)
	cidrs := usableAll(s.CIDRs)
	for j, e := range s.Exports {
		c.export(indexed(f+".export", j), e, cidrs, pool)
	}
	for j, m := range s.Members {
		c.member(indexed(f+".member", j), m, cidrs)
	}
}

// virtual checks a site's floating address: an IPv4 host address in the
// site, on an interface that could exist.
func (c *checker) virtual(f string, s *Site) {
	v := s.VirtualAddress
	switch {
	case !v.IsValid():
		if s.VirtualInterface != "" {
			c.add(f+".virtual_interface", "set without site.virtual_address")
		}
		return
	case !v.Is4():
		c.add(f+".virtual_address", "%s: IPv4 only (the address is announced by ARP)", v)
	case !slices.ContainsFunc(s.CIDRs, func(p netip.Prefix) bool { return p.Contains(v) }):
		c.add(f+".virtual_address", "%s is not in the site's cidrs %v: it must be an address of the LAN the router reaches", v, s.CIDRs)
	}
	if n := s.VirtualInterface; n != "" && (len(n) > 15 || strings.ContainsAny(n, "/ \t")) {
		c.add(f+".virtual_interface", "%q is not an interface name", n)
	}
}

func (c *checker) export(f string, e Export, cidrs []netip.Prefix, pool netip.Prefix) {
	c.name(f+".project", e.Project)
	cidr, ok := c.requiredPrefix4(f+".cidr", e.CIDR)
	if ok {
		c.inSite(f+".cidr", cidr, cidrs)
	}
	if !e.Mapped.IsValid() {
		return
	}
	mapped, mok := c.prefix4(f+".mapped", e.Mapped.Prefix)
	if !mok {
		return
	}
	if ok && mapped.Bits() != cidr.Bits() {
		c.add(f+".mapped", "length /%d differs from cidr %s", mapped.Bits(), cidr)
	}
	if p, pok := usable(pool); pok && !contains(p, mapped) {
		c.add(f+".mapped", "%s is outside mesh.mapped_pool %s", mapped, p)
	}
}

func (c *checker) member(f string, m Member, cidrs []netip.Prefix) {
	c.name(f+".project", m.Project)
	if len(m.Sources) == 0 && len(m.Users) == 0 {
		c.add(f, "needs sources or users: who on this site may use project %q", m.Project)
	}
	for k, src := range m.Sources {
		if p, ok := c.prefix4(indexed(f+".sources", k), src); ok {
			c.inSite(indexed(f+".sources", k), p, cidrs)
		}
	}
	for k, u := range m.Users {
		if u == "" || strings.ContainsFunc(u, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' }) {
			c.add(indexed(f+".users", k), "%q is not a user name", u)
		}
	}
}

func (c *checker) peers(peers []Peer, node string) {
	names, keys := map[string]string{}, map[string]string{}
	for i, p := range peers {
		f := indexed("peer", i)
		c.peer(f, p)
		if p.Name == node && isLabel(node) {
			c.add(f+".name", "%q is this node's own name (node.name)", p.Name)
		}
		c.unique(names, f+".name", p.Name, "peer")
		if checkPublicKey(p.PublicKey) == nil {
			c.unique(keys, f+".public_key", p.PublicKey, "peer key")
		}
	}
}

func (c *checker) peer(f string, p Peer) {
	c.name(f+".name", p.Name)
	if err := checkPublicKey(p.PublicKey); err != nil {
		c.add(f+".public_key", "%v", err)
	}
	c.hostPort(f+".endpoint", p.Endpoint, false)
	if len(p.Prefixes) == 0 {
		c.add(f+".prefixes", "at least one prefix required: what this peer's tunnel carries")
	}
	for j, q := range p.Prefixes {
		c.prefix4(indexed(f+".prefixes", j), q)
	}
	if p.Project != "" {
		c.name(f+".project", p.Project)
	}
	if p.PersistentKeepalive != nil {
		c.between(f+".persistent_keepalive", *p.PersistentKeepalive, 0, 65535)
	}
}

// name checks a required DNS-label name.
func (c *checker) name(field, s string) {
	switch {
	case s == "":
		c.add(field, "required")
	case !isLabel(s):
		c.add(field, "%q is not a valid name: use 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'", s)
	}
}

// unique reports a second use of a name; seen maps names to their first field.
func (c *checker) unique(seen map[string]string, field, name, what string) {
	if name == "" {
		return
	}
	if first, ok := seen[name]; ok {
		c.add(field, "duplicate %s %q, also at %s", what, name, first)
		return
	}
	seen[name] = field
}

// file checks a path. Paths must be absolute: the daemon's working
// directory is not the one the config was written in.
func (c *checker) file(field, p string, required bool) {
	switch {
	case p == "" && required:
		c.add(field, "required")
	case p != "" && !path.IsAbs(p):
		c.add(field, "%q is not an absolute path", p)
	}
}

func (c *checker) between(field string, v, lo, hi int) {
	if v < lo || v > hi {
		c.add(field, "%d is out of range %d..%d", v, lo, hi)
	}
}

func (c *checker) hostPort(field, s string, required bool) {
	if s == "" && !required {
		return
	}
	if err := checkHostPort(s); err != nil {
		c.add(field, "%v", err)
	}
}

func (c *checker) address4(field string, a netip.Addr) {
	switch {
	case !a.IsValid():
		c.add(field, "required")
	case !a.Is4():
		c.add(field, "%s is not an IPv4 address", a)
	}
}

func (c *checker) requiredPrefix4(field string, p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		c.add(field, "required")
		return p, false
	}
	return c.prefix4(field, p)
}

// prefix4 checks that p is an IPv4 prefix in canonical form. A prefix with
// host bits set is reported, and returned masked so that the checks that
// follow do not report it again.
func (c *checker) prefix4(field string, p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		c.add(field, "empty: want a CIDR such as 10.0.0.0/24")
		return p, false
	}
	if !p.Addr().Is4() {
		c.add(field, "%s is not an IPv4 prefix", p)
		return p, false
	}
	if m := p.Masked(); m != p {
		c.add(field, "%s has host bits set; did you mean %s?", p, m)
		return m, true
	}
	return p, true
}

func (c *checker) inSite(field string, p netip.Prefix, cidrs []netip.Prefix) {
	if len(cidrs) > 0 && !containedIn(p, cidrs) {
		c.add(field, "%s is not inside the site's cidrs (%s)", p, joinPrefixes(cidrs))
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
