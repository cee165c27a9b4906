// Package configs reads a gateway's TOML configuration, schema version 1:
// strict decoding (unknown keys are errors), defaults and validation. Every
// problem is reported at once, each as FILE:LINE:COL: FIELD: MESSAGE.
//
// Reading the config file, and the metrics web config file it names, is
// the only I/O here: nothing in this package touches keys, interfaces or
// the network, so `vpcmesh check` can run it anywhere.
package configs

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
)

// SchemaVersion is the config schema version this package reads.
const SchemaVersion = 1

// Defaults for keys left out of the file.
const (
	DefaultListenPort    = 51820
	DefaultInterface     = "vpcmesh0"
	DefaultKeepalive     = 25 // seconds
	DefaultStateDir      = "/var/lib/vpcmesh"
	DefaultControlSocket = "/run/vpcmesh/vpcmesh.sock"
	DefaultPriority      = 100
	DefaultProbeInterval = 200 // ms
	DefaultProbeMisses   = 3
	DefaultHoldDown      = 10000 // ms
)

// Config is one gateway's configuration file.
type Config struct {
	Version int    `toml:"version"`
	Node    Node   `toml:"node"`
	Mesh    Mesh   `toml:"mesh"`
	Sites   []Site `toml:"site"`
	Peers   []Peer `toml:"peer"`
	EC2     EC2    `toml:"ec2"`
	DNS     DNS    `toml:"dns"`
	Path    string `toml:"-"` // file it was loaded from
	// Warnings are what the file allows but should not: each a
	// FieldError whose message starts with "warning: ", sorted by
	// position. They stop nothing.
	Warnings []*FieldError `toml:"-"`
	ix       *index        // where each field is in the file, for Conflicts
}

// Node is this gateway.
type Node struct {
	Name            string     `toml:"name"`
	PrivateKeyFile  string     `toml:"private_key_file"` // WireGuard private key, base64 as `wg genkey` prints
	SigningKeyFile  string     `toml:"signing_key_file"`
	CertificateFile string     `toml:"certificate_file"`
	ListenPort      int        `toml:"listen_port"`
	Interface       string     `toml:"interface"`
	MTU             int        `toml:"mtu"` // 0: derive from the underlay
	OverlayAddress  netip.Addr `toml:"overlay_address"`
	PublicEndpoint  string     `toml:"public_endpoint"` // host:port, empty when behind NAT
	// Relay lets this gateway forward, still encrypted, the tunnel packets
	// of gateway pairs that cannot reach each other directly. It needs a
	// public endpoint.
	Relay               bool   `toml:"relay"`
	PersistentKeepalive int    `toml:"persistent_keepalive"`
	StateDir            string `toml:"state_dir"`
	ControlSocket       string `toml:"control_socket"`
	MSSClamp            *bool  `toml:"mss_clamp"` // nil: on
	// MetricsListen serves Prometheus metrics at ADDR/metrics; empty:
	// none. Off loopback it needs MetricsWebConfig, or a management
	// network: Load warns otherwise.
	MetricsListen string `toml:"metrics_listen"`
	// MetricsWebConfig is a Prometheus exporter-toolkit web config file
	// (TLS, basic auth) for the metrics listener; empty: plain HTTP, open
	// to whoever reaches the address.
	MetricsWebConfig string `toml:"metrics_web_config"`
	// Health probes through each tunnel decide HA failover: HA members are
	// probed every ProbeIntervalMS, a gateway is down after ProbeMisses
	// probes missed (mesh/liveness.go), and one that recovers carries its
	// site again only after HoldDownMS.
	ProbeIntervalMS int `toml:"probe_interval_ms"`
	ProbeMisses     int `toml:"probe_misses"`
	HoldDownMS      int `toml:"hold_down_ms"`
}

// Mesh is what all gateways of the mesh share.
type Mesh struct {
	Name         string       `toml:"name"`
	OverlayRange netip.Prefix `toml:"overlay_range"`
	MappedPool   netip.Prefix `toml:"mapped_pool"` // when set, every mapped prefix lies inside it
	Join         []string     `toml:"join"`        // host:port of gateways to join through
	RootFile     string       `toml:"root_file"`
	// RevocationsFile is a revocation list signed by the root (`vpcmesh ca
	// revoke`); given to any one gateway, it spreads to all by gossip.
	RevocationsFile string `toml:"revocations_file"`
}

