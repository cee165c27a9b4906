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

// configs/examples/static-wireguard-site.toml says that only the HQ
// servers' subnet may use the branch's routes: it exports that subnet alone
// to project "branches", and the branch is a static peer of that project.
// Built as the example is, a server reaches the branch host both ways, and
// another HQ host, outside the export, reaches it neither way.
//
//	branch-h 172.16.5.20 ─ branch wg ─ inet ─ HQ edge (1:1) ─ hq-gw ─ server 10.0.0.20 (in 10.0.0.16/28), desk 10.0.0.50
func TestStaticSiteExampleClaim(t *testing.T) {
	l, ctx := newLab(t)
	wgBin, err := lab.FindReferenceWireGuard()
	must(t, err)
	hq, err := l.AddSite(lab.SiteSpec{Name: "hq", NAT: lab.NATOneToOne, PublicIP: scenario.VPCPublic, LAN: scenario.VPCLAN,
		Hosts: map[string]string{"server": scenario.HostA, "desk": "10.0.0.50"}, MeshRoutes: []string{scenario.BranchLAN}})
	must(t, err)
	branch, err := l.AddSite(lab.SiteSpec{Name: "branch", NAT: lab.NATNone, PublicIP: scenario.BranchPublic,
		LAN: scenario.BranchLAN, Hosts: map[string]string{"branch-h": scenario.BranchHost}})
	must(t, err)
	must(t, branch.Gateway.Forwarding(true))

	branchPriv, branchPub, err := lab.GenKey()
	must(t, err)
	const servers = "10.0.0.16/28"
	gw, err := scenario.NewGateway(l, vpcmeshBin, scenario.GatewaySpec{
		Name: "hq-gw", NS: hq.Gateway, Overlay: scenario.VPCGWMesh, SiteName: "hq", CIDRs: []string{scenario.VPCLAN},
		Exports: []scenario.ExportSpec{{Project: "branches", CIDR: servers}},
		Peers: []scenario.PeerSpec{{Name: "branch-1", PublicKey: branchPub, Endpoint: scenario.BranchPublic + ":51820",
			Prefixes: []string{scenario.BranchLAN}, Project: "branches"}},
	})
	must(t, err)
	must(t, gw.Start(ctx))
	ref, err := branch.Gateway.StartReferenceWireGuard(wgBin, "wg"+l.ID, branchPriv, 51820, scenario.BranchMesh+"/32")
	must(t, err)
	// The branch router routes the whole HQ network into its tunnel, as
	// the example's comment tells it to route only the servers: hq-gw
	// alone must keep the desk out.
	must(t, ref.AddPeer(ctx, gw.PublicKey, scenario.VPCPublic+":51820", []string{scenario.VPCLAN}, 25))

	server, desk, bh := hq.Hosts["server"], hq.Hosts["desk"], branch.Hosts["branch-h"]
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return server.Ping(ctx, scenario.BranchHost) }))
	must(t, bh.Ping(ctx, scenario.HostA))
	if err := desk.PingWithin(ctx, scenario.BranchHost, 500*time.Millisecond); err == nil {
		t.Error("the HQ desk, outside the export, reached the branch host")
	}
	if err := bh.PingWithin(ctx, "10.0.0.50", 500*time.Millisecond); err == nil {
		t.Error("the branch host reached the HQ desk, outside the export")
	}
	// The desk's packets find only the "unreachable" table (it is a
	// member of nothing); the branch's to the desk reach the packet path,
	// whose ACL drops them.
	st, err := gw.Status(ctx)
	must(t, err)
	if st.Packets.Inbound.DroppedACL == 0 {
		t.Errorf("hq-gw counted no inbound ACL drop: %+v", st.Packets)
	}
}
