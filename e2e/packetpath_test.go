package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// Two VPCs with the same addresses, each reached through its own wire
// prefix, and only by the members of its project.
func TestOverlappingVPCsByProject(t *testing.T) {
	l, ctx := newLab(t)
	o, err := scenario.BuildOverlap(l, vpcmeshBin)
	must(t, err)
	must(t, o.StartAll(ctx))

	reach := []struct {
		member      string
		pc, host    *lab.NS
		wire, local string // the host's wire address, the member's real one
	}{
		{"pc-a (alpha)", o.PCA, o.HostA, scenario.HostAWire, scenario.PCA},
		{"pc-b (beta)", o.PCB, o.HostB, scenario.HostBWire, scenario.PCB},
	}
	for _, r := range reach {
		if err := lab.Eventually(ctx, 10*time.Second, func() error { return r.pc.Ping(ctx, r.wire) }); err != nil {
			t.Fatalf("%s → %s: %v\n%s", r.member, r.wire, err, o.OfficeGW.Log())
		}
		transfer(t, ctx, r.pc, r.host, r.wire, r.local)
	}

	// traceroute shows the path: the office router and gateway, VPC A's
	// gateway (by its overlay address), then the host by its wire address.
	hops := traceroute(t, ctx, o.PCA, scenario.HostAWire)
	t.Logf("traceroute pc-a → %s: %s", scenario.HostAWire, strings.Join(hops, " → "))
	want := []string{"192.168.0.1", o.Office.GatewayIP, scenario.VPCGWMesh, scenario.HostAWire}
	if !slices.Equal(hops, want) {
		t.Errorf("traceroute hops %v, want %v", hops, want)
	}

	// Everything else finds no route at the office gateway: the kernel
	// answers unreachable and nothing reaches the tunnel.
	isolated := []struct {
		who  string
		pc   *lab.NS
		wire string
	}{
		{"pc-a (alpha) → VPC B", o.PCA, scenario.HostBWire},
		{"pc-b (beta) → VPC A", o.PCB, scenario.HostAWire},
		{"pc-x (no project) → VPC A", o.PCX, scenario.HostAWire},
		{"pc-x (no project) → VPC B", o.PCX, scenario.HostBWire},
	}
	for _, c := range isolated {
		before := outboundPassed(t, ctx, o.OfficeGW)
		out, err := c.pc.Exec(ctx, "ping", "-n", "-c", "1", "-W", "1", c.wire)
		if err == nil {
			t.Errorf("%s: ping answered, want no reply", c.who)
		}
		if want := "From " + o.Office.GatewayIP + " icmp_seq=1 Destination Host Unreachable"; !strings.Contains(out, want) {
			t.Errorf("%s: no %q:\n%s", c.who, want, out)
		}
		if after := outboundPassed(t, ctx, o.OfficeGW); after != before {
			t.Errorf("%s: %d packet(s) went into the tunnel", c.who, after-before)
		}
	}
}

func outboundPassed(t *testing.T, ctx context.Context, g *scenario.Gateway) uint64 {
	t.Helper()
	st, err := g.Status(ctx)
	must(t, err)
	return st.Packets.Outbound.Passed
}

var hopRE = regexp.MustCompile(`^\s*\d+\s+(\S+)`)

// traceroute runs traceroute in n and returns the address of each hop.
func traceroute(t *testing.T, ctx context.Context, n *lab.NS, dst string) []string {
	t.Helper()
	out, err := n.Exec(ctx, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "8", dst)
	if err != nil {
		t.Fatalf("traceroute: %v", err)
	}
	var hops []string
	for _, line := range strings.Split(out, "\n") {
		if m := hopRE.FindStringSubmatch(line); m != nil {
			hops = append(hops, m[1])
		}
	}
	return hops
}

// A path whose underlay MTU is 1400, with path MTU discovery broken on the
// hosts (they drop ICMP "fragmentation needed", as security groups do): TCP
// works only because the gateways clamp the MSS. The same transfer with the
// clamp turned off stalls, which shows the test can tell.
func TestMSSClampOnSmallMTUPath(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	const underlay = 1400
	tunnelMTU := underlay - 80 // what node.mtu must say for this underlay
	for _, site := range []*lab.Site{ts.Office, ts.VPC} {
		must(t, site.Router.SetMTU("wan", underlay))
	}
	for _, h := range []*lab.NS{ts.PC, ts.Host} {
		must(t, h.BlackholePMTUD())
	}
	setClamp := func(on bool) {
		for _, g := range []*scenario.Gateway{ts.OfficeGW, ts.VPCGW} {
			g.MTU, g.MSSClamp = tunnelMTU, &on
			must(t, g.WriteConfig())
		}
	}

	setClamp(true)
	must(t, ts.StartAll(ctx))
	clamp := uint32(tunnelMTU - 40)
	for _, dir := range []struct {
		name       string
		from, to   *lab.NS
		addr, seen string
	}{
		{"pc-a → host-a", ts.PC, ts.Host, scenario.HostA, scenario.PCA},
		{"host-a → pc-a", ts.Host, ts.PC, scenario.PCA, scenario.HostA},
	} {
		res := transfer(t, ctx, dir.from, dir.to, dir.addr, dir.seen)
		t.Logf("%s over a %d-byte underlay: send MSS client %d, server %d (clamp %d = tunnel MTU %d − 40)",
			dir.name, underlay, res.ClientMSS, res.ServerMSS, clamp, tunnelMTU)
		for _, mss := range []uint32{res.ClientMSS, res.ServerMSS} {
			// The send MSS is the clamped option less the TCP options
			// in use (12 bytes of timestamps here, at most 40).
			if mss > clamp || mss < clamp-40 {
				t.Errorf("%s: send MSS %d, want the clamp %d less options", dir.name, mss, clamp)
			}
		}
	}

	// Clamp off: the hosts' 1460-byte MSS stands, full-size segments do not
	// fit the tunnel, and the ICMP that would say so is dropped.
	for _, g := range []*scenario.Gateway{ts.OfficeGW, ts.VPCGW} {
		must(t, g.Stop())
	}
	setClamp(false)
	must(t, ts.StartAll(ctx))
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := ts.PC.TCPTransfer(short, ts.Host, scenario.HostA, 2<<20)
	if err == nil {
		t.Fatalf("with mss_clamp = false the transfer completed (send MSS %d); the black hole is not one", res.ClientMSS)
	}
	t.Logf("control, clamp off: send MSS %d, %d of %d bytes arrived in 5 s: %v", res.ClientMSS, res.Bytes, 2<<20, firstLine(err))
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(fmt.Sprint(err), "\n")
	return s
}
