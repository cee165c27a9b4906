package mesh

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Status is what `vpcmesh status` shows; its JSON form is the control API.
type Status struct {
	Version        string          `json:"version"` // the gateway binary's
	Node           string          `json:"node"`
	Mesh           string          `json:"mesh"`
	Interface      string          `json:"interface"`
	ListenPort     int             `json:"listen_port"`
	OverlayAddress string          `json:"overlay_address"`
	PublicKey      string          `json:"public_key"`
	Peers          []PeerStatus    `json:"peers"`
	Routes         []string        `json:"routes"`      // vpcmesh routes present in the kernel now
	RouteTable     []RouteStatus   `json:"route_table"` // every wanted route: peer, projects, installed
	Projects       []ProjectStatus `json:"projects"`    // per project: remote prefixes, local members
	Packets        PacketStats     `json:"packets"`
	Gossip         *GossipStats    `json:"gossip,omitempty"` // absent when gossip is off
	NAT            string          `json:"nat,omitempty"`    // this gateway's NAT behaviour, as far as known
	Conflicts      []string        `json:"conflicts,omitempty"`
	HA             []HAStatus      `json:"ha,omitempty"`      // remote sites served by several gateways
	Virtual        []VirtualStatus `json:"virtual,omitempty"` // this gateway's sites' floating addresses
	Health         *HealthStats    `json:"health,omitempty"`  // the probes through the tunnels; absent when gossip is off
	DNS            *DNSStatus      `json:"dns,omitempty"`     // names for members; absent when not configured
	Relay          *RelayStats     `json:"relay,omitempty"`   // present when this gateway relays
	LastSync       time.Time       `json:"last_sync"`
	Warnings       []string        `json:"warnings,omitempty"`
}

// HAStatus is an HA group: its members, the active one, the failovers
// seen from here.
type HAStatus struct {
	HAGroup
	Failovers    int        `json:"failovers"`
	LastFailover *time.Time `json:"last_failover,omitempty"`
}

// RelayStats counts the tunnel packets a relay was asked to forward for
// other gateways: forwarded, or refused (not between two of its peers).
type RelayStats struct {
	Forwarded uint64 `json:"forwarded"`
	Refused   uint64 `json:"refused"`
}

// GossipStats is the membership as this gateway sees it.
type GossipStats struct {
	Members []string          `json:"members"` // other live gateways with a verified record
	Refused map[string]uint64 `json:"refused"` // records refused, by reason
	// Dropped are control packets dropped before any signature work, by
	// reason, and relayed packets from no relay of ours ("relay_stray").
	Dropped map[string]uint64 `json:"dropped"`
	// Unverified are live in memberlist but without a valid record here.
	Unverified []string `json:"unverified,omitempty"`
}

// PacketStats counts what the nat stage did with each direction's packets
// since the gateway started.
type PacketStats struct {
	Outbound PacketCounters `json:"outbound"` // from the sites into the mesh
	Inbound  PacketCounters `json:"inbound"`  // from the mesh into the sites
}

// PacketCounters counts one direction's packets by verdict.
type PacketCounters struct {
	Passed         uint64 `json:"passed"`
	DroppedACL     uint64 `json:"dropped_acl"`      // no project in common
	DroppedNoRoute uint64 `json:"dropped_no_route"` // unknown remote prefix
	DroppedInvalid uint64 `json:"dropped_invalid"`  // malformed
}

func packetCounters(c nat.Counters) PacketCounters {
	return PacketCounters{Passed: c.Passed, DroppedACL: c.ACL, DroppedNoRoute: c.NoRoute, DroppedInvalid: c.Invalid}
}

// PeerStatus is one peer as the device reports it.
type PeerStatus struct {
	Name          string     `json:"name"`
	PublicKey     string     `json:"public_key"`
	Endpoint      string     `json:"endpoint,omitempty"`
	LastHandshake *time.Time `json:"last_handshake,omitempty"`
	// HandshakeAge is in seconds; absent when there was no handshake yet.
	HandshakeAge *float64 `json:"handshake_age_seconds,omitempty"`
	RxBytes      uint64   `json:"rx_bytes"`
	TxBytes      uint64   `json:"tx_bytes"`
	Prefixes     []string `json:"prefixes"`
	Path         string   `json:"path"`          // "direct": to the peer itself; "relayed": through Via
	Via          string   `json:"via,omitempty"` // the relay gateway of a relayed path
	// PathChanged is when hole punching last changed the path (pairs both
	// behind NAT only).
	PathChanged *time.Time `json:"path_changed,omitempty"`
	NAT         string     `json:"nat,omitempty"` // the peer's NAT behaviour, from its record
	// Standby: gossip has given the gateway up, but it may be back under
	// its name; the tunnel stays, without its sites, until gossip forgets it.
	Standby bool `json:"standby,omitempty"`
}

