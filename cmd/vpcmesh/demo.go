package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

func demoCmd() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo [--keep]",
		Short: "Build the lab in network namespaces, start gateways, show the scenario working (root)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return errors.New("demo: run as root (it creates network namespaces)")
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), bin, keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running for exploring (prints how to remove it)")
	return cmd
}

type demo struct {
	w      io.Writer
	passed int
	failed int
}

func (d *demo) check(name string, err error) {
	if err != nil {
		d.failed++
		fmt.Fprintf(d.w, "  FAIL  %s: %v\n", name, err)
		return
	}
	d.passed++
	fmt.Fprintf(d.w, "  ok    %s\n", name)
}

func runDemo(ctx context.Context, w io.Writer, bin string, keep bool) error {
	if _, err := lab.SweepStale(func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) }); err != nil {
		return fmt.Errorf("remove stale labs: %w", err)
	}
	fmt.Fprintf(w, "vpcmesh demo: five scenes in network namespaces, real TUN devices, nftables NAT\n")
	d := &demo{w: w}
	for _, scene := range []func(context.Context, *demo, *lab.Lab, string) error{sceneTwoSites, sceneOverlap, sceneGossip, sceneHA, sceneNAT} {
		if err := inLab(ctx, d, bin, keep, scene); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed\n", d.passed, d.failed)
	if d.failed > 0 {
		return fmt.Errorf("demo: %d checks failed", d.failed)
	}
	return nil
}

// inLab runs a scene in a lab of its own, removed afterwards unless keep.
func inLab(ctx context.Context, d *demo, bin string, keep bool, scene func(context.Context, *demo, *lab.Lab, string) error) error {
	l, err := lab.New(func(string, ...any) {})
	if err != nil {
		return err
	}
	defer func() {
		if keep {
			l.Keep()
		}
		l.Close()
	}()
	if err := scene(ctx, d, l, bin); err != nil {
		d.check("scene set-up (lab "+l.ID+")", err)
	}
	return nil
}

// sceneTwoSites: an office behind masquerade NAT and a VPC behind 1:1 NAT,
// linked by static peers.
func sceneTwoSites(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	w := d.w
	fmt.Fprintf(w, "\n1. An office behind masquerade NAT and a VPC behind 1:1 NAT, static peers\n")
	ts, err := scenario.BuildTwoSites(l, bin)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := ts.StartAll(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "   office-gw and vpc-gw up, tunnel handshake done in %v\n", time.Since(t0).Round(time.Millisecond))
	demoChecks(ctx, d, ts)
	fmt.Fprintf(w, "\n   $ vpcmesh status   (on office-gw)\n")
	if st, err := ts.OfficeGW.Status(ctx); err == nil {
		printStatus(&indent{w: w}, st)
	}
	ts.OfficeGW.Stop()
	return ts.VPCGW.Stop()
}

