package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// The reference addresses (docs/ARCHITECTURE.md, The lab).
const (
	OfficePublic = "203.0.113.10"
	VPCPublic    = "203.0.113.20"
	BranchPublic = "203.0.113.30"
	OfficeLAN    = "192.168.0.0/24"
	VPCLAN       = "10.0.0.0/24"
	BranchLAN    = "172.16.5.0/24"
	PCA          = "192.168.0.50"
	HostA        = "10.0.0.20"
	BranchHost   = "172.16.5.20"
	OfficeGWMesh = "100.96.0.1"
	VPCGWMesh    = "100.96.0.2"
	BranchMesh   = "100.96.0.9"
)

// Office is an office LAN behind a masquerading router, with pc-a on it.
func Office(l *lab.Lab, meshRoutes ...string) (*lab.Site, error) {
	return l.AddSite(lab.SiteSpec{
		Name: "office", NAT: lab.NATMasquerade, PublicIP: OfficePublic, LAN: OfficeLAN,
		Hosts: map[string]string{"pc-a": PCA}, MeshRoutes: meshRoutes,
	})
}

// VPC is a VPC whose gateway has a 1:1 public IP, with host-a in it.
func VPC(l *lab.Lab, meshRoutes ...string) (*lab.Site, error) {
	return l.AddSite(lab.SiteSpec{
		Name: "vpca", NAT: lab.NATOneToOne, PublicIP: VPCPublic, LAN: VPCLAN,
		Hosts: map[string]string{"host-a": HostA}, MeshRoutes: meshRoutes,
	})
}

// TwoSites is the walking-skeleton topology: an office behind masquerade
// NAT and a VPC behind 1:1 NAT, linked by two vpcmesh gateways with static
// peers. The office gateway dials out; the VPC gateway learns its endpoint.
type TwoSites struct {
	Office, VPC       *lab.Site
	OfficeGW, VPCGW   *Gateway
	PC, Host          *lab.NS
	OfficeGWIP, VPCIP string
}

// BuildTwoSites builds the topology and writes both configs; StartAll runs
// the gateways.
func BuildTwoSites(l *lab.Lab, bin string) (*TwoSites, error) {
	office, err := Office(l, VPCLAN)
	if err != nil {
		return nil, err
	}
	vpc, err := VPC(l, OfficeLAN)
	if err != nil {
		return nil, err
	}
	t := &TwoSites{Office: office, VPC: vpc, PC: office.Hosts["pc-a"], Host: vpc.Hosts["host-a"]}
	t.OfficeGW, err = NewGateway(l, bin, GatewaySpec{Name: "office-gw", NS: office.Gateway,
		Overlay: OfficeGWMesh, SiteName: "office", CIDRs: []string{OfficeLAN}})
	if err != nil {
		return nil, err
	}
	t.VPCGW, err = NewGateway(l, bin, GatewaySpec{Name: "vpc-gw", NS: vpc.Gateway,
		Overlay: VPCGWMesh, SiteName: "vpc-a", CIDRs: []string{VPCLAN}})
	if err != nil {
		return nil, err
	}
	t.OfficeGW.Peers = []PeerSpec{{Name: "vpc-gw", PublicKey: t.VPCGW.PublicKey,
		Endpoint: VPCPublic + ":51820", Prefixes: []string{VPCLAN, VPCGWMesh + "/32"}}}
	t.VPCGW.Peers = []PeerSpec{{Name: "office-gw", PublicKey: t.OfficeGW.PublicKey,
		Prefixes: []string{OfficeLAN, OfficeGWMesh + "/32"}}}
	return t, writeConfigs(t.OfficeGW, t.VPCGW)
}

func writeConfigs(gws ...*Gateway) error {
	for _, g := range gws {
		if err := g.WriteConfig(); err != nil {
			return err
		}
	}
	return nil
}

// StartAll starts both gateways and waits for their handshake.
func (t *TwoSites) StartAll(ctx context.Context) error {
	for _, g := range []*Gateway{t.VPCGW, t.OfficeGW} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	if err := t.OfficeGW.PeerUp(ctx, "vpc-gw", 10*time.Second); err != nil {
		return fmt.Errorf("%w\noffice-gw log:\n%s", err, t.OfficeGW.Log())
	}
	return nil
}
