package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// kill -9 of the active member of an HA pair: probes through the tunnels
// find it down, the office moves VPC A's prefix to gw-a2, gw-a2 re-points
// the VPC route table to itself; a 20-per-second ping stream shows the
// interruption (under 2 s, default settings) and a TCP transfer across it
// completes intact. gw-a1 back: after the hold-down it carries the site
// again.
func TestHAFailover(t *testing.T) {
	l, ctx := newLab(t)
	const holdMS = configs.DefaultHoldDown
	h, err := scenario.BuildHA(l, vpcmeshBin, 0, 0, "")
	must(t, err)
	t.Cleanup(h.Close)
	defer func() {
		if t.Failed() {
			for _, g := range []*scenario.Gateway{h.OfficeGW, h.GWA1, h.GWA2} {
				t.Logf("---- %s log:\n%s", g.Name, tail(g.Log(), 60))
			}
		}
	}()
	must(t, h.Start(ctx))
	must(t, lab.Eventually(ctx, 15*time.Second, func() error { return h.PC.Ping(ctx, scenario.HostA) }))

	// 64 MiB at 8 MiB/s: under way before the kill, ended after it.
	transfer := h.PC.StartPacedTransfer(ctx, h.Host, scenario.HostA, 64<<20, 8<<20)
	gap := h.PC.PingStreamEvery(ctx, scenario.HostA, pingEvery, 160, 2*time.Second, func() { must(t, h.GWA1.Kill()) })
	t.Logf("kill -9 gw-a1: longest interruption of a 20/s ping stream %v (default probing)", gap)
	if gap >= 2*time.Second {
		t.Errorf("failover interrupted traffic for %v, want under 2 s", gap)
	}
	if got := h.RouteTarget(scenario.OfficeLAN); got != scenario.ENIA2 {
		t.Errorf("VPC route table sends the office to %q after failover, want gw-a2's %s", got, scenario.ENIA2)
	}
	st, err := h.OfficeGW.Status(ctx)
	must(t, err)
	if len(st.HA) != 1 || st.HA[0].Site != "vpc-a" || st.HA[0].Active != "gw-a2" || st.HA[0].Failovers < 1 {
		t.Errorf("office-gw status HA after failover: %+v", st.HA)
	}
	if t.Failed() {
		return
	}
	res, err := transfer.Wait()
	must(t, err)
	t.Logf("64 MiB paced transfer across the failover: %v, sha256 matched", res.Duration.Round(time.Millisecond))

	// gw-a1 back: after the hold-down it is active again.
	gaps := make(chan time.Duration, 1)
	go func() { gaps <- h.PC.PingStreamEvery(ctx, scenario.HostA, pingEvery, 500, 0, nil) }()
	back := time.Now()
	must(t, h.GWA1.Start(ctx))
	must(t, lab.Eventually(ctx, 25*time.Second, func() error {
		if got := h.RouteTarget(scenario.OfficeLAN); got != scenario.ENIA1 {
			return fmt.Errorf("route table sends the office to %q, want gw-a1's %s", got, scenario.ENIA1)
		}
		return nil
	}))
	active := time.Since(back)
	gap = <-gaps
	t.Logf("gw-a1 back: active again %v after its start (hold-down %d ms); longest interruption of the switch back %v",
		active.Round(100*time.Millisecond), holdMS, gap)
	if active < time.Duration(holdMS)*time.Millisecond {
		t.Errorf("gw-a1 took the site back after %v, before the hold-down of %d ms", active, holdMS)
	}
	if gap >= 2*time.Second {
		t.Errorf("switching back interrupted traffic for %v", gap)
	}
}

// gw-a1 alive, in the mesh, but cut off from its own VPC's hosts: with a
// probe target set, it declares itself failed for the site, and the office
// and the VPC route table move to gw-a2.
func TestHASiteUnreachable(t *testing.T) {
	l, ctx := newLab(t)
	h, err := scenario.BuildHA(l, vpcmeshBin, 0, 0, scenario.HostA)
	must(t, err)
	t.Cleanup(h.Close)
	// Both members run with only the capabilities the systemd unit grants:
	// probing the site's host must work with them.
	caps := unitCapabilities(t)
	h.GWA1.Capabilities, h.GWA2.Capabilities = caps, caps
	must(t, h.Start(ctx))
	must(t, lab.Eventually(ctx, 15*time.Second, func() error { return h.PC.Ping(ctx, scenario.HostA) }))
	cut := func() {
		for _, rule := range []string{
			"add table ip cut",
			"add chain ip cut out { type filter hook output priority 0; policy accept; }",
			"add chain ip cut fw { type filter hook forward priority 0; policy accept; }",
			"add rule ip cut out ip daddr " + scenario.HostA + " drop",
			"add rule ip cut fw ip daddr " + scenario.HostA + " drop",
		} {
			if _, err := h.VPC.Gateway.Exec(ctx, append([]string{"nft"}, strings.Fields(rule)...)...); err != nil {
				t.Errorf("nft %s: %v", rule, err)
			}
		}
	}
	gap := h.PC.PingStreamEvery(ctx, scenario.HostA, pingEvery, 160, 2*time.Second, cut)
	t.Logf("gw-a1 cut from its site: longest interruption of a 20/s ping stream %v (default probing)", gap)
	if gap >= 2*time.Second {
		t.Errorf("moving off a gateway that cannot reach its site took %v, want under 2 s", gap)
	}
	if got := h.RouteTarget(scenario.OfficeLAN); got != scenario.ENIA2 {
		t.Errorf("VPC route table sends the office to %q, want gw-a2's %s", got, scenario.ENIA2)
	}
	st, err := h.OfficeGW.Status(ctx)
	must(t, err)
	for _, p := range st.Peers {
		if p.Name == "gw-a2" && !slices.Contains(p.Prefixes, scenario.VPCLAN) {
			t.Errorf("office-gw sends %s elsewhere than gw-a2: %+v", scenario.VPCLAN, st.Peers)
		}
	}
}

// unitCapabilities is the CapabilityBoundingSet of systemd/vpcmesh.service.
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	unit, err := os.ReadFile("../systemd/vpcmesh.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("the unit sets no CapabilityBoundingSet")
	return nil
}
