package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// tunnelMTU is the MTU of every tunnel interface but OpenVPN's: WireGuard's
// default, and the one vpcmesh derives from a 1500-byte underlay.
const tunnelMTU = 1420

// upTimeout bounds the wait for a tunnel to carry its first ping.
const upTimeout = 15 * time.Second

// pair makes the leg's namespaces "<key>-left" and "<key>-right" joined by
// one veth, the underlay: 198.18.<n>.1/30 in left, .2 in right, the same
// for every leg. It sets lg.client and lg.server and returns both underlay
// addresses.
func pair(e *env, lg *leg) (leftIP, rightIP string, err error) {
	e.underlayNo++
	leftIP, rightIP = fmt.Sprintf("198.18.%d.1", e.underlayNo), fmt.Sprintf("198.18.%d.2", e.underlayNo)
	if lg.client, err = e.lab.NS(lg.key + "-left"); err != nil {
		return
	}
	if lg.server, err = e.lab.NS(lg.key + "-right"); err != nil {
		return
	}
	err = e.lab.Wire(lg.client, "under-l", leftIP+"/30", lg.server, "under-r", rightIP+"/30")
	return
}

// waitPing waits until the client reaches dst (from src when set).
func waitPing(ctx context.Context, n *lab.NS, src, dst string) error {
	args := []string{"ping", "-n", "-q", "-c", "1", "-W", "1", dst}
	if src != "" {
		args = append(args, "-I", src)
	}
	return lab.Eventually(ctx, upTimeout, func() error {
		_, err := n.Exec(ctx, args...)
		return err
	})
}

// setupRaw: iperf3 straight across the underlay veth.
func setupRaw(ctx context.Context, e *env, lg *leg) error {
	_, right, err := pair(e, lg)
	if err != nil {
		return err
	}
	lg.dst, lg.listen = right, right
	lg.note = "the underlay veth, MTU 1500"
	return waitPing(ctx, lg.client, "", right)
}

// setupRefWG: the reference wireguard-go binary in both namespaces, set up
// with wg; iperf3 between the tunnel addresses 10.200.0.1 and .2.
func setupRefWG(ctx context.Context, e *env, lg *leg) error {
	_, right, err := pair(e, lg)
	if err != nil {
		return err
	}
	lpriv, _, err := lab.GenKey()
	if err != nil {
		return err
	}
	rpriv, _, err := lab.GenKey()
	if err != nil {
		return err
	}
	// The UAPI socket directory is machine-wide: the names carry the lab ID.
	lwg, err := lg.client.StartReferenceWireGuard(e.wireguard, "wg"+e.lab.ID+"l", lpriv, 51820, "10.200.0.1/24")
	if err != nil {
		return err
	}
	rwg, err := lg.server.StartReferenceWireGuard(e.wireguard, "wg"+e.lab.ID+"r", rpriv, 51820, "10.200.0.2/24")
	if err != nil {
		return err
	}
	for _, w := range []struct {
		ns  *lab.NS
		dev string
	}{{lg.client, lwg.Iface}, {lg.server, rwg.Iface}} {
		if err := w.ns.SetMTU(w.dev, tunnelMTU); err != nil {
			return err
		}
	}
	// As the vpcmesh leg: left knows right's endpoint, right learns left's.
	if err := lwg.AddPeer(ctx, rwg.PublicKey, right+":51820", []string{"10.200.0.2/32"}, 0); err != nil {
		return err
	}
	if err := rwg.AddPeer(ctx, lwg.PublicKey, "", []string{"10.200.0.1/32"}, 0); err != nil {
		return err
	}
	lg.dst, lg.listen = "10.200.0.2", "10.200.0.2"
	lg.pids = []int{lwg.Proc.Pid(), rwg.Proc.Pid()}
	lg.note = fmt.Sprintf("%s, MTU %d", e.wireguard, tunnelMTU)
	return waitPing(ctx, lg.client, "", lg.dst)
}

