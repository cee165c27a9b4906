package mesh

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// gossipGW is the local gateway of these tests: office 192.168.0.0/24,
// member pc-a of alpha, and one static peer.
const gossipGW = header + `
[[site]]
name = "office"
cidrs = ["192.168.0.0/24"]
[[site.member]]
project = "alpha"
sources = ["192.168.0.50/32"]
[[peer]]
name = "branch"
public_key = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
prefixes = ["172.16.5.0/24"]
`

type nodeSpec struct {
	name, site string
	priority   int
	overlay    string
	exports    []string // "project=wire"
	endpoint   string
}

func node(t *testing.T, s nodeSpec) *discovery.Node {
	t.Helper()
	k, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	site := cert.Site{Name: s.site, Priority: s.priority}
	for _, e := range s.exports {
		project, wire, _ := strings.Cut(e, "=")
		w := netip.MustParsePrefix(wire)
		site.CIDRs = append(site.CIDRs, w)
		site.Exports = append(site.Exports, cert.Export{Project: project, CIDR: w, Wire: w})
	}
	n := &discovery.Node{
		Record:       discovery.Record{Name: s.name},
		WireGuardKey: k.Public().String(),
		Overlay:      netip.MustParseAddr(s.overlay),
		Sites:        []cert.Site{site},
	}
	if s.endpoint != "" {
		n.Endpoints = []netip.AddrPort{netip.MustParseAddrPort(s.endpoint)}
	}
	return n
}

func TestFromView(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(gossipGW))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		nodes    []nodeSpec
		standby  []nodeSpec
		observed map[string]string
		// want: node → allowed IPs (space separated); conflicts: substrings
		want      map[string]string
		conflicts []string
	}{
		{
			name: "two VPCs",
			nodes: []nodeSpec{
				{"gw-a", "vpc-a", 100, "100.96.0.2", []string{"alpha=100.100.1.0/24"}, "203.0.113.20:51820"},
				{"gw-b", "vpc-b", 100, "100.96.0.3", []string{"beta=100.100.2.0/25"}, ""},
			},
			observed: map[string]string{"gw-b": "198.51.100.7:4000"},
			want:     map[string]string{"gw-a": "100.96.0.2/32 100.100.1.0/24", "gw-b": "100.96.0.3/32 100.100.2.0/25"},
		},
		{
			name: "same wire prefix from two sites: the smaller site name wins everywhere",
			nodes: []nodeSpec{
				{"gw-z", "zulu", 100, "100.96.0.4", []string{"alpha=100.100.1.0/24"}, ""},
				{"gw-a", "alfa", 100, "100.96.0.2", []string{"alpha=100.100.1.0/25"}, ""},
			},
			want:      map[string]string{"gw-a": "100.96.0.2/32 100.100.1.0/25", "gw-z": "100.96.0.4/32"},
			conflicts: []string{"100.100.1.0/24 of gateway gw-z (site zulu) overlaps 100.100.1.0/25 of gateway gw-a (site alfa); gw-a wins"},
		},
		{
			name: "HA group: the higher priority carries the site",
			nodes: []nodeSpec{
				{"gw-a2", "vpc-a", 100, "100.96.0.5", []string{"alpha=100.100.1.0/24"}, ""},
				{"gw-a1", "vpc-a", 200, "100.96.0.2", []string{"alpha=100.100.1.0/24"}, ""},
			},
			want: map[string]string{"gw-a1": "100.96.0.2/32 100.100.1.0/24", "gw-a2": "100.96.0.5/32"},
		},
		{
			name: "a prefix overlapping local networks or a static peer is refused",
			nodes: []nodeSpec{
				{"gw-x", "x", 100, "100.96.0.6", []string{"alpha=192.168.0.0/16", "alpha=172.16.5.128/25", "alpha=10.9.0.0/16"}, ""},
			},
			want:      map[string]string{"gw-x": "100.96.0.6/32 10.9.0.0/16"},
			conflicts: []string{"192.168.0.0/16 (site x, project alpha), which overlaps site office", "172.16.5.128/25 (site x, project alpha), which overlaps static peer branch"},
		},
		{
			name: "our own overlay address or name is not a peer",
			nodes: []nodeSpec{
				{"gw", "office", 100, "100.96.0.9", nil, ""},
				{"imposter", "y", 100, "100.96.0.1", []string{"alpha=10.8.0.0/16"}, ""},
			},
			want:      map[string]string{},
			conflicts: []string{"gateway imposter has the overlay address 100.96.0.1 of gw"},
		},
		{
			name:    "a gateway gossip gave up on gets a tunnel, not its site",
			nodes:   []nodeSpec{{"gw-a", "vpc-a", 100, "100.96.0.2", []string{"alpha=100.100.1.0/24"}, ""}},
			standby: []nodeSpec{{"gw-s", "vpc-s", 100, "100.96.0.7", []string{"alpha=100.100.7.0/24"}, ""}},
			want:    map[string]string{"gw-a": "100.96.0.2/32 100.100.1.0/24", "gw-s": "100.96.0.7/32"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := View{Observed: map[string]netip.AddrPort{}}
			for _, s := range c.nodes {
				v.Nodes = append(v.Nodes, node(t, s))
			}
			for _, s := range c.standby {
				v.Standby = append(v.Standby, node(t, s))
			}
			for n, ep := range c.observed {
				v.Observed[n] = netip.MustParseAddrPort(ep)
			}
			r := fromView(cfg, v)
			got := map[string]string{}
			for _, p := range r.peers {
				var ips []string
				for _, a := range p.AllowedIPs {
					ips = append(ips, a.String())
				}
				got[r.names[p.PublicKey]] = strings.Join(ips, " ")
			}
			for n, w := range c.want {
				if got[n] != w {
					t.Errorf("%s: allowed IPs %q, want %q", n, got[n], w)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("peers %v, want %v", got, c.want)
			}
			for _, want := range c.conflicts {
				if !slices.ContainsFunc(r.conflicts, func(s string) bool { return strings.Contains(s, want) }) {
					t.Errorf("conflicts %q: none says %q", r.conflicts, want)
				}
			}
			if len(c.conflicts) == 0 && len(r.conflicts) > 0 {
				t.Errorf("unexpected conflicts %q", r.conflicts)
			}
			for _, rt := range r.routes {
				if rt.Dst.String() == "100.100.7.0/24" {
					t.Errorf("route to the given-up gateway's site %v", rt.Dst)
				}
			}
			for _, p := range r.peers {
				if r.names[p.PublicKey] == "gw-b" && p.Endpoint.String() != "198.51.100.7:4000" {
					t.Errorf("gw-b (no candidates) endpoint %v, want the observed one", p.Endpoint)
				}
			}
		})
	}
}

