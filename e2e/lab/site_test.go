package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// A public site that others reach by its public IP:
//
//	pub-gw wan 203.0.113.30 ─ inet ─ <site under test>
func publicSite(t *testing.T, l *Lab) *Site {
	t.Helper()
	s, err := l.AddSite(SiteSpec{Name: "pub", NAT: NATNone, PublicIP: "203.0.113.30", LAN: "172.16.5.0/24",
		Hosts: map[string]string{"srv": "172.16.5.20"}})
	must(t, err)
	return s
}

// wantSource transfers from → to and checks the source address to saw.
func wantSource(t *testing.T, ctx context.Context, from, to *NS, addr, want string) {
	t.Helper()
	res, err := from.TCPTransfer(ctx, to, addr, 1<<20)
	must(t, err)
	if got := res.RemoteAddr.Addr().String(); got != want {
		t.Errorf("%s → %s (%s): server saw %s, want %s", from, to, addr, got, want)
	}
}

// Behind masquerade the internet sees the router's address, cannot reach
// the LAN, and (with random ports) sees one socket under a new port per
// destination.
//
//	office-pc 192.168.0.50, office-gw .2 ─ office-r (NAT, 203.0.113.10) ─ inet ─ pub-gw 203.0.113.30
func TestMasqueradeSite(t *testing.T) {
	for _, nat := range []NATKind{NATMasquerade, NATRandom} {
		t.Run(nat.String(), func(t *testing.T) {
			l, ctx := newTestLab(t)
			pub := publicSite(t, l)
			office, err := l.AddSite(SiteSpec{Name: "office", NAT: nat, PublicIP: "203.0.113.10",
				LAN: "192.168.0.0/24", Hosts: map[string]string{"pc": "192.168.0.50"}})
			must(t, err)
			pc := office.Hosts["pc"]

			wantSource(t, ctx, pc, pub.Gateway, "203.0.113.30", "203.0.113.10")
			wantSource(t, ctx, office.Gateway, pub.Gateway, "203.0.113.30", "203.0.113.10")
			if err := pub.Gateway.Ping(ctx, "192.168.0.50"); err == nil {
				t.Error("the internet reached a private LAN host")
			}
			ports := udpSourcePorts(t, ctx, pc, pub.Gateway, "203.0.113.30")
			t.Logf("one inner UDP socket seen from two destinations as ports %v", ports)
			if dependent := ports[0] != ports[1]; dependent != (nat == NATRandom) {
				t.Errorf("%v: ports %v, want endpoint-dependent mapping only with random ports", nat, ports)
			}
		})
	}
}

// A cloud edge: the gateway's public IP maps 1:1 in both directions, the
// other hosts are masqueraded behind it, the router sends MeshRoutes to the
// gateway.
//
//	vpca-host 10.0.0.20, vpca-gw .2 ─ vpca-r (1:1 203.0.113.20 ↔ 10.0.0.2) ─ inet ─ pub-gw 203.0.113.30
func TestOneToOneSite(t *testing.T) {
	l, ctx := newTestLab(t)
	pub := publicSite(t, l)
	vpc, err := l.AddSite(SiteSpec{Name: "vpca", NAT: NATOneToOne, PublicIP: "203.0.113.20", LAN: "10.0.0.0/24",
		Hosts: map[string]string{"host": "10.0.0.20"}, MeshRoutes: []string{"10.99.0.0/24"}})
	must(t, err)
	gw, host := vpc.Gateway, vpc.Hosts["host"]

	wantSource(t, ctx, pub.Gateway, gw, "203.0.113.20", "203.0.113.30")
	wantSource(t, ctx, gw, pub.Gateway, "203.0.113.30", "203.0.113.20")
	wantSource(t, ctx, host, pub.Gateway, "203.0.113.30", "203.0.113.20")
	// A public gateway routes its own LAN: its host is reachable from it.
	must(t, pub.Gateway.Ping(ctx, "172.16.5.20"))

	// The router's mesh route leads to the gateway: give the gateway an
	// address in it and ping that from the host.
	_, err = gw.Exec(ctx, "ip", "addr", "add", "10.99.0.1/32", "dev", "lo")
	must(t, err)
	must(t, host.Ping(ctx, "10.99.0.1"))
	if out, err := vpc.Router.Exec(ctx, "ip", "route", "get", "10.99.0.1"); err != nil || !strings.Contains(out, "via 10.0.0.2") {
		t.Errorf("router's route to the mesh: %q %v", out, err)
	}
	if out, _ := gw.Exec(ctx, "sysctl", "-n", "net.ipv4.ip_forward"); strings.TrimSpace(out) != "0" {
		t.Errorf("gateway forwarding = %q, want it left to vpcmesh (0)", out)
	}
}

