package scenario

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

// The HA case (DESIGN §5, §7): VPC A served by gw-a1 (priority 200) and
// gw-a2 (100), each with its own elastic IP, and an office behind
// masquerade NAT. The VPC's route table lives in the EC2 stand-in, served
// on the VPC router's LAN address to both gateways, and the VPC router
// follows it: what the table says is where the VPC's packets go.
const (
	GWA1       = "10.0.0.2"
	GWA2       = "10.0.0.3"
	GWA2Public = "203.0.113.23"
	RouteTable = "rtb-0a0a0a0a0a0a0a0a0"
	ENIA1      = "eni-0a1a1a1a1a1a1a1a1"
	ENIA2      = "eni-0a2a2a2a2a2a2a2a2"
)

// HA is the built HA case.
type HA struct {
	Trust           *Trust
	Office, VPC     *lab.Site
	OfficeGW        *Gateway
	GWA1, GWA2      *Gateway
	PC, Host        *lab.NS
	API             *ec2test.Server
	eniIP           map[string]string
	imds1, imds2    *ec2test.IMDS
	routerFollowErr error
}

// BuildHA builds the case and writes the configs; Start runs it. Probing
// is fast (probeMS, 3 misses) and the hold-down holdMS, for the tests;
// probeTarget, when set, is VPC A's probe_target on both gateways.
func BuildHA(l *lab.Lab, bin string, probeMS, holdMS int, probeTarget string) (*HA, error) {
	trust, err := NewTrust(l, bin, "lab")
	if err != nil {
		return nil, err
	}
	h := &HA{Trust: trust, eniIP: map[string]string{ENIA1: GWA1, ENIA2: GWA2}}
	if h.Office, err = l.AddSite(lab.SiteSpec{Name: "office", NAT: lab.NATMasquerade, PublicIP: OfficePublic,
		LAN: OfficeLAN, Hosts: map[string]string{"pc-a": PCA}, MeshRoutes: []string{VPCLAN}}); err != nil {
		return nil, err
	}
	// No mesh route on the VPC router: the route table puts it there.
	if h.VPC, err = l.AddSite(lab.SiteSpec{Name: "vpca", NAT: lab.NATOneToOne, PublicIP: VPCPublic, LAN: VPCLAN,
		Hosts: map[string]string{"host-a": HostA}}); err != nil {
		return nil, err
	}
	a2, err := l.AddGateway(h.VPC, "gw2", GWA2, GWA2Public)
	if err != nil {
		return nil, err
	}
	h.PC, h.Host = h.Office.Hosts["pc-a"], h.VPC.Hosts["host-a"]
	if err := h.startStandIns(a2); err != nil {
		return nil, err
	}
	probe := func(g *GatewaySpec) { g.ProbeIntervalMS, g.ProbeMisses, g.HoldDownMS = probeMS, 3, holdMS }
	office := GatewaySpec{Name: "office-gw", NS: h.Office.Gateway, Overlay: OfficeGWMesh, SiteName: "office",
		CIDRs: []string{OfficeLAN}, Exports: []ExportSpec{{Project: "lab", CIDR: OfficeLAN}},
		Trust: trust, Join: []string{VPCPublic + ":51820"}}
	probe(&office)
	vpc := func(name string, ns *lab.NS, overlay, public string, prio int, imds *ec2test.IMDS) GatewaySpec {
		g := GatewaySpec{Name: name, NS: ns, Overlay: overlay, SiteName: "vpc-a", CIDRs: []string{VPCLAN},
			Exports: []ExportSpec{{Project: "lab", CIDR: VPCLAN}}, Trust: trust, Priority: prio, ProbeTarget: probeTarget,
			Join: []string{VPCPublic + ":51820"}, PublicEndpoint: public + ":51820",
			EC2: &EC2Spec{Mode: "on", Endpoint: h.API.URL, IMDSEndpoint: imds.URL, RouteTables: []string{RouteTable}},
			Env: []string{"AWS_ACCESS_KEY_ID=AKIDLAB", "AWS_SECRET_ACCESS_KEY=lab-secret"}}
		probe(&g)
		return g
	}
	if h.OfficeGW, err = NewGateway(l, bin, office); err != nil {
		return nil, err
	}
	if h.GWA1, err = NewGateway(l, bin, vpc("gw-a1", h.VPC.Gateway, VPCGWMesh, VPCPublic, 200, h.imds1)); err != nil {
		return nil, err
	}
	if h.GWA2, err = NewGateway(l, bin, vpc("gw-a2", a2, VPCBGWMesh, GWA2Public, 100, h.imds2)); err != nil {
		return nil, err
	}
	return h, nil
}

// startStandIns serves the EC2 API on the VPC router's LAN address (both
// gateways reach it) and one IMDS per gateway on its own loopback, and
// makes the VPC router follow the route table.
func (h *HA) startStandIns(a2 *lab.NS) error {
	listen := func(ns *lab.NS, addr string) (ln net.Listener, err error) {
		err = ns.Do(func() error {
			ln, err = net.Listen("tcp", addr)
			return err
		})
		return ln, err
	}
	apiLn, err := listen(h.VPC.Router, netip.AddrPortFrom(h.VPC.LAN.Addr().Next(), 0).String())
	if err != nil {
		return err
	}
	h.API = ec2test.NewServerOn(apiLn)
	h.API.AddENI(ENIA1, true)
	h.API.AddENI(ENIA2, true)
	h.API.AddTable(ec2test.Table{ID: RouteTable, VPC: "vpc-0a0a0a0a", Main: true,
		Routes: []ec2test.Route{{Dst: VPCLAN, Gateway: "local"}}})
	h.API.OnRoutes(h.follow)
	for _, im := range []struct {
		ns  *lab.NS
		dst **ec2test.IMDS
		id  string
		eni string
	}{{h.VPC.Gateway, &h.imds1, "i-0a1", ENIA1}, {a2, &h.imds2, "i-0a2", ENIA2}} {
		ln, err := listen(im.ns, "127.0.0.1:0")
		if err != nil {
			return err
		}
		*im.dst = ec2test.NewIMDSOn(ln, im.id, "eu-west-1", "02:00:00:00:00:0"+im.id[len(im.id)-1:], im.eni, "vpc-0a0a0a0a", "subnet-0a0a0a0a")
	}
	return nil
}

// follow is the VPC router doing what the route table says.
func (h *HA) follow(_ string, routes []ec2test.Route) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range routes {
		if ip, ok := h.eniIP[r.ENI]; ok {
			if _, err := h.VPC.Router.Exec(ctx, "ip", "route", "replace", r.Dst, "via", ip); err != nil {
				h.routerFollowErr = err
			}
		}
	}
}

// Close stops the stand-ins.
func (h *HA) Close() {
	h.API.Close()
	h.imds1.Close()
	h.imds2.Close()
}

// Start runs gw-a1, gw-a2, then the office gateway, and waits until the
// VPC router sends the office LAN to gw-a1.
func (h *HA) Start(ctx context.Context) error {
	for _, g := range []*Gateway{h.GWA1, h.GWA2, h.OfficeGW} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	return lab.Eventually(ctx, 15*time.Second, func() error {
		if got := h.RouteTarget(OfficeLAN); got != ENIA1 {
			return fmt.Errorf("route table sends %s to %q, want %s (gw-a1)", OfficeLAN, got, ENIA1)
		}
		return h.routerFollowErr
	})
}

// RouteTarget is where the VPC route table sends dst.
func (h *HA) RouteTarget(dst string) string {
	for _, r := range h.API.Routes(RouteTable) {
		if r.Dst == dst {
			return r.Target()
		}
	}
	return ""
}
