// Command vpcmesh-demo builds the lab in network namespaces, starts vpcmesh
// gateways in it and shows the scenario working. It is kept out of the
// gateway binary: the namespace lab and the EC2 stand-in are test code.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
	"github.com/vpcmesh/vpcmesh/mesh"
)

func main() {
	var keep bool
	var bin string
	cmd := &cobra.Command{
		Use:           "vpcmesh-demo [--keep] [--vpcmesh PATH]",
		Short:         "Build the lab in network namespaces, start gateways, show the scenario working (root)",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return errors.New("demo: run as root (it creates network namespaces)")
			}
			gw, err := gatewayBinary(bin)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), gw, keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running for exploring (prints how to remove it)")
	cmd.Flags().StringVar(&bin, "vpcmesh", "", "the vpcmesh gateway binary the lab runs (default: vpcmesh beside this binary, else on $PATH)")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vpcmesh-demo:", err)
		os.Exit(1)
	}
}

// gatewayBinary is the absolute path of the vpcmesh binary the gateways
// run: flag if given, else vpcmesh in this binary's directory, else on $PATH.
func gatewayBinary(flag string) (string, error) {
	if flag == "" {
		if self, err := os.Executable(); err == nil {
			if p := filepath.Join(filepath.Dir(self), "vpcmesh"); isExecutable(p) {
				flag = p
			}
		}
	}
	if flag == "" {
		p, err := exec.LookPath("vpcmesh")
		if err != nil {
			return "", errors.New("demo: no vpcmesh binary beside vpcmesh-demo nor on $PATH; build it (go build -o bin/vpcmesh ./cmd/vpcmesh) or pass --vpcmesh")
		}
		flag = p
	}
	if !isExecutable(flag) {
		return "", fmt.Errorf("demo: %s is not an executable file", flag)
	}
	return filepath.Abs(flag)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// show prints what the gateway binary prints for `vpcmesh <command>` on g,
// as an operator on that gateway would see it.
func show(ctx context.Context, w io.Writer, g *scenario.Gateway, command string) error {
	out, err := exec.CommandContext(ctx, g.Bin, command, "-s", g.Socket).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vpcmesh %s: %w\n%s", command, err, out)
	}
	_, err = w.Write(out)
	return err
}