// udpSourcePorts sends one datagram from one socket in from to two ports
// of addr, where to listens, and returns the source port each listener saw.
func udpSourcePorts(t *testing.T, ctx context.Context, from, to *NS, addr string) [2]int {
	t.Helper()
	var ls [2]*net.UDPConn
	must(t, to.Do(func() (err error) {
		for i := range ls {
			if ls[i], err = net.ListenUDP("udp4", &net.UDPAddr{}); err != nil {
				return err
			}
		}
		return nil
	}))
	var c *net.UDPConn
	must(t, from.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 40000})
		return err
	}))
	defer c.Close()
	var ports [2]int
	for i, l := range ls {
		defer l.Close()
		dst := &net.UDPAddr{IP: net.ParseIP(addr), Port: l.LocalAddr().(*net.UDPAddr).Port}
		// Datagrams may be lost while ARP resolves; send until one arrives.
		must(t, Eventually(ctx, 5*time.Second, func() error {
			if _, err := c.WriteToUDP([]byte("probe"), dst); err != nil {
				return err
			}
			l.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, src, err := l.ReadFromUDP(make([]byte, 16))
			if err != nil {
				return fmt.Errorf("probe to %v: %w", dst, err)
			}
			ports[i] = src.Port
			return nil
		}))
	}
	return ports
}

// Two gateways behind masquerading routers punch a hole to each other even
// when the first packet reaches the other router before the gateway there
// has sent anything: its router's firewall drops that packet instead of
// confirming a conntrack entry that would push the gateway's own packets
// out under another port.
//
//	a-gw .2 ─ a-r (NAT, 203.0.113.41) ─ inet ─ b-r (NAT, 203.0.113.42) ─ b-gw .2
func TestHolePunchBetweenMasquerades(t *testing.T) {
	l, ctx := newTestLab(t)
	a, err := l.AddSite(SiteSpec{Name: "a", NAT: NATMasquerade, PublicIP: "203.0.113.41", LAN: "10.41.0.0/24"})
	must(t, err)
	b, err := l.AddSite(SiteSpec{Name: "b", NAT: NATMasquerade, PublicIP: "203.0.113.42", LAN: "10.42.0.0/24"})
	must(t, err)
	// Routers answer pings on the WAN: this also resolves ARP all the way.
	must(t, Eventually(ctx, 5*time.Second, func() error { return a.Gateway.Ping(ctx, b.PublicIP) }))
	must(t, Eventually(ctx, 5*time.Second, func() error { return b.Gateway.Ping(ctx, a.PublicIP) }))

	const port = 51820
	sock := func(n *NS) *net.UDPConn {
		var c *net.UDPConn
		must(t, n.Do(func() (err error) {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
			return err
		}))
		t.Cleanup(func() { c.Close() })
		return c
	}
	ca, cb := sock(a.Gateway), sock(b.Gateway)
	toA := &net.UDPAddr{IP: net.ParseIP(a.PublicIP), Port: port}
	toB := &net.UDPAddr{IP: net.ParseIP(b.PublicIP), Port: port}

	// a first: b's router gets it before b-gw has sent anything, and drops it.
	dropped := func() int {
		out, err := b.Router.Exec(ctx, "nft", "list", "chain", "ip", natTable, "fw_in_wan")
		must(t, err)
		var n int
		if i := strings.Index(out, "counter packets "); i >= 0 {
			fmt.Sscan(out[i+len("counter packets "):], &n)
		}
		return n
	}
	before := dropped()
	_, err = ca.WriteToUDP([]byte("a1"), toB)
	must(t, err)
	must(t, Eventually(ctx, 5*time.Second, func() error {
		if dropped() == before {
			return fmt.Errorf("b's router has not dropped a's first packet yet")
		}
		return nil
	}))

	// Each way, what the receiving gateway sees as the source must be the
	// other router's address with the gateway's own port kept.
	exchange := func(from, to *net.UDPConn, dst *net.UDPAddr, want string) {
		t.Helper()
		must(t, Eventually(ctx, 5*time.Second, func() error {
			if _, err := from.WriteToUDP([]byte("punch"), dst); err != nil {
				return err
			}
			to.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, src, err := to.ReadFromUDP(make([]byte, 16))
			if err != nil {
				return fmt.Errorf("to %v: %w", dst, err)
			}
			if src.String() != want {
				t.Fatalf("received from %v, want %s: the router changed the source port", src, want)
			}
			return nil
		}))
	}
	exchange(cb, ca, toA, toB.String())
	exchange(ca, cb, toB, toA.String())
}
