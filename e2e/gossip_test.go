package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// Six gateways, each given one join address and the mesh's trust, form the
// mesh by themselves: every site reaches every public site and back.
func TestGossipSixGateways(t *testing.T) {
	_, ctx, m, took := startGossipMesh(t)
	t.Logf("6 gateways: full connectivity (%d site pairs, both ways) %v after the last gateway started",
		len(m.Pairs()), took.Round(10*time.Millisecond))

	for _, p := range m.Pairs() {
		transfer(t, ctx, p.A.Host, p.B.Host, p.B.HostIP, p.A.HostIP)
	}
	membersComplete(t, ctx, m)
}

// startGossipMesh builds the six-gateway mesh, starts it and waits until
// every pair answers; it returns how long that took after the last start.
// Every gateway's log is printed if the test fails.
func startGossipMesh(t *testing.T) (*lab.Lab, context.Context, *scenario.GossipMesh, time.Duration) {
	t.Helper()
	l, ctx := newLab(t)
	m, err := scenario.BuildGossipMesh(l, vpcmeshBin)
	must(t, err)
	t.Cleanup(func() { dumpLogsIfAsked(t, m) })
	must(t, m.Start(ctx))
	took, err := m.WaitConnected(ctx, m.Pairs(), 30*time.Second)
	must(t, err)
	return l, ctx, m, took
}

// membersComplete waits until every gateway lists the five others as live
// members, the two offices behind NAT included: gossip reaches them
// through the public gateways even where no tunnel joins them.
func membersComplete(t *testing.T, ctx context.Context, m *scenario.GossipMesh) {
	t.Helper()
	began := time.Now()
	must(t, lab.Eventually(ctx, 15*time.Second, func() error {
		for _, s := range m.Sites {
			st, err := s.GW.Status(ctx)
			if err != nil {
				return err
			}
			var want []string
			for _, o := range m.Sites {
				if o != s {
					want = append(want, o.GW.Name)
				}
			}
			slices.Sort(want)
			if st.Gossip == nil || !slices.Equal(st.Gossip.Members, want) {
				return fmt.Errorf("%s: gossip %+v, want members %v", s.GW.Name, st.Gossip, want)
			}
		}
		return nil
	}))
	t.Logf("every gateway lists the other five as members (waited %v)", time.Since(began).Round(10*time.Millisecond))
}

