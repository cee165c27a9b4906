package e2e

import (
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// A branch that runs plain WireGuard (the reference wireguard-go, set up
// with the wg tool, no vpcmesh) is linked to a vpcmesh VPC gateway as a
// static peer:
//
//	branch-h 172.16.5.20 ─ branch wg (public 203.0.113.30, LAN .1) ─ inet ─ VPC edge (1:1) ─ vpc-gw ─ host-a 10.0.0.20
func TestPlainWireGuardSiteAsStaticPeer(t *testing.T) {
	l, ctx := newLab(t)
	wgBin, err := lab.FindReferenceWireGuard()
	must(t, err)
	vpc, err := scenario.VPC(l, scenario.BranchLAN)
	must(t, err)
	branch, err := l.AddSite(lab.SiteSpec{Name: "branch", NAT: lab.NATNone, PublicIP: scenario.BranchPublic,
		LAN: scenario.BranchLAN, Hosts: map[string]string{"branch-h": scenario.BranchHost}})
	must(t, err)
	must(t, branch.Gateway.Forwarding(true))

	branchPriv, branchPub, err := lab.GenKey()
	must(t, err)
	vpcgw, err := scenario.NewGateway(l, vpcmeshBin, scenario.GatewaySpec{
		Name: "vpc-gw", NS: vpc.Gateway, Overlay: scenario.VPCGWMesh, SiteName: "vpc-a", CIDRs: []string{scenario.VPCLAN},
		Peers: []scenario.PeerSpec{{Name: "branch", PublicKey: branchPub, Endpoint: scenario.BranchPublic + ":51820",
			Prefixes: []string{scenario.BranchLAN, scenario.BranchMesh + "/32"}}},
	})
	must(t, err)
	must(t, vpcgw.Start(ctx))

	ref, err := branch.Gateway.StartReferenceWireGuard(wgBin, "wg"+l.ID, branchPriv, 51820, scenario.BranchMesh+"/32")
	must(t, err)
	must(t, ref.AddPeer(ctx, vpcgw.PublicKey, scenario.VPCPublic+":51820",
		[]string{scenario.VPCLAN, scenario.VPCGWMesh + "/32"}, 25))

	host, bh := vpc.Hosts["host-a"], branch.Hosts["branch-h"]
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return bh.Ping(ctx, scenario.HostA) }))
	must(t, host.Ping(ctx, scenario.BranchHost))
	transfer(t, ctx, bh, host, scenario.HostA, scenario.BranchHost)
	transfer(t, ctx, host, bh, scenario.BranchHost, scenario.HostA)
	if p := peerOf(t, ctx, vpcgw, "branch"); p.HandshakeAge == nil || p.RxBytes == 0 {
		t.Errorf("vpc-gw's view of the plain WireGuard branch: %+v", p)
	}
}