// Site is a network behind this gateway.
type Site struct {
	Name     string         `toml:"name"`
	CIDRs    []netip.Prefix `toml:"cidrs"`
	Priority int            `toml:"priority"` // HA priority, higher wins
	// ProbeTarget is a host inside the site: a gateway that cannot reach
	// it counts as failed for the site, and its HA partner takes over.
	ProbeTarget netip.Addr `toml:"probe_target"`
	// VirtualAddress floats between the members of the site's HA group:
	// the active one holds it on VirtualInterface and announces it by
	// gratuitous ARP, so a LAN router's static route to it follows the
	// active member.
	VirtualAddress   netip.Addr `toml:"virtual_address"`
	VirtualInterface string     `toml:"virtual_interface"` // default: the interface on the address's network
	// Resolver answers the names of the site's exports' dns_zones, asked by
	// members elsewhere through the tunnel: IP or IP:port. On EC2 (mode
	// "on") the VPC's resolver by default.
	Resolver string   `toml:"resolver"`
	Exports  []Export `toml:"export"`
	Members  []Member `toml:"member"`
}

// Export offers one of a site's CIDRs to a project.
type Export struct {
	Project string       `toml:"project"`
	CIDR    netip.Prefix `toml:"cidr"`
	Mapped  Mapped       `toml:"mapped"` // optional 1:1 translation, same length as CIDR
	// DNSZones are the names the site's resolver answers for this export's
	// hosts, e.g. "corp.internal": members of the project ask them through
	// the mesh. The reverse zone of CIDR comes with them.
	DNSZones []string `toml:"dns_zones"`
}

// Mapped is an export's wire prefix as configured: a prefix, or "auto" for
// one that `vpcmesh ca sign` allocates from the pool and binds in the
// certificate, where the gateway reads it at start (ResolveAuto).
type Mapped struct {
	netip.Prefix
	Auto bool
}

// MappedAuto is how "auto" is written.
const MappedAuto = "auto"

func (m *Mapped) UnmarshalText(b []byte) error {
	if string(b) == MappedAuto {
		*m = Mapped{Auto: true}
		return nil
	}
	*m = Mapped{}
	return m.Prefix.UnmarshalText(b)
}

func (m Mapped) MarshalText() ([]byte, error) {
	if m.Auto && !m.Prefix.IsValid() {
		return []byte(MappedAuto), nil
	}
	return m.Prefix.MarshalText()
}

// Wire is the prefix the export appears under in the mesh. An "auto"
// export not resolved yet has none: the zero prefix.
func (e Export) Wire() netip.Prefix {
	switch {
	case e.Mapped.IsValid():
		return e.Mapped.Prefix
	case e.Mapped.Auto:
		return netip.Prefix{}
	}
	return e.CIDR
}

// ResolveAuto fills in the wire prefix of every "auto" export from wire,
// which knows them by site, project and CIDR (from the certificate, or
// from the signer's allocation). It names each one it cannot resolve.
func (c *Config) ResolveAuto(wire func(site, project string, cidr netip.Prefix) (netip.Prefix, bool)) error {
	var errs []error
	for i := range c.Sites {
		s := &c.Sites[i]
		for j := range s.Exports {
			e := &s.Exports[j]
			if !e.Mapped.Auto {
				continue
			}
			w, ok := wire(s.Name, e.Project, e.CIDR)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: site[%d].export[%d].mapped: \"auto\", and the certificate binds no wire prefix for %s to project %s: sign it again (vpcmesh ca sign)", c.Path, i, j, e.CIDR, e.Project))
				continue
			}
			e.Mapped.Prefix = w
		}
	}
	return errors.Join(errs...)
}

// Member says who on a site may use a project's routes.
type Member struct {
	Project string         `toml:"project"`
	Sources []netip.Prefix `toml:"sources"`
	Users   []string       `toml:"users"` // local unix user names
	// Transparent lets these members, when in this project alone, reach the
	// project's remote VPCs at their real addresses (docs/ARCHITECTURE.md, A
	// packet's way); they then use those, not the wire addresses.
	Transparent bool `toml:"transparent"`
}

// Peer is a static peer: a plain WireGuard site, or a gateway listed by hand.
type Peer struct {
	Name                string         `toml:"name"`
	PublicKey           string         `toml:"public_key"`
	Endpoint            string         `toml:"endpoint"` // empty: the peer is behind NAT and dials us
	Prefixes            []netip.Prefix `toml:"prefixes"`
	Project             string         `toml:"project"`
	PersistentKeepalive *int           `toml:"persistent_keepalive"` // nil: the node's; 0: off
}

// EC2 modes: whether the gateway uses the EC2 API (Source/Dest check, VPC
// route tables, join by tags).
const (
	EC2Auto = "auto" // when IMDSv2 answers
	EC2On   = "on"   // must run on EC2: not finding IMDSv2 is an error
	EC2Off  = "off"
)

