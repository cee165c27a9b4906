package scenario

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/mesh"
)

// The reference lab (docs/ARCHITECTURE.md, The lab) as one mesh, every
// gateway under one root and found by gossip:
//
//	office   masquerade NAT       192.168.0.0/24  office-gw; pc-a (alpha), pc-b (beta), pc-x (none)
//	VPC-A    1:1 NAT              10.0.0.0/24     gw-a1 (200), gw-a2 (100) behind the EC2 route table; host-a .20
//	VPC-B    1:1 NAT              10.0.0.0/25     gw-b, a relay; host-b .20
//	VPC-C    per-destination NAT  172.24.0.0/24   gw-c; host-c .20
//
// Project alpha is VPC-A (on the wire VPCAWire) and VPC-C (unmapped),
// project beta is VPC-B (VPCBWire): A and B overlap, so both are mapped.
// pc-a and pc-b are members of one project each, so office-gw offers them
// transparent mode: each reaches its own project's 10.0.0.20 at that real
// address (and cannot use the wire address: replies come back from the real
// one). The office exports nothing: its members alone take part. The office and VPC-C are
// both behind NAT and VPC-C's maps per destination: no hole punches
// through, and that pair goes through gw-b.
const (
	RefVPCCPublic = "198.51.100.24"
	RefVPCCLAN    = "172.24.0.0/24"
	HostC         = "172.24.0.20"
	RefGWA2Mesh   = "100.96.0.4"
	RefGWCMesh    = "100.96.0.5"
	// RefProbeMS and RefHoldMS are the probing of the office and the HA
	// pair: the default probing, and a hold-down short enough for a demo.
	RefProbeMS = 0
	RefHoldMS  = 3000
	// refValidFor is the certificates' lifetime: a year, as `ca sign`
	// gives by default, so that status warns of no expiry.
	refValidFor = 365 * 24 * time.Hour
)

// Reference is the built reference lab.
type Reference struct {
	Trust                    *Trust
	Office, VPCA, VPCB, VPCC *lab.Site
	OfficeGW, GWA1, GWA2     *Gateway
	GWB, GWC                 *Gateway
	PCA, PCB, PCX            *lab.NS
	HostA, HostB, HostC      *lab.NS
	Table                    *VPCRouteTable // VPC-A's
}