// Behind NAT a gateway keeps its mappings open toward every discovered
// peer; a public one sends no keepalive, so it never starts a handshake at
// the same moment as a new peer does.
func TestKeepaliveOnlyBehindNAT(t *testing.T) {
	for _, c := range []struct {
		extra string
		want  int
	}{
		{"", configs.DefaultKeepalive},
		{`public_endpoint = "203.0.113.10:51820"` + "\n", 0},
	} {
		src := strings.Replace(gossipGW, "[mesh]", c.extra+"[mesh]", 1)
		cfg, err := configs.Parse("gw.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		r := fromView(cfg, View{Nodes: []*discovery.Node{node(t, nodeSpec{"gw-a", "vpc-a", 100, "100.96.0.2", nil, "203.0.113.20:51820"})}})
		if len(r.peers) != 1 || r.peers[0].Keepalive != c.want {
			t.Errorf("public_endpoint %q: peers %+v, want one with keepalive %d", c.extra, r.peers, c.want)
		}
	}
}

func TestCertificateExpiryWarning(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		left time.Duration
		want string
	}{
		{60 * 24 * time.Hour, ""},
		{10 * 24 * time.Hour, "certificate of gw expires 2026-12-11T00:00:00Z (in 240h0m0s): sign it again"},
	} {
		got := expiryWarning(&cert.Cert{Body: cert.Body{Name: "gw", NotAfter: now.Add(c.left)}}, now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%v left: %q, want %q", c.left, got, c.want)
		}
	}
	chain := []*cert.Cert{
		{Body: cert.Body{Kind: cert.KindGateway, Name: "gw", NotAfter: now.Add(300 * 24 * time.Hour)}},
		{Body: cert.Body{Kind: cert.KindAuthority, Name: "alpha-ca", NotAfter: now.Add(5 * 24 * time.Hour)}},
	}
	got := expiryWarnings(chain, now)
	if len(got) != 1 || !strings.Contains(got[0], "certificate of project authority alpha-ca, which signed this gateway's, expires 2026-12-06T00:00:00Z") {
		t.Errorf("an authority about to expire: %q", got)
	}
}

