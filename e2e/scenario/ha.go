package scenario

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

// The HA case (docs/ARCHITECTURE.md, Health, The lab; docs/guides/ha.md): VPC
// A served by gw-a1 (priority 200) and gw-a2 (100), each with its own elastic
// IP, and an office behind masquerade NAT. The VPC's route table lives in the
// EC2 stand-in, served on the VPC router's LAN address to both gateways, and
// the VPC router follows it: what the table says is where the VPC's packets
// go.
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
	Trust       *Trust
	Office, VPC *lab.Site
	OfficeGW    *Gateway
	GWA1, GWA2  *Gateway
	PC, Host    *lab.NS
	API         *ec2test.Server
	table       *VPCRouteTable
}

// BuildHA builds the case and writes the configs; Start runs it. Probing
// is every probeMS with 3 misses and the hold-down holdMS (each 0: the
// default);
// probeTarget, when set, is VPC A's probe_target on both gateways.
func BuildHA(l *lab.Lab, bin string, probeMS, holdMS int, probeTarget string) (*HA, error) {
	trust, err := NewTrust(l, bin, "lab")
	if err != nil {
		return nil, err
	}
	h := &HA{Trust: trust}
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
	if h.table, err = NewVPCRouteTable(h.VPC, RouteTable, EC2Instance{h.VPC.Gateway, "i-0a1", ENIA1, GWA1},
		EC2Instance{a2, "i-0a2", ENIA2, GWA2}); err != nil {
		return nil, err
	}
	h.API = h.table.API
	office := GatewaySpec{Name: "office-gw", NS: h.Office.Gateway, Overlay: OfficeGWMesh, SiteName: "office",
		CIDRs: []string{OfficeLAN}, Exports: []ExportSpec{{Project: "lab", CIDR: OfficeLAN}},
		Trust: trust, Join: []string{VPCPublic + ":51820"}}
	FastProbes(&office, probeMS, holdMS)
	pair := HAPair{Site: "vpc-a", CIDRs: []string{VPCLAN}, Exports: []ExportSpec{{Project: "lab", CIDR: VPCLAN}},
		ProbeTarget: probeTarget, Trust: trust, Join: []string{VPCPublic + ":51820"}, ProbeMS: probeMS, HoldMS: holdMS, Table: h.table}
	if h.OfficeGW, err = NewGateway(l, bin, office); err != nil {
		return nil, err
	}
	if h.GWA1, err = NewGateway(l, bin, pair.Member("gw-a1", h.VPC.Gateway, VPCGWMesh, VPCPublic, 200, ENIA1)); err != nil {
		return nil, err
	}
	if h.GWA2, err = NewGateway(l, bin, pair.Member("gw-a2", a2, VPCBGWMesh, GWA2Public, 100, ENIA2)); err != nil {
		return nil, err
	}
	return h, nil
}

// FastProbes sets a gateway's health probing to every probeMS with 3
// misses, and its hold-down to holdMS (a 0 keeps the default).
func FastProbes(g *GatewaySpec, probeMS, holdMS int) {
	g.ProbeIntervalMS, g.ProbeMisses, g.HoldDownMS = probeMS, 3, holdMS
}

// HAPair is what the members of an HA group in a VPC with an EC2 route
// table share: the site, its exports, the trust and join, the probing.
type HAPair struct {
	Site        string
	CIDRs       []string
	Exports     []ExportSpec
	ProbeTarget string
	Trust       *Trust
	Join        []string
	ProbeMS     int
	HoldMS      int
	Table       *VPCRouteTable
	ValidFor    time.Duration // of the certificates; 0: a day
}

// Member is the spec of one member: an EC2 instance whose interface is
// eni, with a 1:1 public address and the site at priority prio.
func (p HAPair) Member(name string, ns *lab.NS, overlay, public string, prio int, eni string) GatewaySpec {
	g := GatewaySpec{Name: name, NS: ns, Overlay: overlay, SiteName: p.Site, CIDRs: p.CIDRs,
		Exports: p.Exports, Trust: p.Trust, Priority: prio, ProbeTarget: p.ProbeTarget,
		Join: p.Join, PublicEndpoint: public + ":51820", ValidFor: p.ValidFor}
	p.Table.Attach(&g, eni)
	FastProbes(&g, p.ProbeMS, p.HoldMS)
	return g
}

// VPCRouteTable is the EC2 stand-in of one VPC: the EC2 API with the VPC's
// main route table, served on the VPC router's LAN address (every gateway
// of the VPC reaches it), one IMDS per gateway instance on its own
// loopback, and the VPC router following the table.
type VPCRouteTable struct {
	API   *ec2test.Server
	Table string
	vpc   *lab.Site
	eniIP map[string]string // an instance's interface → its LAN address
	imds  map[string]*ec2test.IMDS

	mu        sync.Mutex
	followErr error
}