// The vpcmesh leg's addresses. The left site is an office whose address
// 192.168.0.1 is a member of project alpha; the right site is a VPC
// 10.0.0.0/24 exported to alpha under the wire prefix 100.100.1.0/24. The
// client in left sends to 100.100.1.1 from 192.168.0.1: the right gateway
// translates the destination to 10.0.0.1, where the server listens, and
// the source of the replies back to 100.100.1.1; both gateways check the
// ACL on every packet.
const (
	vmOfficeLAN  = "192.168.0.0/24"
	vmOfficeHost = "192.168.0.1"
	vmVPCLAN     = "10.0.0.0/24"
	vmVPCHost    = "10.0.0.1"
	vmVPCWire    = "100.100.1.0/24"
	vmVPCHostWir = "100.100.1.1"
	vmLeftMesh   = "100.96.0.1"
	vmRightMesh  = "100.96.0.2"
	vmProject    = "alpha"
)

func setupVPCMesh(ctx context.Context, e *env, lg *leg) error {
	return vpcmeshPair(ctx, e, lg, e.vpcmesh, true)
}

// setupVPCMeshVs is the vpcmesh leg run by the -vs build: two builds side
// by side in one run, each round measuring both within seconds, tell a
// change to the data path from the machine's drift.
func setupVPCMeshVs(ctx context.Context, e *env, lg *leg) error {
	if e.vpcmeshVs == "" {
		return errors.New("the vpcmesh-vs leg needs -vs BINARY")
	}
	return vpcmeshPair(ctx, e, lg, e.vpcmeshVs, true)
}

// setupVPCMeshPlain is the same pair of gateways as a plain site-to-site
// link: no project, no mapping, so nothing is translated (the ACL still
// checks that the addresses belong to the sites). Off by default; beside
// the vpcmesh leg it tells the cost of translation from that of the rest.
func setupVPCMeshPlain(ctx context.Context, e *env, lg *leg) error {
	return vpcmeshPair(ctx, e, lg, e.vpcmesh, false)
}

// vpcmeshPair runs the vpcmesh binary bin as a gateway in each namespace
// of the leg; with translate, as the constants above describe, else as a
// plain link.
func vpcmeshPair(ctx context.Context, e *env, lg *leg, bin string, translate bool) error {
	left, right, err := pair(e, lg)
	if err != nil {
		return err
	}
	// The sites' hosts are the gateways' namespaces themselves, as the
	// reference wireguard-go leg's are: their addresses sit on lo.
	if _, err := lg.client.Exec(ctx, "ip", "addr", "add", vmOfficeHost+"/32", "dev", "lo"); err != nil {
		return err
	}
	if _, err := lg.server.Exec(ctx, "ip", "addr", "add", vmVPCHost+"/32", "dev", "lo"); err != nil {
		return err
	}
	lspec := scenario.GatewaySpec{Name: lg.key + "-left", NS: lg.client, Overlay: vmLeftMesh, SiteName: "office",
		CIDRs: []string{vmOfficeLAN}, MTU: tunnelMTU}
	rspec := scenario.GatewaySpec{Name: lg.key + "-right", NS: lg.server, Overlay: vmRightMesh, SiteName: "vpc",
		CIDRs: []string{vmVPCLAN}, MTU: tunnelMTU}
	project, remote, dst := "", vmVPCLAN, vmVPCHost
	if translate {
		project, remote, dst = vmProject, vmVPCWire, vmVPCHostWir
		lspec.Exports = []scenario.ExportSpec{{Project: vmProject, CIDR: vmOfficeLAN}}
		lspec.Members = []scenario.MemberSpec{{Project: vmProject, Sources: []string{vmOfficeHost + "/32"}}}
		rspec.Exports = []scenario.ExportSpec{{Project: vmProject, CIDR: vmVPCLAN, Mapped: vmVPCWire}}
		rspec.Members = []scenario.MemberSpec{{Project: vmProject, Sources: []string{vmVPCLAN}}}
	}
	lgw, err := scenario.NewGateway(e.lab, bin, lspec)
	if err != nil {
		return err
	}
	rgw, err := scenario.NewGateway(e.lab, bin, rspec)
	if err != nil {
		return err
	}
	lgw.Peers = []scenario.PeerSpec{{Name: "right", PublicKey: rgw.PublicKey, Endpoint: right + ":51820",
		Prefixes: []string{remote, vmRightMesh + "/32"}, Project: project}}
	rgw.Peers = []scenario.PeerSpec{{Name: "left", PublicKey: lgw.PublicKey,
		Prefixes: []string{vmOfficeLAN, vmLeftMesh + "/32"}, Project: project}}
	for _, g := range []*scenario.Gateway{lgw, rgw} {
		if err := g.WriteConfig(); err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, bin, "check", "-c", g.ConfigPath).CombinedOutput(); err != nil {
			return fmt.Errorf("vpcmesh check %s: %w\n%s", g.Name, err, out)
		}
	}
	for _, g := range []*scenario.Gateway{rgw, lgw} {
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	lg.dst, lg.bind, lg.listen = dst, vmOfficeHost, vmVPCHost
	lg.pids = []int{lgw.Pid(), rgw.Pid()}
	if translate {
		lg.note = fmt.Sprintf("%s, MTU %d, project %s, %s → %s (wire %s), MSS clamp on", bin, tunnelMTU,
			vmProject, vmOfficeHost, vmVPCHost, vmVPCHostWir)
	} else {
		lg.note = fmt.Sprintf("%s, MTU %d, plain link, %s → %s untranslated, MSS clamp on", bin, tunnelMTU,
			vmOfficeHost, vmVPCHost)
	}
	if err := waitPing(ctx, lg.client, vmOfficeHost, dst); err != nil {
		return fmt.Errorf("%w\n%s log:\n%s\n%s log:\n%s", err, lgw.Name, lgw.Log(), rgw.Name, rgw.Log())
	}
	if err := aclCheck(ctx, e, lg, lgw, left); err != nil {
		return err
	}
	lg.after = func(ctx context.Context, w io.Writer) {
		for _, g := range []*scenario.Gateway{lgw, rgw} {
			fmt.Fprintf(w, "%s packet counters: %s\n", g.Name, packetCounters(ctx, e, g))
		}
	}
	return nil
}

