package scenario

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/mesh"
)

// natMatrixSites are one site of each kind of internet access, each with
// one host, all on the internet's first segment: a gateway on the internet
// itself and one behind a 1:1 address, both relays; two offices behind
// endpoint-independent masquerade, two behind per-destination
// ("symmetric") NAT. Half join through the one relay, half through the
// other.
var natMatrixSites = []GossipSiteSpec{
	{Name: "pub", NAT: lab.NATNone, Public: "203.0.113.60", LAN: "10.60.0.0/24", Host: "10.60.0.20", Join: "203.0.113.61:51820", Overlay: "100.96.0.1", Relay: true},
	{Name: "eip", NAT: lab.NATOneToOne, Public: "203.0.113.61", LAN: "10.61.0.0/24", Host: "10.61.0.20", Join: "203.0.113.60:51820", Overlay: "100.96.0.2", Relay: true},
	{Name: "masq1", NAT: lab.NATMasquerade, Public: "203.0.113.62", LAN: "10.62.0.0/24", Host: "10.62.0.50", Join: "203.0.113.60:51820", Overlay: "100.96.0.3"},
	{Name: "masq2", NAT: lab.NATMasquerade, Public: "203.0.113.63", LAN: "10.63.0.0/24", Host: "10.63.0.50", Join: "203.0.113.61:51820", Overlay: "100.96.0.4"},
	{Name: "rand1", NAT: lab.NATRandom, Public: "203.0.113.64", LAN: "10.64.0.0/24", Host: "10.64.0.50", Join: "203.0.113.60:51820", Overlay: "100.96.0.5"},
	{Name: "rand2", NAT: lab.NATRandom, Public: "203.0.113.65", LAN: "10.65.0.0/24", Host: "10.65.0.50", Join: "203.0.113.61:51820", Overlay: "100.96.0.6"},
}

// BuildNATMatrix builds the six sites of natMatrixSites under one trust and
// writes every gateway's keys, certificate and config; Start runs them.
// Every two sites must reach each other: directly where the NATs allow,
// else through pub-gw or eip-gw.
func BuildNATMatrix(l *lab.Lab, bin string) (*GossipMesh, error) {
	return buildGossip(l, bin, natMatrixSites)
}

// BuildPublicPortLab is the lab of the attacks on the public UDP port: the
// NAT matrix's two relays (pub-gw, on the internet itself, is the target)
// and its two offices behind endpoint-independent NAT, a hole-punched pair;
// and "late", an office whose gateway joins through pub-gw while it is
// flooded (built, not started).
func BuildPublicPortLab(l *lab.Lab, bin string) (m *GossipMesh, late *GossipSite, err error) {
	if m, err = buildGossip(l, bin, natMatrixSites[:4]); err != nil {
		return nil, nil, err
	}
	late, err = AddGossipSite(l, bin, m.Trust, GossipSiteSpec{Name: "late", NAT: lab.NATMasquerade, Public: "203.0.113.66",
		LAN: "10.66.0.0/24", Host: "10.66.0.50", Join: "203.0.113.60:51820", Overlay: "100.96.0.7"})
	return m, late, err
}

// PathMatrix is each gateway's status of each of its peers, by gateway name
// and then peer name.
type PathMatrix map[string]map[string]mesh.PeerStatus

func ReadPaths(ctx context.Context, m *GossipMesh) (PathMatrix, error) {
	pm := PathMatrix{}
	for _, s := range m.Sites {
		st, err := s.GW.Status(ctx)
		if err != nil {
			return pm, err
		}
		pm[s.GW.Name] = map[string]mesh.PeerStatus{}
		for _, p := range st.Peers {
			pm[s.GW.Name][p.Name] = p
		}
	}
	return pm, nil
}

// Table is the matrix as text: rows and columns the gateways, a cell the
// row's path to the column.
func (pm PathMatrix) Table(m *GossipMesh) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	head := []string{""}
	for _, s := range m.Sites {
		head = append(head, s.GW.Name)
	}
	fmt.Fprintln(w, strings.Join(head, "\t"))
	for _, r := range m.Sites {
		row := []string{r.GW.Name}
		for _, c := range m.Sites {
			cell := "-"
			if r != c {
				cell = "(none)"
				if p, ok := pm[r.GW.Name][c.GW.Name]; ok {
					cell = PathCell(p)
				}
			}
			row = append(row, cell)
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	w.Flush()
	return b.String()
}

// PathCell is "direct", "relay:<via>", or whatever else the status says.
func PathCell(p mesh.PeerStatus) string {
	switch {
	case p.Path == "relayed":
		return "relay:" + p.Via
	case p.Path == "":
		return "(no path)"
	}
	return p.Path
}