type demo struct {
	w      io.Writer
	keep   bool // the labs stay up after the demo
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
	fmt.Fprintf(w, "vpcmesh demo: six scenes in network namespaces, real TUN devices, nftables NAT\n")
	d := &demo{w: w, keep: keep}
	for _, scene := range []func(context.Context, *demo, *lab.Lab, string) error{sceneReference, sceneTwoSites, sceneOverlap, sceneGossip, sceneHA, sceneNAT} {
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

// sceneReference: the reference lab (docs/ARCHITECTURE.md, The lab) as one
// mesh. Reachability per project across overlapping VPCs, isolation, a pair
// that only a relay connects, and the active member of an HA pair killed.
func sceneReference(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	w := d.w
	fmt.Fprintf(w, "\n1. The reference lab (docs/ARCHITECTURE.md, The lab): five gateways, one root key, one mesh found by gossip\n")
	tw := tabwriter.NewWriter(&indent{w: w}, 0, 0, 2, ' ', 0)
	for _, row := range [][]string{
		{"office", "masquerade NAT", scenario.OfficeLAN, "office-gw; pc-a in project alpha, pc-b in beta, pc-x in none"},
		{"VPC-A", "1:1 NAT", scenario.VPCLAN, "gw-a1 (priority 200), gw-a2 (100), an EC2 route table; host-a 10.0.0.20; alpha as " + scenario.VPCAWire},
		{"VPC-B", "1:1 NAT", scenario.VPCBLAN, "gw-b, a relay; host-b 10.0.0.20; beta as " + scenario.VPCBWire},
		{"VPC-C", "NAT gateway, a port per destination", scenario.RefVPCCLAN, "gw-c; host-c " + scenario.HostC + "; alpha as itself"},
	} {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(w, "   pc-a and pc-b belong to one project each: office-gw lets them use their project's real addresses\n"+
		"   (transparent mode), so both ask for 10.0.0.20 and each reaches its own project's host\n")
	r, err := scenario.BuildReference(l, bin)
	if err != nil {
		return err
	}
	defer r.Close()
	failed := d.failed
	defer func() {
		if d.failed > failed { // what the gateways said, for whoever reads a failed run
			for _, g := range r.Gateways() {
				fmt.Fprintf(w, "\n   ---- %s log (last lines):\n", g.Name)
				io.WriteString(&indent{w: w}, lastLines(g.Log(), 15))
			}
		}
	}()
	t0 := time.Now()
	if err := r.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "   gw-b, gw-a1, gw-a2, gw-c, office-gw started, and VPC-A's route table sending pc-a to gw-a1, in %v\n",
		time.Since(t0).Round(10*time.Millisecond))

	// Transparent mode: pc-a and pc-b, members of one project each, both
	// use 10.0.0.20. The servers run on host-a and host-b: a transfer that
	// completes went to the right one.
	reach := func(pc, host *lab.NS, src string) error {
		err := lab.Eventually(ctx, 20*time.Second, func() error { return pc.Ping(ctx, scenario.HostA) })
		if err != nil {
			return err
		}
		res, err := pc.TCPTransfer(ctx, host, scenario.HostA, 1<<20)
		if err == nil && res.RemoteAddr.Addr().String() != src {
			err = fmt.Errorf("%s saw %s", host.Role, res.RemoteAddr.Addr())
		}
		return err
	}
	d.check("pc-a (alpha) reaches host-a at 10.0.0.20 (TCP 1 MiB to host-a's server, which sees pc-a's own address)", reach(r.PCA, r.HostA, scenario.PCA))
	d.check("pc-b (beta) reaches host-b at the same 10.0.0.20: VPC-B overlaps VPC-A (TCP 1 MiB to host-b's server)", reach(r.PCB, r.HostB, scenario.PCB))
	// Refused: no answer, and office-gw's kernel has no route for that
	// source to that destination: nothing enters the mesh. (Its ICMP
	// unreachable answers are rate-limited per sender, so they are not
	// what is checked.)
	refused := func(from *lab.NS, src string, dsts ...string) error {
		for _, dst := range dsts {
			if out, err := from.Exec(ctx, "ping", "-n", "-c", "1", "-W", "1", dst); err == nil {
				return fmt.Errorf("%s answered:\n%s", dst, out)
			}
			out, err := r.Office.Gateway.Exec(ctx, "ip", "route", "get", dst, "from", src, "iif", "lan")
			if err == nil || !strings.Contains(out, "No route to host") {
				return fmt.Errorf("office-gw routes %s → %s: %s", src, dst, strings.TrimSpace(out))
			}
		}
		return nil
	}
	d.check("pc-a (alpha) cannot reach host-b at "+scenario.HostBWire+": office-gw has no route for it", refused(r.PCA, scenario.PCA, scenario.HostBWire))
	d.check("pc-b (beta) cannot reach host-a at "+scenario.HostAWire+" nor host-c", refused(r.PCB, scenario.PCB, scenario.HostAWire, scenario.HostC))
	d.check("pc-x (no project) reaches none of host-a, host-b, host-c at their wire addresses",
		refused(r.PCX, scenario.PCX, scenario.HostAWire, scenario.HostBWire, scenario.HostC))

	// office-gw and gw-c are both behind NAT and gw-c's maps a port per
	// destination: the pair gives up punching after 3 s and goes through
	// the relay, gw-b, which counts what it forwards.
	var path string
	err = lab.Eventually(ctx, 20*time.Second, func() error { return r.PCA.Ping(ctx, scenario.HostC) })
	if err == nil {
		var og, cg mesh.PeerStatus
		og, cg, err = scenario.WaitRelayed(ctx, r.OfficeGW, r.GWC, r.GWB.Name, 20*time.Second)
		path = fmt.Sprintf("office-gw shows gw-c %s, gw-c shows office-gw %s", scenario.PathCell(og), scenario.PathCell(cg))
	}
	if err == nil {
		err = relayedPings(ctx, r)
	}
	d.check("pc-a (alpha) reaches host-c at "+scenario.HostC+" relayed via gw-b, both ends agreeing; gw-b forwarded the pings", err)
	if path != "" {
		fmt.Fprintf(w, "   path: pc-a → office-gw ⇒ gw-b (relay, %s:51820) ⇒ gw-c → host-c; %s\n", scenario.VPCBPublic, path)
	}

	var killErr error
	gap := r.PCA.PingStream(ctx, scenario.HostA, 60, 2*time.Second, func() { killErr = r.GWA1.Kill() })
	if killErr == nil && gap >= 3*time.Second {
		killErr = fmt.Errorf("interrupted %v, want under 3 s", gap)
	}
	d.check(fmt.Sprintf("kill -9 gw-a1 under a 10/s ping stream pc-a → host-a: interrupted %v (default probing)", gap), killErr)
	d.check("VPC-A's route table now sends pc-a ("+scenario.PCA+"/32) to gw-a2's interface "+scenario.ENIA2,
		r.Table.WaitTarget(ctx, scenario.PCA+"/32", scenario.ENIA2, 10*time.Second))

	fmt.Fprintf(w, "\n   $ vpcmesh status   (on office-gw)\n")
	if err := show(ctx, &indent{w: w}, r.OfficeGW, "status"); err != nil {
		return err
	}
	if d.keep {
		fmt.Fprintf(w, "\n   kept: %s status -c %s   (every gateway: %s/<gateway>/vpcmesh.toml;\n"+
			"   gw-a1 stays killed; VPC-A's EC2 stand-in ran inside the demo and ends with it)\n", bin, r.OfficeGW.ConfigPath, l.Dir)
	}
	return nil
}

// relayedPings pings host-c from pc-a five times and checks that gw-b
// forwarded at least the ten packets of it.
func relayedPings(ctx context.Context, r *scenario.Reference) error {
	forwarded := func() (uint64, error) {
		st, err := r.GWB.Status(ctx)
		if err != nil {
			return 0, err
		}
		if st.Relay == nil {
			return 0, errors.New("gw-b's status shows no relay")
		}
		return st.Relay.Forwarded, nil
	}
	before, err := forwarded()
	if err != nil {
		return err
	}
	if out, err := r.PCA.Exec(ctx, "ping", "-n", "-q", "-c", "5", "-i", "0.2", "-W", "1", scenario.HostC); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	after, err := forwarded()
	if err == nil && after-before < 10 {
		err = fmt.Errorf("gw-b forwarded %d packets during 5 pings, want at least 10", after-before)
	}
	return err
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}

// sceneTwoSites: an office behind masquerade NAT and a VPC behind 1:1 NAT,
// linked by static peers.
func sceneTwoSites(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	w := d.w
	fmt.Fprintf(w, "\n2. An office behind masquerade NAT and a VPC behind 1:1 NAT, static peers\n")
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
	show(ctx, &indent{w: w}, ts.OfficeGW, "status")
	ts.OfficeGW.Stop()
	return ts.VPCGW.Stop()
}

// sceneOverlap: two VPCs with the same CIDR, reached by the members of
// their projects under different wire prefixes.
func sceneOverlap(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	fmt.Fprintf(d.w, "\n3. Two VPCs using the same CIDR (10.0.0.0/24, 10.0.0.0/25), one per project; an office with\n"+
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
	fmt.Fprintf(d.w, "\n4. Six gateways (two behind masquerade NAT) with one root key and one join address each\n")
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
	show(ctx, &indent{w: d.w}, m.Site("office1").GW, "routes")
	return nil
}

// sceneHA: an HA pair in a VPC whose route table (the EC2 stand-in) the
// VPC router follows; the active member is killed.
func sceneHA(ctx context.Context, d *demo, l *lab.Lab, bin string) error {
	fmt.Fprintf(d.w, "\n5. An HA pair in VPC A (gw-a1 priority 200, gw-a2 100) behind an EC2 route table; gw-a1 is killed\n")
	h, err := scenario.BuildHA(l, bin, 0, 3000, "") // default probing, a short hold-down
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
	d.check(fmt.Sprintf("kill -9 gw-a1: a 10/s ping stream lost %v (default probing)", gap), killErr)
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
	fmt.Fprintf(d.w, "\n6. NAT traversal: public, 1:1 NAT (both relays), two masquerades, two random-port NATs\n")
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
