package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// The LAN HA case (docs/guides/ha.md, HA on a LAN): the office LAN is
// served by office-gw1 (priority 200, .2) and office-gw2 (100, .3), both
// behind the office's masquerading router, which hold the floating address
// .254 between them. The office router's static route for the VPC points at
// .254, as a LAN router's would. The remote VPC is in the internet's other
// segment, so the path between the sites is routed by inet and a delay
// element can sit on it. Probing and hold-down are the defaults.
const (
	LANVirtual    = "192.168.0.254"
	OfficeGW2     = "192.168.0.3"
	OfficeGWMesh2 = "100.96.0.3"
	RemotePublic  = "198.51.100.20"
)

// LANHA is the built case.
type LANHA struct {
	Trust            *Trust
	Office, VPC      *lab.Site
	GW1, GW2, Remote *Gateway
	PC, Host         *lab.NS
}

// BuildLANHA builds the case and writes the configs; Start runs it.
func BuildLANHA(l *lab.Lab, bin string) (*LANHA, error) {
	trust, err := NewTrust(l, bin, "lab")
	if err != nil {
		return nil, err
	}
	h := &LANHA{Trust: trust}
	if h.Office, err = Office(l); err != nil {
		return nil, err
	}
	if err := h.Office.Router.Route(VPCLAN, LANVirtual); err != nil {
		return nil, err
	}
	if h.VPC, err = l.AddSite(lab.SiteSpec{Name: "vpca", NAT: lab.NATOneToOne, PublicIP: RemotePublic, LAN: VPCLAN,
		Hosts: map[string]string{"host-a": HostA}, MeshRoutes: []string{OfficeLAN}}); err != nil {
		return nil, err
	}
	gw2, err := l.AddGateway(h.Office, "gw2", OfficeGW2, "")
	if err != nil {
		return nil, err
	}
	h.PC, h.Host = h.Office.Hosts["pc-a"], h.VPC.Hosts["host-a"]
	join := []string{RemotePublic + ":51820"}
	member := func(name string, ns *lab.NS, overlay string, prio int) GatewaySpec {
		return GatewaySpec{Name: name, NS: ns, Overlay: overlay, SiteName: "office", CIDRs: []string{OfficeLAN},
			Exports: []ExportSpec{{Project: "lab", CIDR: OfficeLAN}}, Priority: prio, VirtualAddress: LANVirtual,
			Trust: trust, Join: join}
	}
	if h.GW1, err = NewGateway(l, bin, member("office-gw1", h.Office.Gateway, OfficeGWMesh, 200)); err != nil {
		return nil, err
	}
	if h.GW2, err = NewGateway(l, bin, member("office-gw2", gw2, OfficeGWMesh2, 100)); err != nil {
		return nil, err
	}
	h.Remote, err = NewGateway(l, bin, GatewaySpec{Name: "vpc-gw", NS: h.VPC.Gateway, Overlay: VPCGWMesh, SiteName: "vpc-a",
		CIDRs: []string{VPCLAN}, Exports: []ExportSpec{{Project: "lab", CIDR: VPCLAN}}, Trust: trust,
		PublicEndpoint: RemotePublic + ":51820", Join: join})
	return h, err
}

// Start runs the remote gateway, then both office members, and waits
// until office-gw1 holds the virtual address (after its start's hold-down)
// and pc-a reaches host-a through it.
func (h *LANHA) Start(ctx context.Context) error {
	for _, g := range []*Gateway{h.Remote, h.GW1, h.GW2} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	if err := h.WaitHolder(ctx, h.GW1, 30*time.Second); err != nil {
		return err
	}
	return lab.Eventually(ctx, 15*time.Second, func() error { return h.PC.Ping(ctx, HostA) })
}

// Holder is the member whose LAN interface holds the virtual address, or
// nil; both holding it is an error.
func (h *LANHA) Holder() (*Gateway, error) {
	var holder *Gateway
	for _, g := range []*Gateway{h.GW1, h.GW2} {
		if g.NS.HasAddr("lan", LANVirtual) {
			if holder != nil {
				return nil, fmt.Errorf("both %s and %s hold %s", holder.Name, g.Name, LANVirtual)
			}
			holder = g
		}
	}
	return holder, nil
}

// WaitHolder waits until g alone holds the virtual address and the office
// router's neighbour entry for it names g's MAC.
func (h *LANHA) WaitHolder(ctx context.Context, g *Gateway, timeout time.Duration) error {
	mac, err := g.NS.MAC("lan")
	if err != nil {
		return err
	}
	return lab.Eventually(ctx, timeout, func() error {
		holder, err := h.Holder()
		switch {
		case err != nil:
			return err
		case holder != g:
			return fmt.Errorf("%s does not hold %s (holder %v)", g.Name, LANVirtual, holder)
		}
		got, state, err := h.Office.Router.Neighbour(ctx, LANVirtual)
		if err != nil {
			return err
		}
		if got == "" {
			// No entry yet: the router learns one when it first sends
			// there. An entry naming another MAC is left alone: only the
			// holder's announcement may change it.
			h.Office.Router.Exec(ctx, "ping", "-c", "1", "-W", "0.2", LANVirtual)
		}
		if got != mac {
			return fmt.Errorf("office router's neighbour entry for %s is %q (%s), want %s's %s", LANVirtual, got, state, g.Name, mac)
		}
		return nil
	})
}