// Status reads the live state of the device and the kernel.
func (g *Gateway) Status() (Status, error) {
	g.mu.Lock()
	cfg, d, policy, warnings, synced := g.cfg, g.desired, g.policy, slices.Clone(g.warnings), g.synced
	var ha []HAStatus
	for _, grp := range d.HA {
		h := HAStatus{HAGroup: grp}
		if f, ok := g.failover[grp.Site]; ok {
			h.Failovers, h.LastFailover = f.n, &f.last
		}
		ha = append(ha, h)
	}
	g.mu.Unlock()
	ps := g.packets.Stats()
	st := Status{
		Version:        g.Version,
		Node:           cfg.Node.Name,
		Mesh:           cfg.Mesh.Name,
		Interface:      g.dev.Name(),
		ListenPort:     g.dev.ListenPort(),
		OverlayAddress: d.Address.String(),
		PublicKey:      g.dev.PublicKey().String(),
		LastSync:       synced,
		Packets:        PacketStats{Outbound: packetCounters(ps.Outbound), Inbound: packetCounters(ps.Inbound)},
		Warnings:       warnings,
		Peers:          []PeerStatus{},
		Routes:         []string{},
	}
	st.Conflicts, st.HA, st.Virtual, st.Health = d.Conflicts, ha, g.float.status(), g.health.stats()
	st.DNS = g.names.status(cfg)
	if cfg.Node.Relay {
		f, r, _ := g.dev.RelayStats()
		st.Relay = &RelayStats{Forwarded: f, Refused: r}
	}
	if m := g.members; m != nil {
		gs := &GossipStats{Members: []string{}, Refused: m.gossip.Refused(), Dropped: m.gate.Dropped(), Unverified: m.gossip.Unverified()}
		_, _, gs.Dropped["relay_stray"] = g.dev.RelayStats()
		for _, n := range m.gossip.Nodes() {
			gs.Members = append(gs.Members, n.Name)
		}
		st.Gossip = gs
		st.Warnings = append(st.Warnings, expiryWarnings(m.id.Chain, time.Now())...)
	}
	peers, err := g.dev.Status()
	if err != nil {
		return st, err
	}
	now := time.Now()
	nat := map[string]string{}
	var known []*discovery.Node
	standby := map[string]bool{}
	if m := g.members; m != nil {
		st.NAT = g.natBehaviour()
		known = m.gossip.Known()
		for _, n := range known {
			nat[n.Name] = n.NAT
		}
		for _, n := range m.gossip.Standby() {
			standby[n.Name] = true
		}
	}
	for _, p := range peers {
		ps := peerStatus(p, d.Names[p.PublicKey], now)
		ps.NAT, ps.Standby = nat[ps.Name], standby[ps.Name]
		g.pathOf(&ps, p.Endpoint, known)
		st.Peers = append(st.Peers, ps)
	}
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int { return strings.Compare(a.Name, b.Name) })
	// A prefix counts as routed once it is in any table through the mesh
	// (main, or its projects'); the unreachable twins route nothing.
	routes, err := routing.Owned()
	for _, r := range routes {
		if r.Type != unix.RTN_UNREACHABLE {
			st.Routes = append(st.Routes, r.Dst.String())
		}
	}
	slices.Sort(st.Routes)
	st.Routes = slices.Compact(st.Routes)
	st.RouteTable = routeTable(d.Routes, d.Peers, d.Names, policy.Routes, st.Routes)
	st.Projects = projectTable(policy)
	return st, err
}

func peerStatus(p tunnel.PeerStatus, name string, now time.Time) PeerStatus {
	ps := PeerStatus{
		Name:      name,
		PublicKey: p.PublicKey.String(),
		RxBytes:   p.RxBytes,
		TxBytes:   p.TxBytes,
		Prefixes:  []string{},
		Path:      "direct",
	}
	if p.Endpoint.IsValid() {
		ps.Endpoint = p.Endpoint.String()
	}
	if !p.LastHandshake.IsZero() {
		hs := p.LastHandshake
		age := now.Sub(hs).Seconds()
		ps.LastHandshake, ps.HandshakeAge = &hs, &age
	}
	for _, pfx := range p.AllowedIPs {
		ps.Prefixes = append(ps.Prefixes, pfx.String())
	}
	return ps
}

// certWarnAhead is how early status warns that this gateway's certificate
// expires: an expired certificate drops the gateway from the mesh, so
// there must be time to sign it again.
const certWarnAhead = 30 * 24 * time.Hour

func expiryWarning(c *cert.Cert, now time.Time) string {
	if !cert.ExpiresSoon(c, now, certWarnAhead) {
		return ""
	}
	if c.Body.Kind == cert.KindAuthority {
		// Every gateway it signed drops out with it.
		return fmt.Sprintf("certificate of project authority %s, which signed this gateway's, expires %s (in %s): the root must renew it (vpcmesh ca authority), then it signs its gateways again",
			c.Body.Name, c.Body.NotAfter.Format(time.RFC3339), c.Body.NotAfter.Sub(now).Round(time.Minute))
	}
	return fmt.Sprintf("certificate of %s expires %s (in %s): sign it again (vpcmesh ca sign) and restart",
		c.Body.Name, c.Body.NotAfter.Format(time.RFC3339), c.Body.NotAfter.Sub(now).Round(time.Minute))
}

// expiryWarnings warns of every certificate of the chain that expires
// soon: the gateway's own and its authority's.
func expiryWarnings(chain []*cert.Cert, now time.Time) []string {
	var out []string
	for _, c := range chain {
		if w := expiryWarning(c, now); w != "" {
			out = append(out, w)
		}
	}
	return out
}