// dumpLogsIfAsked prints every gateway's whole log when VPCMESH_E2E_LOG_LEVEL is set.
func dumpLogsIfAsked(t *testing.T, m *scenario.GossipMesh) {
	// A failure shows the end of every log anyway (newLab); whole logs only
	// when asked for, since CI keeps just the start and end of the output.
	if os.Getenv("VPCMESH_E2E_LOG_LEVEL") == "" {
		return
	}
	for _, s := range m.Sites {
		t.Logf("---- %s log:\n%s", s.GW.Name, tail(s.GW.Log(), 40000))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// A gateway that stops cleanly is gone from every other gateway's routes
// within 2 s; one killed with -9 is gone once the others detect it; each
// time it starts again its site is reachable again.
func TestGossipLeaveKillRestart(t *testing.T) {
	_, ctx, m, _ := startGossipMesh(t)
	vpc3 := m.Site("vpc3")
	lan := vpc3.LAN.String()
	mustHaveRoute(t, ctx, m, vpc3, lan)

	must(t, vpc3.GW.Stop())
	gone, err := routeGone(ctx, m, vpc3, lan, 10*time.Second)
	must(t, err)
	t.Logf("clean stop: %s gone from the other 5 gateways' routes after %v", lan, gone.Round(10*time.Millisecond))
	if gone > 2*time.Second {
		t.Errorf("clean stop: routes stayed %v, want at most 2 s", gone)
	}

	back := restart(t, ctx, m, vpc3)
	t.Logf("restart after clean stop: every pair with vpc3 answers after %v", back.Round(10*time.Millisecond))

	must(t, vpc3.GW.Kill())
	gone, err = routeGone(ctx, m, vpc3, lan, 30*time.Second)
	must(t, err)
	t.Logf("kill -9: %s gone from the other 5 gateways' routes after %v (failure detection)", lan, gone.Round(10*time.Millisecond))
	// Given up, it stays a peer on standby: its overlay address, no site.
	if p := peerOf(t, ctx, m.Site("vpc1").GW, vpc3.GW.Name); !p.Standby || slices.Contains(p.Prefixes, lan) {
		t.Errorf("vpc1-gw's peer %s after kill -9: standby %v, prefixes %v; want standby without %s", p.Name, p.Standby, p.Prefixes, lan)
	}

	// vpc3's one join address is the branch: with the branch down too, the
	// restart finds the mesh through the peers saved on both sides.
	saved, err := os.ReadFile(filepath.Join(vpc3.GW.Dir, "state", "known-peers.json"))
	must(t, err)
	for _, o := range m.Sites {
		if o != vpc3 && !strings.Contains(string(saved), `"`+o.GW.Name+`"`) {
			t.Errorf("vpc3-gw's known peers lack %s:\n%s", o.GW.Name, saved)
		}
	}
	branch := m.Site("branch")
	must(t, branch.GW.Stop())
	back = restart(t, ctx, m, vpc3)
	t.Logf("restart after kill -9, its join address down: every pair with vpc3 answers after %v (through saved peers)", back.Round(10*time.Millisecond))
	back = restart(t, ctx, m, branch)
	t.Logf("branch back: every pair with it answers after %v", back.Round(10*time.Millisecond))
	membersComplete(t, ctx, m)
}

// Cutting vpc3 and the branch off from the rest for longer than failure
// detection takes splits the mesh in two; when the cut heals, so does the
// mesh, with nobody restarted.
func TestGossipPartitionHeals(t *testing.T) {
	l, ctx, m, _ := startGossipMesh(t)

	heal, err := l.Partition("198.51.100.0/24", "203.0.113.0/24")
	must(t, err)
	cut := time.Now()
	// Both sides must have given the other up: that is what makes this a
	// partition to heal rather than a blip.
	vpc1, branch := m.Site("vpc1"), m.Site("branch")
	cutOff := map[*scenario.GossipSite]bool{m.Site("vpc3"): true, branch: true}
	must(t, lab.Eventually(ctx, 45*time.Second, func() error {
		for _, s := range m.Sites {
			routes, err := routesOf(ctx, s.Gateway)
			if err != nil {
				return err
			}
			for _, o := range m.Sites {
				if cutOff[s] != cutOff[o] && slices.Contains(routes, o.LAN.String()) {
					return fmt.Errorf("%s still routes %s across the cut", s.GW.Name, o.LAN)
				}
			}
		}
		return nil
	}))
	t.Logf("partition: both sides dropped the other after %v", time.Since(cut).Round(10*time.Millisecond))
	if failed := m.Connected(ctx, []scenario.Pair{{A: vpc1, B: branch}}); len(failed) != 2 {
		t.Fatalf("across the cut, unanswered: %v; want both directions", failed)
	}

	must(t, heal())
	took, err := m.WaitConnected(ctx, m.Pairs(), 30*time.Second)
	must(t, err)
	t.Logf("partition healed: full connectivity %v after the cut was removed (cut lasted %v)",
		took.Round(10*time.Millisecond), time.Since(cut).Round(100*time.Millisecond)-took.Round(100*time.Millisecond))
	membersComplete(t, ctx, m)
}

// restart starts the gateway of s again and waits until every pair with s
// answers; it returns how long that took from the start.
func restart(t *testing.T, ctx context.Context, m *scenario.GossipMesh, s *scenario.GossipSite) time.Duration {
	t.Helper()
	began := time.Now()
	must(t, s.GW.Start(ctx))
	var pairs []scenario.Pair
	for _, p := range m.Pairs() {
		if (p.A == s || p.B == s) && running(p.A) && running(p.B) {
			pairs = append(pairs, p)
		}
	}
	_, err := m.WaitConnected(ctx, pairs, 30*time.Second)
	must(t, err)
	return time.Since(began)
}

func running(s *scenario.GossipSite) bool { return s.GW.Running() }

// routeGone waits until no gateway but s's routes dst, and returns how long
// that took.
func routeGone(ctx context.Context, m *scenario.GossipMesh, s *scenario.GossipSite, dst string, timeout time.Duration) (time.Duration, error) {
	began := time.Now()
	err := lab.Eventually(ctx, timeout, func() error {
		for _, o := range m.Sites {
			if o == s {
				continue
			}
			routes, err := routesOf(ctx, o.Gateway)
			if err != nil {
				return err
			}
			if slices.Contains(routes, dst) {
				return fmt.Errorf("%s still routes %s", o.GW.Name, dst)
			}
		}
		return nil
	})
	return time.Since(began), err
}

func mustHaveRoute(t *testing.T, ctx context.Context, m *scenario.GossipMesh, s *scenario.GossipSite, dst string) {
	t.Helper()
	for _, o := range m.Sites {
		if o != s && !slices.Contains(ownedRoutes(t, ctx, o.Gateway), dst) {
			t.Fatalf("%s does not route %s", o.GW.Name, dst)
		}
	}
}

// Each gateway tells its NAT's behaviour from where two public gateways
// saw it: one address for all behind masquerade, a port per peer behind a
// NAT that maps per destination; and shows its peers'.
func TestNATBehaviourDetected(t *testing.T) {
	l, ctx := newLab(t)
	m, err := scenario.BuildGossipMesh(l, vpcmeshBin)
	must(t, err)
	defer dumpLogsIfAsked(t, m)
	office3, err := scenario.AddGossipSite(l, vpcmeshBin, m.Trust, scenario.GossipSiteSpec{
		Name: "office3", NAT: lab.NATRandom, Public: "203.0.113.13", LAN: "10.13.0.0/24",
		Host: "10.13.0.50", Join: "203.0.113.20:51820", Overlay: "100.96.0.13"})
	must(t, err)
	must(t, m.Start(ctx))
	must(t, office3.GW.Start(ctx))
	want := map[*scenario.GossipSite]string{
		m.Site("vpc1"): "public", m.Site("branch"): "public",
		m.Site("office1"): "endpoint-independent", m.Site("office2"): "endpoint-independent",
		office3: "endpoint-dependent",
	}
	// office3-gw decides first; its new record reaches vpc1-gw by gossip
	// a moment later, so the peer's view is waited for too.
	t0 := time.Now()
	must(t, lab.Eventually(ctx, 20*time.Second, func() error {
		for s, w := range want {
			st, err := s.GW.Status(ctx)
			if err != nil {
				return err
			}
			if st.NAT != w {
				return fmt.Errorf("%s: nat %q, want %q", s.GW.Name, st.NAT, w)
			}
		}
		st, err := m.Site("vpc1").GW.Status(ctx)
		if err != nil {
			return err
		}
		for _, p := range st.Peers {
			if p.Name == "office3-gw" {
				if p.NAT != "endpoint-dependent" {
					return fmt.Errorf("vpc1-gw shows office3-gw's NAT as %q", p.NAT)
				}
				return nil
			}
		}
		return fmt.Errorf("vpc1-gw has no peer office3-gw")
	}))
	t.Logf("every gateway's NAT known, and office3-gw's at vpc1-gw, %v after office3-gw started", time.Since(t0).Round(10*time.Millisecond))
}
