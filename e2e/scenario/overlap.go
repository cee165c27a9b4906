package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// The overlapping-VPC case (docs/ARCHITECTURE.md, The model, The lab): VPC A
// and VPC B use the same real addresses, and both have a host at 10.0.0.20.
// They appear in the mesh under different wire prefixes from the mapped pool.
const (
	VPCBPublic = "203.0.113.22"
	VPCBLAN    = "10.0.0.0/25"
	HostB      = "10.0.0.20"
	VPCAWire   = "100.100.1.0/24"
	VPCBWire   = "100.100.2.0/25"
	HostAWire  = "100.100.1.20"
	HostBWire  = "100.100.2.20"
	PCB        = "192.168.0.51"
	PCX        = "192.168.0.52"
	VPCBGWMesh = "100.96.0.3"
)

// Overlap is an office behind masquerade NAT with pc-a (a member of
// project alpha), pc-b (beta) and pc-x (neither), and two VPCs whose CIDRs
// overlap: VPC A (alpha) and VPC B (beta), each behind 1:1 NAT.
type Overlap struct {
	Office, VPCA, VPCB          *Site
	OfficeGW, GWA, GWB          *Gateway
	PCA, PCB, PCX, HostA, HostB *lab.NS
}

// Site is a lab site; an alias so callers need not import lab for it.
type Site = lab.Site

// BuildOverlap builds the topology and writes the three configs; StartAll
// runs the gateways.
func BuildOverlap(l *lab.Lab, bin string) (*Overlap, error) {
	o := &Overlap{}
	var err error
	if o.Office, err = l.AddSite(lab.SiteSpec{
		Name: "office", NAT: lab.NATMasquerade, PublicIP: OfficePublic, LAN: OfficeLAN,
		Hosts:      map[string]string{"pc-a": PCA, "pc-b": PCB, "pc-x": PCX},
		MeshRoutes: []string{VPCAWire, VPCBWire},
	}); err != nil {
		return nil, err
	}
	if o.VPCA, err = l.AddSite(lab.SiteSpec{
		Name: "vpca", NAT: lab.NATOneToOne, PublicIP: VPCPublic, LAN: VPCLAN,
		Hosts: map[string]string{"host-a": HostA}, MeshRoutes: []string{OfficeLAN},
	}); err != nil {
		return nil, err
	}
	if o.VPCB, err = l.AddSite(lab.SiteSpec{
		Name: "vpcb", NAT: lab.NATOneToOne, PublicIP: VPCBPublic, LAN: VPCBLAN,
		Hosts: map[string]string{"host-b": HostB}, MeshRoutes: []string{OfficeLAN},
	}); err != nil {
		return nil, err
	}
	o.PCA, o.PCB, o.PCX = o.Office.Hosts["pc-a"], o.Office.Hosts["pc-b"], o.Office.Hosts["pc-x"]
	o.HostA, o.HostB = o.VPCA.Hosts["host-a"], o.VPCB.Hosts["host-b"]

	// The office LAN is not exported: only its members take part, each in
	// its own project.
	if o.OfficeGW, err = NewGateway(l, bin, GatewaySpec{Name: "office-gw", NS: o.Office.Gateway,
		Overlay: OfficeGWMesh, SiteName: "office", CIDRs: []string{OfficeLAN},
		Members: []MemberSpec{{Project: "alpha", Sources: []string{PCA + "/32"}}, {Project: "beta", Sources: []string{PCB + "/32"}}},
	}); err != nil {
		return nil, err
	}
	if o.GWA, err = NewGateway(l, bin, GatewaySpec{Name: "gw-a", NS: o.VPCA.Gateway,
		Overlay: VPCGWMesh, SiteName: "vpc-a", CIDRs: []string{VPCLAN},
		Exports: []ExportSpec{{Project: "alpha", CIDR: VPCLAN, Mapped: VPCAWire}},
	}); err != nil {
		return nil, err
	}
	if o.GWB, err = NewGateway(l, bin, GatewaySpec{Name: "gw-b", NS: o.VPCB.Gateway,
		Overlay: VPCBGWMesh, SiteName: "vpc-b", CIDRs: []string{VPCBLAN},
		Exports: []ExportSpec{{Project: "beta", CIDR: VPCBLAN, Mapped: VPCBWire}},
	}); err != nil {
		return nil, err
	}
	o.OfficeGW.Peers = []PeerSpec{
		{Name: "gw-a", PublicKey: o.GWA.PublicKey, Endpoint: VPCPublic + ":51820",
			Prefixes: []string{VPCAWire, VPCGWMesh + "/32"}, Project: "alpha"},
		{Name: "gw-b", PublicKey: o.GWB.PublicKey, Endpoint: VPCBPublic + ":51820",
			Prefixes: []string{VPCBWire, VPCBGWMesh + "/32"}, Project: "beta"},
	}
	o.GWA.Peers = []PeerSpec{{Name: "office-gw", PublicKey: o.OfficeGW.PublicKey,
		Prefixes: []string{PCA + "/32", OfficeGWMesh + "/32"}, Project: "alpha"}}
	o.GWB.Peers = []PeerSpec{{Name: "office-gw", PublicKey: o.OfficeGW.PublicKey,
		Prefixes: []string{PCB + "/32", OfficeGWMesh + "/32"}, Project: "beta"}}
	return o, writeConfigs(o.OfficeGW, o.GWA, o.GWB)
}

// StartAll starts the gateways, VPCs first, and waits for the office's
// handshakes with both.
func (o *Overlap) StartAll(ctx context.Context) error {
	for _, g := range []*Gateway{o.GWA, o.GWB, o.OfficeGW} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	for _, peer := range []string{"gw-a", "gw-b"} {
		if err := o.OfficeGW.PeerUp(ctx, peer, 10*time.Second); err != nil {
			return fmt.Errorf("%w\noffice-gw log:\n%s", err, o.OfficeGW.Log())
		}
	}
	return nil
}