// EC2Instance is a gateway instance of a VPC: its namespace, instance ID,
// network interface and LAN address.
type EC2Instance struct {
	NS      *lab.NS
	ID, ENI string
	IP      string
}

// NewVPCRouteTable starts the stand-in for vpc, whose route table table
// holds only the local route.
func NewVPCRouteTable(vpc *lab.Site, table string, instances ...EC2Instance) (*VPCRouteTable, error) {
	t := &VPCRouteTable{Table: table, vpc: vpc, eniIP: map[string]string{}, imds: map[string]*ec2test.IMDS{}}
	listen := func(ns *lab.NS, addr string) (ln net.Listener, err error) {
		err = ns.Do(func() error {
			ln, err = net.Listen("tcp", addr)
			return err
		})
		return ln, err
	}
	apiLn, err := listen(vpc.Router, netip.AddrPortFrom(vpc.LAN.Addr().Next(), 0).String())
	if err != nil {
		return nil, err
	}
	t.API = ec2test.NewServerOn(apiLn)
	t.API.AddTable(ec2test.Table{ID: table, VPC: "vpc-0a0a0a0a", Main: true,
		Routes: []ec2test.Route{{Dst: vpc.LAN.String(), Gateway: "local"}}})
	t.API.OnRoutes(t.follow)
	for i, in := range instances {
		t.API.AddENI(in.ENI, true)
		t.eniIP[in.ENI] = in.IP
		ln, err := listen(in.NS, "127.0.0.1:0")
		if err != nil {
			t.Close()
			return nil, err
		}
		t.imds[in.ENI] = ec2test.NewIMDSOn(ln, in.ID, "eu-west-1", fmt.Sprintf("02:00:00:00:00:%02x", i+1), in.ENI,
			"vpc-0a0a0a0a", "subnet-0a0a0a0a")
	}
	return t, nil
}

// Attach gives the gateway of the instance with interface eni its [ec2]
// section (mode on, the stand-in's API and the instance's IMDS, this
// table) and the lab's credentials.
func (t *VPCRouteTable) Attach(g *GatewaySpec, eni string) {
	g.EC2 = &EC2Spec{Mode: "on", Endpoint: t.API.URL, IMDSEndpoint: t.imds[eni].URL, RouteTables: []string{t.Table}}
	g.Env = append(g.Env, "AWS_ACCESS_KEY_ID=AKIDLAB", "AWS_SECRET_ACCESS_KEY=lab-secret")
}

// follow is the VPC router doing what the route table says.
func (t *VPCRouteTable) follow(_ string, routes []ec2test.Route) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range routes {
		if ip, ok := t.eniIP[r.ENI]; ok {
			if _, err := t.vpc.Router.Exec(ctx, "ip", "route", "replace", r.Dst, "via", ip); err != nil {
				t.mu.Lock()
				t.followErr = err
				t.mu.Unlock()
			}
		}
	}
}

// FollowErr is the last error of the VPC router following the table.
func (t *VPCRouteTable) FollowErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.followErr
}

// Target is where the route table sends dst: an interface, "local", or ""
// when it has no route for it.
func (t *VPCRouteTable) Target(dst string) string {
	for _, r := range t.API.Routes(t.Table) {
		if r.Dst == dst {
			return r.Target()
		}
	}
	return ""
}

// WaitTarget waits until the route table sends dst to eni and the VPC
// router follows.
func (t *VPCRouteTable) WaitTarget(ctx context.Context, dst, eni string, timeout time.Duration) error {
	return lab.Eventually(ctx, timeout, func() error {
		if got := t.Target(dst); got != eni {
			return fmt.Errorf("route table sends %s to %q, want %s", dst, got, eni)
		}
		return t.FollowErr()
	})
}

// Close stops the API and the IMDSes.
func (t *VPCRouteTable) Close() {
	t.API.Close()
	for _, m := range t.imds {
		m.Close()
	}
}

// Close stops the stand-ins.
func (h *HA) Close() { h.table.Close() }

// Start runs gw-a1, gw-a2, then the office gateway, and waits until the
// VPC router sends the office LAN to gw-a1.
func (h *HA) Start(ctx context.Context) error {
	for _, g := range []*Gateway{h.GWA1, h.GWA2, h.OfficeGW} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	return h.table.WaitTarget(ctx, OfficeLAN, ENIA1, 15*time.Second)
}

// RouteTarget is where the VPC route table sends dst.
func (h *HA) RouteTarget(dst string) string { return h.table.Target(dst) }
