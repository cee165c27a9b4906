package scenario

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// The names case (docs/guides/names.md): the overlapping VPCs of the
// projects case, in gossip mode, each with a DNS server of its own
// (dnsmasq) at .53 that answers db.corp.internal with 10.0.0.20 and
// big.corp.internal with BigRecords addresses, too many for 512 bytes. The
// office gateway answers its members on its LAN address: pc-a (alpha, wire
// addresses), pc-b (beta), pc-t (alpha, transparent) and pc-x (no
// project).
const (
	SiteDNS    = "10.0.0.53"
	PCT        = "192.168.0.53"
	OfficeDNS  = "192.168.0.2"
	DBName     = "db.corp.internal"
	BigName    = "big.corp.internal"
	BigRecords = 40
)

// Names is the built case.
type Names struct {
	Trust                    *Trust
	Office, VPCA, VPCB       *lab.Site
	OfficeGW, GWA, GWB       *Gateway
	PCA, PCB, PCT, PCX       *lab.NS
	HostA, HostB, DNSA, DNSB *lab.NS
}

// BuildNames builds the case and writes the configs; Start runs it.
func BuildNames(l *lab.Lab, bin string) (*Names, error) {
	trust, err := NewTrust(l, bin, "lab")
	if err != nil {
		return nil, err
	}
	n := &Names{Trust: trust}
	if n.Office, err = l.AddSite(lab.SiteSpec{Name: "office", NAT: lab.NATMasquerade, PublicIP: OfficePublic, LAN: OfficeLAN,
		Hosts:      map[string]string{"pc-a": PCA, "pc-b": PCB, "pc-t": PCT, "pc-x": PCX},
		MeshRoutes: []string{VPCAWire, VPCBWire, VPCLAN}}); err != nil {
		return nil, err
	}
	if n.VPCA, err = l.AddSite(lab.SiteSpec{Name: "vpca", NAT: lab.NATOneToOne, PublicIP: VPCPublic, LAN: VPCLAN,
		Hosts: map[string]string{"host-a": HostA, "dns-a": SiteDNS}, MeshRoutes: []string{OfficeLAN}}); err != nil {
		return nil, err
	}
	if n.VPCB, err = l.AddSite(lab.SiteSpec{Name: "vpcb", NAT: lab.NATOneToOne, PublicIP: VPCBPublic, LAN: VPCBLAN,
		Hosts: map[string]string{"host-b": HostB, "dns-b": SiteDNS}, MeshRoutes: []string{OfficeLAN}}); err != nil {
		return nil, err
	}
	h := n.Office.Hosts
	n.PCA, n.PCB, n.PCT, n.PCX = h["pc-a"], h["pc-b"], h["pc-t"], h["pc-x"]
	n.HostA, n.DNSA = n.VPCA.Hosts["host-a"], n.VPCA.Hosts["dns-a"]
	n.HostB, n.DNSB = n.VPCB.Hosts["host-b"], n.VPCB.Hosts["dns-b"]
	join := []string{VPCPublic + ":51820"}
	zones := []string{"corp.internal"}
	specs := []struct {
		dst  **Gateway
		spec GatewaySpec
	}{
		{&n.GWA, GatewaySpec{Name: "gw-a", NS: n.VPCA.Gateway, Overlay: VPCGWMesh, SiteName: "vpc-a", CIDRs: []string{VPCLAN},
			Exports: []ExportSpec{{Project: "alpha", CIDR: VPCLAN, Mapped: VPCAWire, Zones: zones}}, Resolver: SiteDNS,
			Trust: trust, Join: join, PublicEndpoint: VPCPublic + ":51820"}},
		{&n.GWB, GatewaySpec{Name: "gw-b", NS: n.VPCB.Gateway, Overlay: VPCBGWMesh, SiteName: "vpc-b", CIDRs: []string{VPCBLAN},
			Exports: []ExportSpec{{Project: "beta", CIDR: VPCBLAN, Mapped: VPCBWire, Zones: zones}}, Resolver: SiteDNS,
			Trust: trust, Join: join, PublicEndpoint: VPCBPublic + ":51820"}},
		{&n.OfficeGW, GatewaySpec{Name: "office-gw", NS: n.Office.Gateway, Overlay: OfficeGWMesh, SiteName: "office",
			CIDRs: []string{OfficeLAN}, Trust: trust, Join: join, DNSListen: []string{OfficeDNS + ":53"},
			Members: []MemberSpec{{Project: "alpha", Sources: []string{PCA + "/32"}}, {Project: "beta", Sources: []string{PCB + "/32"}},
				{Project: "alpha", Sources: []string{PCT + "/32"}, Transparent: true}}}},
	}
	for _, s := range specs {
		if *s.dst, err = NewGateway(l, bin, s.spec); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Start runs each VPC's DNS server and the gateways, and waits until pc-a
// and pc-b reach their VPCs' hosts by wire address.
func (n *Names) Start(ctx context.Context) error {
	args := []string{"dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
		"--listen-address=" + SiteDNS, "--bind-interfaces", "--local-ttl=60", "--local=/corp.internal/", "--host-record=" + DBName + "," + HostA}
	for i := range BigRecords {
		args = append(args, "--host-record="+BigName+",10.0.0."+strconv.Itoa(100+i))
	}
	for _, ns := range []*lab.NS{n.DNSA, n.DNSB} {
		p, err := ns.Start("dnsmasq", args...)
		if err != nil {
			return err
		}
		if err := lab.Eventually(ctx, 5*time.Second, func() error {
			if p.Exited() {
				return fmt.Errorf("dnsmasq exited:\n%s", p.Log())
			}
			_, err := ns.Exec(ctx, "dig", "+short", "+time=1", "+tries=1", "@"+SiteDNS, DBName)
			return err
		}); err != nil {
			return err
		}
	}
	for _, g := range []*Gateway{n.GWA, n.GWB, n.OfficeGW} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	return lab.Eventually(ctx, 20*time.Second, func() error {
		if err := n.PCA.Ping(ctx, HostAWire); err != nil {
			return err
		}
		return n.PCB.Ping(ctx, HostBWire)
	})
}