// In an HA group the best healthy member carries the site; a failed one
// carries it only when no member is healthy. activeForSites is the same
// choice seen from inside the group.
func TestHAFailover(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(gossipGW))
	if err != nil {
		t.Fatal(err)
	}
	a1 := node(t, nodeSpec{"gw-a1", "vpc-a", 200, "100.96.0.2", []string{"alpha=100.100.1.0/24"}, ""})
	a2 := node(t, nodeSpec{"gw-a2", "vpc-a", 100, "100.96.0.5", []string{"alpha=100.100.1.0/24"}, ""})
	carrier := func(down map[string]bool) string {
		r := fromView(cfg, View{Nodes: []*discovery.Node{a1, a2}, Down: down})
		for _, p := range r.peers {
			if slices.Contains(p.AllowedIPs, netip.MustParsePrefix("100.100.1.0/24")) {
				return r.names[p.PublicKey]
			}
		}
		return ""
	}
	for _, c := range []struct {
		down map[string]bool
		want string
	}{{nil, "gw-a1"}, {map[string]bool{"gw-a1": true}, "gw-a2"}, {map[string]bool{"gw-a1": true, "gw-a2": true}, "gw-a1"}} {
		if got := carrier(c.down); got != c.want {
			t.Errorf("down %v: %s carries the site, want %s", c.down, got, c.want)
		}
	}

	// gw-a2's own view: standby while gw-a1 is healthy, active once it fails.
	src := strings.NewReplacer(`name = "gw"`, `name = "gw-a2"`, `name = "office"`, `name = "vpc-a"`).Replace(gossipGW)
	self, err := configs.Parse("gw-a2.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if activeForSites(self, View{Nodes: []*discovery.Node{a1}}, time.Time{}, nil) {
		t.Error("gw-a2 active while gw-a1, of higher priority, is healthy")
	}
	if !activeForSites(self, View{Nodes: []*discovery.Node{a1}, Down: map[string]bool{"gw-a1": true}}, time.Time{}, nil) {
		t.Error("gw-a2 not active with gw-a1 down")
	}
	// gw-a1 just restarted: it leaves the site to gw-a2 until its hold-down ends.
	src1 := strings.NewReplacer(`name = "gw"`, `name = "gw-a1"`, `name = "office"`, `name = "vpc-a"`+"\npriority = 200").Replace(gossipGW)
	restarted, err := configs.Parse("gw-a1.toml", []byte(src1))
	if err != nil {
		t.Fatal(err)
	}
	a2.Version = uint64(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	restart := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if activeForSites(restarted, View{Nodes: []*discovery.Node{a2}}, restart, nil) || !activeForSites(restarted, View{Nodes: []*discovery.Node{a2}}, time.Time{}, nil) {
		t.Error("a restarted gw-a1 must wait out its hold-down, then carry the site")
	}
	// Restarted, gw-a1 has not heard gw-a2 yet (its handshake was lost):
	// gw-a2 keeps the site while it is awaited, not once it failed for good
	// nor after the hold-down. Routing to an awaited member stays refused.
	unheard := View{Nodes: []*discovery.Node{a2}, Down: map[string]bool{"gw-a2": true}, Awaited: map[string]bool{"gw-a2": true}}
	if activeForSites(restarted, unheard, restart, nil) {
		t.Error("a restarted gw-a1 took the site from gw-a2, not heard yet since its start")
	}
	if !activeForSites(restarted, View{Nodes: unheard.Nodes, Down: unheard.Down}, restart, nil) || !activeForSites(restarted, unheard, time.Time{}, nil) {
		t.Error("a restarted gw-a1 must carry the site once gw-a2 has failed for good, or after its hold-down")
	}
	if r := fromView(cfg, View{Nodes: []*discovery.Node{a1, a2}, Down: map[string]bool{"gw-a2": true}, Awaited: map[string]bool{"gw-a2": true}}); len(r.peers) == 0 {
		t.Fatal("no peers")
	} else {
		for _, p := range r.peers {
			if r.names[p.PublicKey] == "gw-a2" && slices.Contains(p.AllowedIPs, netip.MustParsePrefix("100.100.1.0/24")) {
				t.Error("the site is routed to gw-a2, awaited but never heard, while gw-a1 is healthy")
			}
		}
	}
	// Started together, gw-a2 a moment after: gw-a1 carries the site at
	// once, there is nobody to wait for.
	if !activeForSites(restarted, View{Nodes: []*discovery.Node{a2}}, time.Date(2026, 12, 1, 7, 59, 59, 0, time.UTC), nil) {
		t.Error("gw-a1 waits for gw-a2, which started after it")
	}
	// gw-a1 cannot reach its own site: gw-a2 carries it, on every side.
	a1.SitesDown = []string{"vpc-a"}
	if got := carrier(nil); got != "gw-a2" {
		t.Errorf("gw-a1 failed for vpc-a: %s carries it, want gw-a2", got)
	}
	if !activeForSites(self, View{Nodes: []*discovery.Node{a1}}, time.Time{}, nil) || activeForSites(restarted, View{Nodes: []*discovery.Node{a2}}, time.Time{}, []string{"vpc-a"}) {
		t.Error("with gw-a1 failed for its site, gw-a2 must be the active one")
	}
}
