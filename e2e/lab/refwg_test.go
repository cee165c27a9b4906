package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// referenceWireGuard finds the binary; CI must have it (e2e/setup.sh).
func referenceWireGuard(t *testing.T) string {
	t.Helper()
	bin, err := FindReferenceWireGuard()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bin
}

// Two reference wireguard-go peers on one wire reach each other through the
// tunnel:
//
//	a: wga<ID> 10.9.0.1, eth0 10.1.0.1 ── b: wgb<ID> 10.9.0.2, eth0 10.1.0.2
func TestReferenceWireGuardPair(t *testing.T) {
	l, ctx := newTestLab(t)
	bin := referenceWireGuard(t)
	a, err := l.NS("a")
	must(t, err)
	b, err := l.NS("b")
	must(t, err)
	must(t, l.Wire(a, "eth0", "10.1.0.1/24", b, "eth0", "10.1.0.2/24"))
	privA, pubA, err := GenKey()
	must(t, err)
	privB, pubB, err := GenKey()
	must(t, err)

	wa, err := a.StartReferenceWireGuard(bin, "wga"+l.ID, privA, 51820, "10.9.0.1/32")
	must(t, err)
	wb, err := b.StartReferenceWireGuard(bin, "wgb"+l.ID, privB, 51820, "10.9.0.2/32")
	must(t, err)
	if wa.PublicKey != pubA || wb.PublicKey != pubB {
		t.Fatalf("public keys %s %s, want %s %s", wa.PublicKey, wb.PublicKey, pubA, pubB)
	}
	must(t, wa.AddPeer(ctx, pubB, "10.1.0.2:51820", []string{"10.9.0.2/32"}, 0))
	must(t, wb.AddPeer(ctx, pubA, "", []string{"10.9.0.1/32"}, 25))

	start := time.Now()
	must(t, Eventually(ctx, 10*time.Second, func() error { return a.Ping(ctx, "10.9.0.2") }))
	t.Logf("first ping through the tunnel after %v", time.Since(start).Round(time.Millisecond))
	must(t, b.Ping(ctx, "10.9.0.1"))
	res, err := a.TCPTransfer(ctx, b, "10.9.0.2", 8<<20)
	must(t, err)
	if res.RemoteAddr.Addr().String() != "10.9.0.1" {
		t.Errorf("b saw the transfer from %v, want the tunnel address 10.9.0.1", res.RemoteAddr)
	}
	t.Logf("8 MiB through reference wireguard-go in %v", res.Duration.Round(time.Millisecond))
	// b learnt a's endpoint from the handshake.
	if out, err := b.Exec(ctx, "wg", "show", wb.Iface, "endpoints"); err != nil || !strings.Contains(out, "10.1.0.1:51820") {
		t.Errorf("b's endpoint for a: %q %v", out, err)
	}

	must(t, l.Close())
	for _, iface := range []string{wa.Iface, wb.Iface} {
		if _, err := os.Stat(filepath.Join(uapiDir, iface+".sock")); !os.IsNotExist(err) {
			t.Errorf("UAPI socket of %s left after Close: %v", iface, err)
		}
	}
}

// The walking-skeleton topology with the reference wireguard-go on both
// gateways instead of vpcmesh: proves the lab carries a tunnel across
// masquerade (with either mapping) and 1:1 NAT, so an e2e failure in the
// same topology points at vpcmesh, not the lab.
//
//	office-pc 192.168.0.50 ─ office-r (NAT 203.0.113.10) ─ inet ─ vpca-r (1:1 203.0.113.20) ─ vpca-host 10.0.0.20
//	office-gw 192.168.0.2 ─┘  (dials, keepalive)                   (learns the endpoint) └─ vpca-gw 10.0.0.2
func TestReferenceWireGuardAcrossNAT(t *testing.T) {
	for _, nat := range []NATKind{NATMasquerade, NATRandom} {
		t.Run(nat.String(), func(t *testing.T) {
			l, ctx := newTestLab(t)
			bin := referenceWireGuard(t)
			office, err := l.AddSite(SiteSpec{Name: "office", NAT: nat, PublicIP: "203.0.113.10", LAN: "192.168.0.0/24",
				Hosts: map[string]string{"pc": "192.168.0.50"}, MeshRoutes: []string{"10.0.0.0/24"}})
			must(t, err)
			vpc, err := l.AddSite(SiteSpec{Name: "vpca", NAT: NATOneToOne, PublicIP: "203.0.113.20", LAN: "10.0.0.0/24",
				Hosts: map[string]string{"host": "10.0.0.20"}, MeshRoutes: []string{"192.168.0.0/24"}})
			must(t, err)
			privO, pubO, err := GenKey()
			must(t, err)
			privV, pubV, err := GenKey()
			must(t, err)
			for _, gw := range []*NS{office.Gateway, vpc.Gateway} {
				must(t, gw.Forwarding(true)) // vpcmesh's job, done by hand here
			}
			wo, err := office.Gateway.StartReferenceWireGuard(bin, "wgo"+l.ID, privO, 51820, "100.96.0.1/32")
			must(t, err)
			wv, err := vpc.Gateway.StartReferenceWireGuard(bin, "wgv"+l.ID, privV, 51820, "100.96.0.2/32")
			must(t, err)
			// The listening side first: with keepalive set, the office
			// handshakes at once, and an initiation the VPC side cannot yet
			// place is dropped and retried only after 5 s (REKEY_TIMEOUT).
			must(t, wv.AddPeer(ctx, pubO, "", []string{"192.168.0.0/24", "100.96.0.1/32"}, 0))
			must(t, wo.AddPeer(ctx, pubV, "203.0.113.20:51820", []string{"10.0.0.0/24", "100.96.0.2/32"}, 25))
			start := time.Now()

			pc, host := office.Hosts["pc"], vpc.Hosts["host"]
			must(t, Eventually(ctx, 10*time.Second, func() error { return pc.Ping(ctx, "10.0.0.20") }))
			t.Logf("pc-a reached host-a %v after the peers were set", time.Since(start).Round(time.Millisecond))
			must(t, host.Ping(ctx, "192.168.0.50"))
			wantSource(t, ctx, pc, host, "10.0.0.20", "192.168.0.50")
			wantSource(t, ctx, host, pc, "192.168.0.50", "10.0.0.20")
			out, err := vpc.Gateway.Exec(ctx, "wg", "show", wv.Iface, "endpoints")
			must(t, err)
			if !strings.Contains(out, "\t203.0.113.10:") {
				t.Errorf("vpca-gw sees office-gw at %q, want the office router's public address", out)
			}
			t.Logf("vpca-gw's endpoint for office-gw: %s", strings.TrimSpace(out))
		})
	}
}