// sceneOverlap: two VPCs with the same CIDR, reached by the members of
// their projects under different wire prefixes.
func sceneOverlap(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	fmt.Fprintf(d.w, "\n2. Two VPCs using the same CIDR (10.0.0.0/24, 10.0.0.0/25), one per project; an office with\n"+
		"   pc-a in alpha, pc-b in beta, pc-x in neither; VPC A is 100.100.1.0/24 on the wire, VPC B 100.100.2.0/25\n")
	o, err := scenario.BuildOverlap(l, bin)
	if err != nil {
		return err
	}
	if err := o.StartAll(ctx); err != nil {
		return err
	}
	d.check("pc-a (alpha) pings host-a at 100.100.1.20", lab.Eventually(ctx, 10*time.Second, func() error { return o.PCA.Ping(ctx, scenario.HostAWire) }))
	d.check("pc-b (beta) pings host-b at 100.100.2.20", lab.Eventually(ctx, 10*time.Second, func() error { return o.PCB.Ping(ctx, scenario.HostBWire) }))
	res, err := o.PCA.TCPTransfer(ctx, o.HostA, scenario.HostAWire, 8<<20)
	if err == nil && res.RemoteAddr.Addr().String() != scenario.PCA {
		err = fmt.Errorf("host-a saw %s", res.RemoteAddr.Addr())
	}
	d.check("TCP 8 MiB pc-a → host-a, sha256 matched, host-a sees pc-a's own address", err)
	for _, c := range []struct {
		name string
		from *lab.NS
		to   string
	}{{"pc-a (alpha) cannot reach VPC B", o.PCA, scenario.HostBWire}, {"pc-b (beta) cannot reach VPC A", o.PCB, scenario.HostAWire},
		{"pc-x (no project) cannot reach VPC A", o.PCX, scenario.HostAWire}, {"pc-x (no project) cannot reach VPC B", o.PCX, scenario.HostBWire}} {
		var err error
		if c.from.Ping(ctx, c.to) == nil {
			err = fmt.Errorf("%s answered", c.to)
		}
		d.check(c.name, err)
	}
	for _, g := range []*scenario.Gateway{o.OfficeGW, o.GWA, o.GWB} {
		g.Stop()
	}
	return nil
}

// sceneGossip: six gateways, two behind NAT, find each other from one join
// address each and the mesh trust.
func sceneGossip(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	fmt.Fprintf(d.w, "\n3. Six gateways (two behind masquerade NAT) with one root key and one join address each\n")
	m, err := scenario.BuildGossipMesh(l, bin)
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	took, err := m.WaitConnected(ctx, m.Pairs(), 30*time.Second)
	d.check(fmt.Sprintf("every site reaches every other and back (%d pairs, the two offices by hole punching), %v after the last start", len(m.Pairs()), took.Round(10*time.Millisecond)), err)
	vpc3 := m.Site("vpc3")
	t0 := time.Now()
	err = vpc3.GW.Stop()
	if err == nil {
		err = lab.Eventually(ctx, 10*time.Second, func() error {
			st, err := m.Site("vpc1").GW.Status(ctx)
			if err == nil && slices.Contains(st.Routes, vpc3.LAN.String()) {
				err = fmt.Errorf("vpc1-gw still routes %s", vpc3.LAN)
			}
			return err
		})
	}
	d.check(fmt.Sprintf("vpc3-gw stops cleanly: its routes leave the others within %v", time.Since(t0).Round(10*time.Millisecond)), err)
	fmt.Fprintf(d.w, "\n   $ vpcmesh routes   (on office1-gw)\n")
	if st, err := m.Site("office1").GW.Status(ctx); err == nil {
		printRoutes(&indent{w: d.w}, st.RouteTable)
	}
	return nil
}

// sceneHA: an HA pair in a VPC whose route table (the EC2 stand-in) the
// VPC router follows; the active member is killed.
func sceneHA(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	fmt.Fprintf(d.w, "\n4. An HA pair in VPC A (gw-a1 priority 200, gw-a2 100) behind an EC2 route table; gw-a1 is killed\n")
	h, err := scenario.BuildHA(l, bin, 300, 3000, "")
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.Start(ctx); err != nil {
		return err
	}
	d.check("pc-a pings host-a through gw-a1", lab.Eventually(ctx, 15*time.Second, func() error { return h.PC.Ping(ctx, scenario.HostA) }))
	var killErr error
	gap := h.PC.PingStream(ctx, scenario.HostA, 60, 2*time.Second, func() { killErr = h.GWA1.Kill() })
	if killErr == nil && gap >= 3*time.Second {
		killErr = fmt.Errorf("interrupted %v", gap)
	}
	d.check(fmt.Sprintf("kill -9 gw-a1: a 10/s ping stream lost %v (probes every 300 ms)", gap), killErr)
	var routeErr error
	if got := h.RouteTarget(scenario.OfficeLAN); got != scenario.ENIA2 {
		routeErr = fmt.Errorf("the VPC route table sends the office to %q", got)
	}
	d.check("the VPC route table now sends the office LAN to gw-a2's interface", routeErr)
	fmt.Fprintf(d.w, "\n   $ vpcmesh status   (on office-gw, HA line)\n")
	if st, err := h.OfficeGW.Status(ctx); err == nil {
		for _, g := range st.HA {
			fmt.Fprintf(d.w, "   HA site %s: active %s of %s; %d failovers\n", g.Site, g.Active, strings.Join(g.Members, ", "), g.Failovers)
		}
	}
	return nil
}

