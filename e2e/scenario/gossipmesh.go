package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// GossipSite is one site of a gossip mesh: its gateway found its peers
// through one join address.
type GossipSite struct {
	*lab.Site
	GW     *Gateway
	Host   *lab.NS
	HostIP string
	Public bool // reachable from the internet: no NAT, or a 1:1 address
}

// GossipMesh is six sites whose gateways share one trust and find each other
// by gossip (docs/ARCHITECTURE.md, A membership event's way, The lab): two
// offices behind masquerade NAT, three VPCs behind 1:1 NAT and a branch whose
// gateway is on the internet itself. vpc3 and the branch sit on the
// internet's second segment, 198.51.100.0/24, so that a test can cut them off
// from the rest in the internet's router.
type GossipMesh struct {
	Trust *Trust
	Sites []*GossipSite
}

// GossipSiteSpec is one site of a gossip mesh and its gateway.
type GossipSiteSpec struct {
	Name     string
	NAT      lab.NATKind
	Public   string // the router's (or NATNone gateway's) internet address
	LAN      string
	Host     string // the one host's address
	Join     string // the gateway's one join address
	Overlay  string
	ValidFor time.Duration // of its certificate; 0: a day
	Project  string        // its LAN is exported to this project; "": "lab"
	Relay    bool          // the gateway relays for others; needs a public side
	Mapped   string        // the export's wire prefix; "": unmapped
	// MeshRoutes are what the site's router sends to the gateway; nil:
	// 10.0.0.0/8, where every gossip-mesh LAN lies.
	MeshRoutes []string
}

// gossipSites is the reference six-site mesh: every LAN in 10.0.0.0/8 and
// exported to project "lab", each gateway given one join address.
var gossipSites = []GossipSiteSpec{
	{Name: "vpc1", NAT: lab.NATOneToOne, Public: "203.0.113.20", LAN: "10.1.0.0/24", Host: "10.1.0.20", Join: "203.0.113.21:51820", Overlay: "100.96.0.1"},
	{Name: "vpc2", NAT: lab.NATOneToOne, Public: "203.0.113.21", LAN: "10.2.0.0/24", Host: "10.2.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.2"},
	{Name: "office1", NAT: lab.NATMasquerade, Public: "203.0.113.10", LAN: "10.11.0.0/24", Host: "10.11.0.50", Join: "203.0.113.20:51820", Overlay: "100.96.0.3"},
	{Name: "office2", NAT: lab.NATMasquerade, Public: "203.0.113.11", LAN: "10.12.0.0/24", Host: "10.12.0.50", Join: "203.0.113.21:51820", Overlay: "100.96.0.4"},
	{Name: "vpc3", NAT: lab.NATOneToOne, Public: "198.51.100.20", LAN: "10.3.0.0/24", Host: "10.3.0.20", Join: "198.51.100.30:51820", Overlay: "100.96.0.5"},
	{Name: "branch", NAT: lab.NATNone, Public: "198.51.100.30", LAN: "10.30.0.0/24", Host: "10.30.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.6"},
}

// BuildGossipMesh builds the six sites and writes every gateway's keys,
// certificate and config; Start runs them.
func BuildGossipMesh(l *lab.Lab, bin string) (*GossipMesh, error) {
	return buildGossip(l, bin, gossipSites)
}

// buildGossip builds the sites under one new trust.
func buildGossip(l *lab.Lab, bin string, sites []GossipSiteSpec) (*GossipMesh, error) {
	trust, err := NewTrust(l, bin, "lab")
	if err != nil {
		return nil, err
	}
	m := &GossipMesh{Trust: trust}
	for _, spec := range sites {
		s, err := AddGossipSite(l, bin, trust, spec)
		if err != nil {
			return nil, err
		}
		m.Sites = append(m.Sites, s)
	}
	return m, nil
}

// AddGossipSite builds one site and its gateway, keys and certificate from
// trust, its config written; it does not start it.
func AddGossipSite(l *lab.Lab, bin string, trust *Trust, s GossipSiteSpec) (*GossipSite, error) {
	spec := lab.SiteSpec{Name: s.Name, NAT: s.NAT, PublicIP: s.Public, LAN: s.LAN,
		Hosts: map[string]string{"h": s.Host}}
	if s.NAT != lab.NATNone {
		spec.MeshRoutes = s.MeshRoutes
		if spec.MeshRoutes == nil {
			spec.MeshRoutes = []string{"10.0.0.0/8"}
		}
	}
	site, err := l.AddSite(spec)
	if err != nil {
		return nil, err
	}
	gs := &GossipSite{Site: site, Host: site.Hosts["h"], HostIP: s.Host, Public: s.NAT == lab.NATNone || s.NAT == lab.NATOneToOne}
	project := s.Project
	if project == "" {
		project = "lab"
	}
	g := GatewaySpec{Name: s.Name + "-gw", NS: site.Gateway, Overlay: s.Overlay,
		SiteName: s.Name, CIDRs: []string{s.LAN}, Exports: []ExportSpec{{Project: project, CIDR: s.LAN, Mapped: s.Mapped}},
		Trust: trust, Join: []string{s.Join}, ValidFor: s.ValidFor, Relay: s.Relay}
	if gs.Public {
		g.PublicEndpoint = s.Public + ":51820"
	}
	if gs.GW, err = NewGateway(l, bin, g); err != nil {
		return nil, err
	}
	return gs, nil
}

// Start runs every gateway in order and returns when the last one answers
// on its control socket.
func (m *GossipMesh) Start(ctx context.Context) error {
	for _, s := range m.Sites {
		if err := s.GW.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Site returns the named site.
func (m *GossipMesh) Site(name string) *GossipSite {
	for _, s := range m.Sites {
		if s.Name == name {
			return s
		}
	}
	panic("no site " + name)
}

// Pair is two sites whose hosts must reach each other.
type Pair struct{ A, B *GossipSite }

// Pairs are every two sites of the mesh: all must reach each other, the
// two behind NAT by hole punching or a relay.
func (m *GossipMesh) Pairs() []Pair {
	var out []Pair
	for i, a := range m.Sites {
		for _, b := range m.Sites[i+1:] {
			out = append(out, Pair{a, b})
		}
	}
	return out
}

// Connected pings every pair both ways, concurrently, and returns the
// pairs that did not answer.
func (m *GossipMesh) Connected(ctx context.Context, pairs []Pair) []string {
	type result struct {
		what string
		err  error
	}
	results := make(chan result, 2*len(pairs))
	for _, p := range pairs {
		for _, d := range [][2]*GossipSite{{p.A, p.B}, {p.B, p.A}} {
			go func() {
				results <- result{d[0].Name + "→" + d[1].Name, d[0].Host.PingWithin(ctx, d[1].HostIP, 300*time.Millisecond)}
			}()
		}
	}
	var failed []string
	for range 2 * len(pairs) {
		if r := <-results; r.err != nil {
			failed = append(failed, r.what)
		}
	}
	return failed
}

// WaitConnected waits until every pair answers both ways and returns how
// long that took.
func (m *GossipMesh) WaitConnected(ctx context.Context, pairs []Pair, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last []string
	err := lab.Eventually(ctx, timeout, func() error {
		if last = m.Connected(ctx, pairs); len(last) > 0 {
			return fmt.Errorf("%d of %d directions unanswered: %v", len(last), 2*len(pairs), last)
		}
		return nil
	})
	return time.Since(start), err
}
