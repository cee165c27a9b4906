package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// An office gateway serves projects alpha and beta, whose VPCs overlap
// (10.0.0.0/24 and 10.0.0.0/25, a host at 10.0.0.20 in each). Members use
// the real VPC addresses (transparent = true): pc-a reaches alpha's host at
// 10.0.0.20 and pc-b beta's at the very same address; neither reaches the
// other's VPC, and pc-x, in no project, reaches nothing. On the gateway
// itself, unix user alice (alpha) reaches alpha's host from a shell; bob,
// in no project, cannot. Each VPC's gateway is signed by its project's
// authority, both granted the same real prefix 10.0.0.0/16 and wire
// prefixes of their own. Beta's wire prefix is not configured anywhere:
// mapped = "auto", allocated from beta's wire prefixes when its
// certificate was signed.
func TestTransparentProjectsAndUsers(t *testing.T) {
	const vpcbWire, hostBWire = "100.100.0.0/25", "100.100.0.20"
	l, ctx := newLab(t)
	alice, bob := unixUser(t, "alice-"+l.ID), unixUser(t, "bob-"+l.ID)
	trust, err := scenario.NewTrust(l, vpcmeshBin, "lab")
	must(t, err)
	alphaCA, err := trust.Authority(l, "lab", "alpha-ca", scenario.Grant{Projects: []string{"alpha"}, Prefixes: []string{"10.0.0.0/16"},
		Wires: []string{scenario.VPCAWire}, Names: []string{"vpca"}, Sites: []string{"vpca"}, Overlays: []string{"100.96.0.2/32"}})
	must(t, err)
	betaCA, err := trust.Authority(l, "lab", "beta-ca", scenario.Grant{Projects: []string{"beta"}, Prefixes: []string{"10.0.0.0/16"},
		Wires: []string{"100.100.0.0/24"}, Names: []string{"vpcb"}, Sites: []string{"vpcb"}, Overlays: []string{"100.96.0.3/32"}})
	must(t, err)
	vpca, err := scenario.AddGossipSite(l, vpcmeshBin, alphaCA, scenario.GossipSiteSpec{Name: "vpca", NAT: lab.NATOneToOne,
		Public: "203.0.113.20", LAN: "10.0.0.0/24", Host: "10.0.0.20", Join: "203.0.113.22:51820", Overlay: "100.96.0.2",
		Project: "alpha", Mapped: scenario.VPCAWire, MeshRoutes: []string{"192.168.0.0/24"}})
	must(t, err)
	vpcb, err := scenario.AddGossipSite(l, vpcmeshBin, betaCA, scenario.GossipSiteSpec{Name: "vpcb", NAT: lab.NATOneToOne,
		Public: "203.0.113.22", LAN: "10.0.0.0/25", Host: "10.0.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.3",
		Project: "beta", Mapped: "auto", MeshRoutes: []string{"192.168.0.0/24"}})
	must(t, err)
	office, err := l.AddSite(lab.SiteSpec{Name: "office", NAT: lab.NATMasquerade, PublicIP: "203.0.113.10", LAN: "192.168.0.0/24",
		Hosts:      map[string]string{"pc-a": scenario.PCA, "pc-b": scenario.PCB, "pc-x": scenario.PCX},
		MeshRoutes: []string{"10.0.0.0/24", "100.100.0.0/16"}})
	must(t, err)
	gw, err := scenario.NewGateway(l, vpcmeshBin, scenario.GatewaySpec{Name: "office-gw", NS: office.Gateway, Overlay: "100.96.0.1",
		SiteName: "office", CIDRs: []string{"192.168.0.0/24"}, Trust: trust, Join: []string{"203.0.113.20:51820"},
		Members: []scenario.MemberSpec{
			{Project: "alpha", Sources: []string{scenario.PCA + "/32"}, Users: []string{alice.name}, Transparent: true},
			{Project: "beta", Sources: []string{scenario.PCB + "/32"}, Transparent: true},
		}})
	must(t, err)
	m := &scenario.GossipMesh{Trust: trust, Sites: []*scenario.GossipSite{vpca, vpcb, {Site: office, GW: gw}}}
	t.Cleanup(func() { dumpLogsIfAsked(t, m) })
	t.Cleanup(func() {
		if t.Failed() {
			for _, cmd := range [][]string{{"ip", "rule"}, {"ip", "-4", "route", "show", "table", "all", "proto", "118"}} {
				out, _ := office.Gateway.Exec(ctx, cmd...)
				t.Logf("office-gw: %s:\n%s", strings.Join(cmd, " "), out)
			}
			if st, err := gw.Status(ctx); err == nil {
				t.Logf("office-gw packets %+v projects %+v warnings %q", st.Packets, st.Projects, st.Warnings)
			}
		}
	})
	must(t, m.Start(ctx))
	pcA, pcB, pcX := office.Hosts["pc-a"], office.Hosts["pc-b"], office.Hosts["pc-x"]

	// Same address, two VPCs: the TCP servers run on alpha's host and on
	// beta's, so a transfer that completes went to the right one.
	must(t, lab.Eventually(ctx, 20*time.Second, func() error { return pcA.Ping(ctx, "10.0.0.20") }))
	transfer(t, ctx, pcA, vpca.Host, "10.0.0.20", scenario.PCA)
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return pcB.Ping(ctx, "10.0.0.20") }))
	transfer(t, ctx, pcB, vpcb.Host, "10.0.0.20", scenario.PCB)

	// Beta's hosts answer at their allocated wire addresses too.
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return pcB.Ping(ctx, hostBWire) }))

	// No reply, and the gateway's own verdict: unreachable. (Its ICMP
	// errors to one sender are rate-limited, so the ping output alone
	// would not say so each time.)
	unreachable := func(who string, pc *lab.NS, src, dst string) {
		t.Helper()
		if out, err := pc.Exec(ctx, "ping", "-n", "-c", "1", "-W", "1", dst); err == nil {
			t.Errorf("%s → %s answered:\n%s", who, dst, out)
		}
		out, err := office.Gateway.Exec(ctx, "ip", "route", "get", dst, "from", src, "iif", "lan")
		if err == nil || !strings.Contains(out, "No route to host") {
			t.Errorf("office-gw's route for %s → %s: want unreachable, got (%v) %s", who, dst, err, out)
		}
	}
	unreachable("pc-a (alpha)", pcA, scenario.PCA, hostBWire)
	unreachable("pc-b (beta)", pcB, scenario.PCB, scenario.HostAWire)
	unreachable("pc-x (no project)", pcX, scenario.PCX, scenario.HostAWire)
	unreachable("pc-x (no project)", pcX, scenario.PCX, hostBWire)
	// At the real address pc-x finds no project either.
	unreachable("pc-x (no project)", pcX, scenario.PCX, "10.0.0.20")
	if out, _ := pcX.Exec(ctx, "ping", "-n", "-c", "1", "-W", "1", "10.0.0.20"); strings.Contains(out, "Time to live exceeded") {
		t.Errorf("pc-x's packets to 10.0.0.20 loop instead of being refused:\n%s", out)
	}

	// From a shell on the gateway. Unprivileged ping uses ICMP sockets.
	_, err = office.Gateway.Exec(ctx, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
	must(t, err)
	as := func(u unixAccount, dst string) (string, error) {
		return office.Gateway.Exec(ctx, "setpriv", "--reuid="+u.uid, "--regid="+u.uid, "--clear-groups",
			"ping", "-n", "-c", "1", "-W", "1", dst)
	}
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		out, err := as(alice, "10.0.0.20")
		if err != nil {
			return fmt.Errorf("alice → 10.0.0.20: %v\n%s", err, out)
		}
		return nil
	}))
	if out, err := as(bob, "10.0.0.20"); err == nil {
		t.Errorf("bob (no project) reached 10.0.0.20 from the gateway:\n%s", out)
	}
	if out, err := as(bob, scenario.HostAWire); err == nil {
		t.Errorf("bob (no project) reached %s from the gateway:\n%s", scenario.HostAWire, out)
	}
	st, err := gw.Status(ctx)
	must(t, err)
	want := map[string]string{"alpha": "10.0.0.0/24 → " + scenario.VPCAWire, "beta": "10.0.0.0/25 → " + vpcbWire}
	for _, p := range st.Projects {
		if w, ok := want[p.Project]; ok && !slices.Equal(p.Transparent, []string{w}) {
			t.Errorf("status project %s: transparent %q, want [%q]", p.Project, p.Transparent, w)
		}
	}
	t.Logf("office-gw projects: %+v", st.Projects)
}

// unixAccount is a user made for one test.
type unixAccount struct{ name, uid string }

// unixUser adds a system user for the test and removes it afterwards.
func unixUser(t *testing.T, name string) unixAccount {
	t.Helper()
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	out, err := exec.Command("id", "-u", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	uid := strings.TrimSpace(string(out))
	if _, err := strconv.Atoi(uid); err != nil {
		t.Fatalf("uid of %s: %q", name, uid)
	}
	return unixAccount{name, uid}
}