// BuildReference builds the lab, the keys, certificates and configs of its
// five gateways, and VPC-A's EC2 stand-in; Start runs the gateways, Close
// stops the stand-in.
func BuildReference(l *lab.Lab, bin string) (r *Reference, err error) {
	r = &Reference{}
	defer func() {
		if err != nil && r.Table != nil {
			r.Table.Close()
		}
	}()
	if r.Trust, err = NewTrust(l, bin, "lab"); err != nil {
		return nil, err
	}
	if err := r.addSites(l); err != nil {
		return nil, err
	}
	a2, err := l.AddGateway(r.VPCA, "gw2", GWA2, GWA2Public)
	if err != nil {
		return nil, err
	}
	if r.Table, err = NewVPCRouteTable(r.VPCA, RouteTable, EC2Instance{r.VPCA.Gateway, "i-0a1", ENIA1, GWA1},
		EC2Instance{a2, "i-0a2", ENIA2, GWA2}); err != nil {
		return nil, err
	}
	// Everyone joins gw-b, which joins gw-a1.
	join := []string{VPCBPublic + ":51820"}
	office := GatewaySpec{Name: "office-gw", NS: r.Office.Gateway, Overlay: OfficeGWMesh, SiteName: "office",
		CIDRs: []string{OfficeLAN}, Trust: r.Trust, Join: join, ValidFor: refValidFor,
		Members: []MemberSpec{{Project: "alpha", Sources: []string{PCA + "/32"}, Transparent: true}, {Project: "beta", Sources: []string{PCB + "/32"}, Transparent: true}}}
	FastProbes(&office, RefProbeMS, RefHoldMS)
	pair := HAPair{Site: "vpc-a", CIDRs: []string{VPCLAN}, Exports: []ExportSpec{{Project: "alpha", CIDR: VPCLAN, Mapped: VPCAWire}},
		Trust: r.Trust, Join: join, ProbeMS: RefProbeMS, HoldMS: RefHoldMS, Table: r.Table, ValidFor: refValidFor}
	specs := []struct {
		dst  **Gateway
		spec GatewaySpec
	}{
		{&r.GWB, GatewaySpec{Name: "gw-b", NS: r.VPCB.Gateway, Overlay: VPCBGWMesh, SiteName: "vpc-b", CIDRs: []string{VPCBLAN},
			Exports: []ExportSpec{{Project: "beta", CIDR: VPCBLAN, Mapped: VPCBWire}}, Trust: r.Trust, Join: []string{VPCPublic + ":51820"},
			PublicEndpoint: VPCBPublic + ":51820", Relay: true, ValidFor: refValidFor}},
		{&r.GWA1, pair.Member("gw-a1", r.VPCA.Gateway, VPCGWMesh, VPCPublic, 200, ENIA1)},
		{&r.GWA2, pair.Member("gw-a2", a2, RefGWA2Mesh, GWA2Public, 100, ENIA2)},
		{&r.GWC, GatewaySpec{Name: "gw-c", NS: r.VPCC.Gateway, Overlay: RefGWCMesh, SiteName: "vpc-c", CIDRs: []string{RefVPCCLAN},
			Exports: []ExportSpec{{Project: "alpha", CIDR: RefVPCCLAN}}, Trust: r.Trust, Join: join, ValidFor: refValidFor}},
		{&r.OfficeGW, office},
	}
	for _, s := range specs {
		if *s.dst, err = NewGateway(l, bin, s.spec); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// addSites builds the four sites and their hosts.
func (r *Reference) addSites(l *lab.Lab) error {
	var err error
	// The office router sends VPC-A's real network (VPC-B's lies inside),
	// the mapped pool and VPC-C to office-gw; VPC-B and VPC-C send the
	// office to their gateways; VPC-A's route table does it for VPC-A.
	sites := []struct {
		dst  **lab.Site
		spec lab.SiteSpec
	}{
		{&r.Office, lab.SiteSpec{Name: "office", NAT: lab.NATMasquerade, PublicIP: OfficePublic, LAN: OfficeLAN,
			Hosts:      map[string]string{"pc-a": PCA, "pc-b": PCB, "pc-x": PCX},
			MeshRoutes: []string{VPCLAN, "100.100.0.0/16", RefVPCCLAN}}},
		{&r.VPCA, lab.SiteSpec{Name: "vpca", NAT: lab.NATOneToOne, PublicIP: VPCPublic, LAN: VPCLAN,
			Hosts: map[string]string{"host-a": HostA}}},
		{&r.VPCB, lab.SiteSpec{Name: "vpcb", NAT: lab.NATOneToOne, PublicIP: VPCBPublic, LAN: VPCBLAN,
			Hosts: map[string]string{"host-b": HostB}, MeshRoutes: []string{OfficeLAN}}},
		{&r.VPCC, lab.SiteSpec{Name: "vpcc", NAT: lab.NATRandom, PublicIP: RefVPCCPublic, LAN: RefVPCCLAN,
			Hosts: map[string]string{"host-c": HostC}, MeshRoutes: []string{OfficeLAN}}},
	}
	for _, s := range sites {
		if *s.dst, err = l.AddSite(s.spec); err != nil {
			return err
		}
	}
	r.PCA, r.PCB, r.PCX = r.Office.Hosts["pc-a"], r.Office.Hosts["pc-b"], r.Office.Hosts["pc-x"]
	r.HostA, r.HostB, r.HostC = r.VPCA.Hosts["host-a"], r.VPCB.Hosts["host-b"], r.VPCC.Hosts["host-c"]
	return nil
}

// Gateways are the five gateways in the order Start runs them.
func (r *Reference) Gateways() []*Gateway {
	return []*Gateway{r.GWB, r.GWA1, r.GWA2, r.GWC, r.OfficeGW}
}

// Start runs the gateways, gw-b first (the others join it), and waits
// until VPC-A's route table sends pc-a to gw-a1 and the VPC router
// follows.
func (r *Reference) Start(ctx context.Context) error {
	for _, g := range r.Gateways() {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	if err := r.Table.WaitTarget(ctx, PCA+"/32", ENIA1, 20*time.Second); err != nil {
		return err
	}
	// Every VPC known to the office: a check of isolation before that
	// would pass for the wrong reason, or fail for it.
	return lab.Eventually(ctx, 20*time.Second, func() error {
		st, err := r.OfficeGW.Status(ctx)
		if err != nil {
			return err
		}
		for _, p := range []string{VPCAWire, VPCBWire, RefVPCCLAN} {
			if !slices.Contains(st.Routes, p) {
				return fmt.Errorf("office-gw has no route for %s yet", p)
			}
		}
		return nil
	})
}

// Close stops VPC-A's EC2 stand-in.
func (r *Reference) Close() { r.Table.Close() }

// PeerOf is g's status of its peer named peer.
func PeerOf(ctx context.Context, g *Gateway, peer string) (mesh.PeerStatus, error) {
	st, err := g.Status(ctx)
	if err != nil {
		return mesh.PeerStatus{}, err
	}
	for _, p := range st.Peers {
		if p.Name == peer {
			return p, nil
		}
	}
	return mesh.PeerStatus{}, fmt.Errorf("%s has no peer %s", g.Name, peer)
}

// WaitRelayed waits until a and b both show their tunnel to the other as
// relayed via relay, and returns a's view and b's.
func WaitRelayed(ctx context.Context, a, b *Gateway, relay string, timeout time.Duration) (ab, ba mesh.PeerStatus, err error) {
	err = lab.Eventually(ctx, timeout, func() error {
		var err error
		if ab, err = PeerOf(ctx, a, b.Name); err != nil {
			return err
		}
		if ba, err = PeerOf(ctx, b, a.Name); err != nil {
			return err
		}
		if ab.Path != mesh.PathRelayed || ab.Via != relay || ba.Path != mesh.PathRelayed || ba.Via != relay {
			return fmt.Errorf("%s → %s %s, %s → %s %s; want relayed via %s", a.Name, b.Name, PathCell(ab), b.Name, a.Name, PathCell(ba), relay)
		}
		return nil
	})
	return ab, ba, err
}
