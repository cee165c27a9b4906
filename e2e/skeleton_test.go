package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
	"github.com/vpcmesh/vpcmesh/mesh"
)

// Topology (docs/ARCHITECTURE.md, The lab: the first two sites):
//
//	pc-a 192.168.0.50 ─ office router (masquerade, 203.0.113.10) ─┐
//	office-gw 192.168.0.2 ┘                                        inet 203.0.113.0/24
//	host-a 10.0.0.20 ─ VPC edge (1:1 203.0.113.20 ↔ 10.0.0.2) ────┘
//	vpc-gw 10.0.0.2 ┘
//
// Each site router routes the other site's CIDR to its gateway, as an office
// router's static route or a VPC route table entry would.
func TestOfficeReachesVPCThroughNAT(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	start := time.Now()
	must(t, ts.StartAll(ctx))
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))
	t.Logf("start to first ping: %v", time.Since(start).Round(time.Millisecond))
	must(t, ts.Host.Ping(ctx, scenario.PCA))

	transfer(t, ctx, ts.PC, ts.Host, scenario.HostA, scenario.PCA)
	transfer(t, ctx, ts.Host, ts.PC, scenario.PCA, scenario.HostA)

	// The office gateway dialled the VPC's public address; the VPC gateway
	// saw it come from the office router's public address (masquerade).
	office := peerOf(t, ctx, ts.OfficeGW, "vpc-gw")
	if office.Endpoint != scenario.VPCPublic+":51820" || office.RxBytes == 0 || office.TxBytes == 0 {
		t.Errorf("office-gw's view of vpc-gw: %+v", office)
	}
	vpc := peerOf(t, ctx, ts.VPCGW, "office-gw")
	if ap, err := netip.ParseAddrPort(vpc.Endpoint); err != nil || ap.Addr().String() != scenario.OfficePublic {
		t.Errorf("vpc-gw sees office-gw at %q, want %s:*", vpc.Endpoint, scenario.OfficePublic)
	}
	if !slices.Equal(vpc.Prefixes, []string{scenario.OfficeLAN, scenario.OfficeGWMesh + "/32"}) {
		t.Errorf("vpc-gw's prefixes for office-gw: %v", vpc.Prefixes)
	}
}

// A route deleted by hand is put back by the gateway at once.
func TestDeletedRouteComesBack(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	must(t, ts.StartAll(ctx))
	gw := ts.Office.Gateway
	_, err = gw.Exec(ctx, "ip", "route", "del", scenario.VPCLAN)
	must(t, err)
	deleted := time.Now()
	must(t, lab.Eventually(ctx, 5*time.Second, func() error {
		out, err := gw.Exec(ctx, "ip", "route", "show", scenario.VPCLAN, "proto", "118")
		if err == nil && !strings.Contains(out, scenario.VPCLAN) {
			err = fmt.Errorf("route %s not back", scenario.VPCLAN)
		}
		return err
	}))
	t.Logf("route back after %v", time.Since(deleted).Round(time.Millisecond))
	must(t, lab.Eventually(ctx, 5*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))
}

// transfer sends 4 MiB from one namespace to another and checks the
// content and the source address the receiver saw.
func transfer(t *testing.T, ctx context.Context, from, to *lab.NS, toAddr, wantSource string) lab.TransferResult {
	t.Helper()
	res, err := from.TCPTransfer(ctx, to, toAddr, 4<<20)
	must(t, err)
	if src := res.RemoteAddr.Addr().String(); src != wantSource {
		t.Errorf("%s saw the connection come from %s, want %s", to.Role, src, wantSource)
	}
	t.Logf("%s → %s: %d bytes in %v, sha256 matched", from.Role, to.Role, res.Bytes, res.Duration.Round(time.Millisecond))
	return res
}

func peerOf(t *testing.T, ctx context.Context, g *scenario.Gateway, name string) mesh.PeerStatus {
	t.Helper()
	st, err := g.Status(ctx)
	must(t, err)
	for _, p := range st.Peers {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("%s has no peer %s: %+v", g.Name, name, st.Peers)
	return mesh.PeerStatus{}
}