// EC2 is what the gateway does through the EC2 API when it runs on an
// instance.
type EC2 struct {
	Mode        string   `toml:"mode"`
	RouteTables []string `toml:"route_tables"` // rtb-…: tables that get routes to the remote prefixes
	Subnets     []string `toml:"subnets"`      // subnet-…: their route tables (or the VPC's main one)
	JoinTag     string   `toml:"join_tag"`     // key=value: instances with this tag are join candidates
	// Endpoint overrides the EC2 API's URL (a VPC interface endpoint, a
	// test server); IMDSEndpoint the instance metadata service's.
	Endpoint     string `toml:"endpoint"`
	IMDSEndpoint string `toml:"imds_endpoint"`
}

// DNS is the forwarder that answers this gateway's members: names of their
// projects' zones asked of the exporting sites through the mesh, others of
// Upstream.
type DNS struct {
	Listen       []string `toml:"listen"`        // IP:port where members ask (UDP and TCP); empty: no forwarder
	Upstream     []string `toml:"upstream"`      // resolvers (IP or IP:port) for every other name; empty: refused
	CacheEntries int      `toml:"cache_entries"` // answers kept, least recently used dropped first
}

// DefaultDNSCache is dns.cache_entries left out.
const DefaultDNSCache = 10000

// EC2Resolver is the resolver every EC2 instance reaches in its VPC.
const EC2Resolver = "169.254.169.253:53"

// SiteResolver is where the names of s's exports are asked: its resolver,
// with port 53 when none is given, or on EC2 the VPC's; "" when neither.
func (c *Config) SiteResolver(s Site) string {
	switch {
	case s.Resolver == "" && c.EC2.Mode == EC2On:
		return EC2Resolver
	case s.Resolver == "":
		return ""
	}
	if ap, err := netip.ParseAddrPort(s.Resolver); err == nil {
		return ap.String()
	}
	if a, err := netip.ParseAddr(s.Resolver); err == nil {
		return netip.AddrPortFrom(a, 53).String()
	}
	return "" // invalid: validation says so
}

// KeepaliveFor is the persistent keepalive, in seconds, to use with p.
func (c *Config) KeepaliveFor(p Peer) int {
	if p.PersistentKeepalive != nil {
		return *p.PersistentKeepalive
	}
	return c.Node.PersistentKeepalive
}

// Gossip says whether the gateway discovers its peers by gossip: it does
// when the config names the mesh's root key (mesh.root_file).
func (c *Config) Gossip() bool {
	return c.Mesh.RootFile != ""
}

// MSSClampEnabled says whether TCP MSS is clamped to the tunnel MTU.
func (c *Config) MSSClampEnabled() bool {
	return c.Node.MSSClamp == nil || *c.Node.MSSClamp
}

// Load reads, strictly decodes, defaults and validates the file. Errors are
// reported all at once (errors.Join of *FieldError sorted by position), and
// each names file:line:col and the field.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; name is used in error messages and
// becomes Config.Path.
func Parse(name string, data []byte) (*Config, error) {
	ix, err := newIndex(data)
	if err != nil {
		return nil, report(name, ix, []problem{syntaxProblem(ix, err)})
	}
	cfg, probs, blanked := decode(data, ix)
	if cfg != nil {
		applyDefaults(cfg, ix)
		probs = append(probs, without(validate(cfg, ix), blanked)...)
	}
	if cfg == nil && len(probs) == 0 { // cannot happen; never return nil, nil
		probs = append(probs, problem{msg: "cannot decode the file"})
	}
	if len(probs) > 0 {
		return nil, report(name, ix, probs)
	}
	cfg.Path = name
	cfg.ix = ix
	cfg.Warnings = located(name, ix, warnings(cfg))
	return cfg, nil
}

// nodeDefaults is what decoding starts from: a key left out keeps its
// default, a key given (even 0, as in persistent_keepalive = 0) overrides it.
func nodeDefaults() Node {
	return Node{
		ListenPort:          DefaultListenPort,
		Interface:           DefaultInterface,
		PersistentKeepalive: DefaultKeepalive,
		ProbeIntervalMS:     DefaultProbeInterval,
		ProbeMisses:         DefaultProbeMisses,
		HoldDownMS:          DefaultHoldDown,
		StateDir:            DefaultStateDir,
		ControlSocket:       DefaultControlSocket,
	}
}

// applyDefaults fills what decoding cannot pre-fill: fields of array tables.
// An explicit priority = 0 stays 0 so that validation reports it.
func applyDefaults(cfg *Config, ix *index) {
	for i := range cfg.Sites {
		s := &cfg.Sites[i]
		if s.Priority == 0 && !ix.has(indexed("site", i)+".priority") {
			s.Priority = DefaultPriority
		}
	}
}