// aclCheck shows the ACL is on the path: from a source that is neither a
// member nor a site address (the left end of the underlay), the leg's
// destination is not reachable.
func aclCheck(ctx context.Context, e *env, lg *leg, gw *scenario.Gateway, src string) error {
	before := packetCounters(ctx, e, gw)
	if _, err := lg.client.Exec(ctx, "ping", "-n", "-q", "-c", "1", "-W", "1", "-I", src, lg.dst); err == nil {
		return fmt.Errorf("ACL not on the path: %s reached %s from %s, which is neither a member nor a site address", lg.client, lg.dst, src)
	}
	lg.details = append(lg.details, fmt.Sprintf("ACL check: %s → %s (neither member nor site address) blocked; %s outbound counters before %s, after %s",
		src, lg.dst, gw.Name, pick(before, "outbound"), pick(packetCounters(ctx, e, gw), "outbound")))
	return nil
}

// packetCounters reads `vpcmesh status --json` and returns its packet
// counters, whatever fields they have, as "direction.counter=n" words. It
// reads the JSON generically, so that a change of the status schema costs
// this line and not the measurement.
func packetCounters(ctx context.Context, e *env, g *scenario.Gateway) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.vpcmesh, "status", "--json", "-s", g.Socket).Output()
	if err != nil {
		return fmt.Sprintf("(status: %v)", err)
	}
	var st map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber() // counters print as integers
	if err := dec.Decode(&st); err != nil {
		return fmt.Sprintf("(status: %v)", err)
	}
	p, ok := st["packets"]
	if !ok {
		return "(status has no packet counters)"
	}
	var words []string
	flatten("", p, &words)
	slices.Sort(words)
	return strings.Join(words, " ")
}

func flatten(prefix string, v any, words *[]string) {
	m, ok := v.(map[string]any)
	if !ok {
		*words = append(*words, fmt.Sprintf("%s=%v", prefix, v))
		return
	}
	for k, x := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, x, words)
	}
}

// pick keeps the words of packetCounters that start with prefix, without it.
func pick(counters, prefix string) string {
	var kept []string
	for _, w := range strings.Fields(counters) {
		if rest, ok := strings.CutPrefix(w, prefix+"."); ok {
			kept = append(kept, rest)
		}
	}
	if len(kept) == 0 {
		return counters
	}
	return "[" + strings.Join(kept, " ") + "]"
}