// sceneNAT: one gateway per kind of internet access; the pairs that cannot
// go direct use a relay, and the relay in use is stopped.
func sceneNAT(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	fmt.Fprintf(d.w, "\n5. NAT traversal: public, 1:1 NAT (both relays), two masquerades, two random-port NATs\n")
	m, err := scenario.BuildNATMatrix(l, bin)
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	took, err := m.WaitConnected(ctx, m.Pairs(), 30*time.Second)
	d.check(fmt.Sprintf("all %d pairs reach each other both ways, %v after the last start", len(m.Pairs()), took.Round(10*time.Millisecond)), err)
	paths, err := scenario.ReadPaths(ctx, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.w, "\n   each row's path to each column (vpcmesh status):\n")
	io.WriteString(&indent{w: d.w}, paths.Table(m))
	rand1, rand2 := m.Site("rand1"), m.Site("rand2")
	via := paths[rand1.GW.Name][rand2.GW.Name].Via
	relay, other := m.Site("eip"), "pub-gw"
	if via == "pub-gw" {
		relay, other = m.Site("pub"), "eip-gw"
	}
	fmt.Fprintln(d.w)
	var stopErr error
	gap := rand1.Host.PingStream(ctx, rand2.HostIP, 50, 2*time.Second, func() { stopErr = relay.GW.Stop() })
	if stopErr == nil {
		stopErr = lab.Eventually(ctx, 10*time.Second, func() error {
			st, err := rand1.GW.Status(ctx)
			if err != nil {
				return err
			}
			for _, p := range st.Peers {
				if p.Name == rand2.GW.Name && p.Via != other {
					return fmt.Errorf("rand1-gw reaches rand2-gw %s", scenario.PathCell(p))
				}
			}
			return nil
		})
	}
	d.check(fmt.Sprintf("%s (the relay of rand1 ↔ rand2) stopped: the pair moves to %s; a 10/s ping stream lost %v", via, other, gap), stopErr)
	return nil
}

// indent prefixes every line written with three spaces.
type indent struct {
	w   io.Writer
	mid bool // inside a line
}

func (i *indent) Write(p []byte) (int, error) {
	var b strings.Builder
	for _, c := range string(p) {
		if !i.mid {
			b.WriteString("   ")
		}
		b.WriteRune(c)
		i.mid = c != '\n'
	}
	_, err := io.WriteString(i.w, b.String())
	return len(p), err
}

func demoChecks(ctx context.Context, d *demo, ts *scenario.TwoSites) {
	d.check("pc-a pings host-a across both NATs", lab.Eventually(ctx, 10*time.Second, func() error {
		return ts.PC.Ping(ctx, scenario.HostA)
	}))
	d.check("host-a pings pc-a back (the VPC side never dials: the office keeps the NAT open)", ts.Host.Ping(ctx, scenario.PCA))
	res, err := ts.PC.TCPTransfer(ctx, ts.Host, scenario.HostA, 16<<20)
	if err == nil && res.RemoteAddr.Addr().String() != scenario.PCA {
		err = fmt.Errorf("host-a saw source %s, want %s", res.RemoteAddr.Addr(), scenario.PCA)
	}
	d.check(fmt.Sprintf("TCP 16 MiB pc-a → host-a, sha256 matched, %.0f Mbit/s", mbits(res)), err)
}

func mbits(r lab.TransferResult) float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds() / 1e6
}
