package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
	"github.com/vpcmesh/vpcmesh/mesh"
)

// A host must not reach another project's hosts in the shape of an ICMP
// error. The lab of TestTransparentProjectsAndUsers, without its users:
// alpha's VPC and beta's overlap (10.0.0.0/24 and 10.0.0.0/25, a host at
// 10.0.0.20 in each), and the office's pc-a (alpha) and pc-b (beta) reach
// their own project's 10.0.0.20 at that real address. So pc-b's kernel, and
// office-gw's, send 10.0.0.20 into the tunnel for pc-b. pc-b sends
// "fragmentation needed, MTU 68" to 10.0.0.20, quoting an echo reply that
// alpha's 10.0.0.20 sent to pc-a: were its quote all that counted,
// office-gw would send it to alpha's host (the quote's destination pc-a
// says which 10.0.0.20 it is), and that host would lower its path MTU to
// pc-a to the minimum. office-gw must drop it and count the drop; then the
// same error from pc-a itself, which may send it, arrives, so the check on
// alpha's host can tell.
func TestICMPErrorAcrossProjectsDropped(t *testing.T) {
	l, ctx := newLab(t)
	trust, err := scenario.NewTrust(l, vpcmeshBin, "lab")
	must(t, err)
	vpca, err := scenario.AddGossipSite(l, vpcmeshBin, trust, scenario.GossipSiteSpec{Name: "vpca", NAT: lab.NATOneToOne,
		Public: "203.0.113.20", LAN: "10.0.0.0/24", Host: "10.0.0.20", Join: "203.0.113.22:51820", Overlay: "100.96.0.2",
		Project: "alpha", Mapped: scenario.VPCAWire, MeshRoutes: []string{scenario.OfficeLAN}})
	must(t, err)
	vpcb, err := scenario.AddGossipSite(l, vpcmeshBin, trust, scenario.GossipSiteSpec{Name: "vpcb", NAT: lab.NATOneToOne,
		Public: "203.0.113.22", LAN: "10.0.0.0/25", Host: "10.0.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.3",
		Project: "beta", Mapped: scenario.VPCBWire, MeshRoutes: []string{scenario.OfficeLAN}})
	must(t, err)
	office, err := l.AddSite(lab.SiteSpec{Name: "office", NAT: lab.NATMasquerade, PublicIP: "203.0.113.10", LAN: scenario.OfficeLAN,
		Hosts:      map[string]string{"pc-a": scenario.PCA, "pc-b": scenario.PCB},
		MeshRoutes: []string{"10.0.0.0/24", "100.100.0.0/16"}})
	must(t, err)
	gw, err := scenario.NewGateway(l, vpcmeshBin, scenario.GatewaySpec{Name: "office-gw", NS: office.Gateway, Overlay: "100.96.0.1",
		SiteName: "office", CIDRs: []string{scenario.OfficeLAN}, Trust: trust, Join: []string{"203.0.113.20:51820"},
		Members: []scenario.MemberSpec{
			{Project: "alpha", Sources: []string{scenario.PCA + "/32"}, Transparent: true},
			{Project: "beta", Sources: []string{scenario.PCB + "/32"}, Transparent: true},
		}})
	must(t, err)
	m := &scenario.GossipMesh{Trust: trust, Sites: []*scenario.GossipSite{vpca, vpcb, {Site: office, GW: gw}}}
	t.Cleanup(func() { dumpLogsIfAsked(t, m) })
	must(t, m.Start(ctx))
	pcA, pcB, hostA := office.Hosts["pc-a"], office.Hosts["pc-b"], vpca.Host

	// Both paths up: each member reaches its own project's 10.0.0.20.
	must(t, lab.Eventually(ctx, 20*time.Second, func() error { return pcA.Ping(ctx, "10.0.0.20") }))
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return pcB.Ping(ctx, "10.0.0.20") }))

	seen, err := listenFragNeeded(hostA)
	must(t, err)
	t.Cleanup(seen.close)
	const attackID, controlID = 0xbad0, 0x600d
	before := packetStats(t, ctx, gw)

	must(t, sendICMP(pcB, scenario.PCB, "10.0.0.20", fragNeeded("10.0.0.20", scenario.PCA, attackID)))
	// Judged by its quote alone, the error passes office-gw's packet path,
	// and nothing else there counts ACL drops: the counter rising says the
	// packet path saw this error and refused it.
	err = lab.Eventually(ctx, 5*time.Second, func() error {
		if after := packetStats(t, ctx, gw); after.Outbound.DroppedACL == before.Outbound.DroppedACL {
			return fmt.Errorf("office-gw's outbound ACL drops stay at %d (passed %d → %d)",
				before.Outbound.DroppedACL, before.Outbound.Passed, after.Outbound.Passed)
		}
		return nil
	})
	if err != nil {
		t.Errorf("pc-b's error to alpha's host: %v", err)
	}
	if out := routeTo(t, ctx, hostA, scenario.PCA); strings.Contains(out, " mtu ") {
		t.Errorf("alpha's host lowered its path MTU to pc-a after pc-b's error:\n%s", out)
	}

	// The same error from pc-a, a member of alpha answering for a packet
	// it got, arrives; and alpha's host lowers its path MTU to pc-a. It
	// went the way pc-b's would have, after it: had pc-b's arrived, it
	// would be here by now.
	must(t, sendICMP(pcA, scenario.PCA, "10.0.0.20", fragNeeded("10.0.0.20", scenario.PCA, controlID)))
	if err := lab.Eventually(ctx, 10*time.Second, func() error { return seen.has(controlID) }); err != nil {
		t.Fatalf("pc-a's error to alpha's host: %v; the check cannot tell\n%s", err, gw.Log())
	}
	if out := routeTo(t, ctx, hostA, scenario.PCA); !strings.Contains(out, " mtu ") {
		t.Errorf("alpha's host kept its path MTU to pc-a after pc-a's error: the route check cannot tell\n%s", out)
	}
	if err := seen.has(attackID); err == nil {
		t.Errorf("alpha's host got pc-b's \"fragmentation needed\": %s", seen)
	}
	t.Logf("office-gw packets before %+v, after %+v; alpha's host got: %s", before, packetStats(t, ctx, gw), seen)
}

func packetStats(t *testing.T, ctx context.Context, g *scenario.Gateway) mesh.PacketStats {
	t.Helper()
	st, err := g.Status(ctx)
	must(t, err)
	return st.Packets
}

// routeTo is `ip route get dst` in n: a path MTU learned shows as "mtu".
func routeTo(t *testing.T, ctx context.Context, n *lab.NS, dst string) string {
	t.Helper()
	out, err := n.Exec(ctx, "ip", "-4", "route", "get", dst)
	must(t, err)
	return out
}

// fragNeeded is an ICMP "fragmentation needed" with next-hop MTU 68 that
// quotes an echo reply from src to dst with identifier id: its IP header
// and the first 8 bytes of the ICMP message, as RFC 792 asks. Linux lowers
// the path MTU to dst on an error quoting an echo reply without looking
// for a socket (icmp_err).
func fragNeeded(src, dst string, id uint16) []byte {
	q := make([]byte, 28)
	q[0] = 0x45
	binary.BigEndian.PutUint16(q[2:], 84) // a default ping's reply
	binary.BigEndian.PutUint16(q[4:], id)
	q[6], q[8], q[9] = 0x40, 64, 1 // DF, TTL, ICMP
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(q[12:], s[:])
	copy(q[16:], d[:])
	binary.BigEndian.PutUint16(q[10:], inetChecksum(q[:20]))
	binary.BigEndian.PutUint16(q[24:], id) // echo reply: type 0, code 0, checksum, id, seq
	binary.BigEndian.PutUint16(q[26:], 1)
	msg := append([]byte{3, 4, 0, 0, 0, 0, 0, 68}, q...)
	binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
	return msg
}

func inetChecksum(b []byte) uint16 {
	var sum uint32
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// sendICMP sends the ICMP message msg from src to dst through a raw socket
// in n; the kernel adds the IP header.
func sendICMP(n *lab.NS, src, dst string, msg []byte) error {
	return n.Do(func() error {
		c, err := net.ListenIP("ip4:icmp", &net.IPAddr{IP: net.ParseIP(src)})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteToIP(msg, &net.IPAddr{IP: net.ParseIP(dst)})
		return err
	})
}

// fragSeen collects the "fragmentation needed" errors a namespace gets, by
// the identifier of the echo reply they quote.
type fragSeen struct {
	c    *net.IPConn
	mu   sync.Mutex
	from map[uint16][]string // quoted id → outer sources
	done chan struct{}
}

// listenFragNeeded opens a raw ICMP socket in n (it gets a copy of every
// ICMP message the namespace receives) and reads it until close.
func listenFragNeeded(n *lab.NS) (*fragSeen, error) {
	s := &fragSeen{from: map[uint16][]string{}, done: make(chan struct{})}
	err := n.Do(func() error {
		var err error
		s.c, err = net.ListenIP("ip4:icmp", nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	go s.read()
	return s, nil
}

func (s *fragSeen) read() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.c.ReadFromIP(buf) // the IP header stripped
		if err != nil {
			return
		}
		m := buf[:n]
		if len(m) < 8+20+8 || m[0] != 3 || m[1] != 4 || m[8]>>4 != 4 {
			continue
		}
		ihl := int(m[8]&0x0f) * 4
		if len(m) < 8+ihl+8 || m[8+9] != 1 {
			continue
		}
		id := binary.BigEndian.Uint16(m[8+ihl+4:])
		s.mu.Lock()
		s.from[id] = append(s.from[id], from.IP.String())
		s.mu.Unlock()
	}
}

// has reports whether an error quoting id arrived.
func (s *fragSeen) has(id uint16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.from[id]) == 0 {
		return errors.New("no \"fragmentation needed\" arrived")
	}
	return nil
}

func (s *fragSeen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for id, from := range s.from {
		parts = append(parts, fmt.Sprintf("id %#x from %v", id, from))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

func (s *fragSeen) close() {
	s.c.Close()
	<-s.done
}
