package nat

import (
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/nat/nattest"
)

// icmpErrorPair builds an ICMP error twice: as a local host (or router)
// sends it about the quoted packet, and as it must leave: outer addresses
// from/to, quoting the same packet with the addresses it had on the other
// side of the gateway, each built and checksummed in full. quoteLen bytes
// of the quoted packet are quoted.
func icmpErrorPair(typ, code byte, rest uint32, outer, outerWant hdr, quoted, quotedWant hdr, tr []byte, quoteLen int) (in, want []byte) {
	q := build(quoted, tr)
	qw := build(quotedWant, tr)
	outer.proto, outerWant.proto = protoICMP, protoICMP
	in = build(outer, icmpMsg(typ, code, rest, q[:min(quoteLen, len(q))]))
	want = build(outerWant, icmpMsg(typ, code, rest, qw[:min(quoteLen, len(qw))]))
	return in, want
}

type icmpErrCase struct {
	name             string
	typ, code        byte
	rest             uint32
	outer, outerWant hdr
	quote, quoteWant hdr
	tr               []byte
	quoteLen         int
	verdict          Verdict
}

// xcase builds the case; a dropped packet must come out unchanged.
func (c icmpErrCase) xcase() xcase {
	if c.verdict != Pass {
		c.outerWant, c.quoteWant = c.outer, c.quote
	}
	in, want := icmpErrorPair(c.typ, c.code, c.rest, c.outer, c.outerWant, c.quote, c.quoteWant, c.tr, c.quoteLen)
	return xcase{name: c.name, in: in, want: want, verdict: c.verdict}
}

func icmpErrCases(cs []icmpErrCase) []xcase {
	var out []xcase
	for _, c := range cs {
		out = append(out, c.xcase())
	}
	return out
}

// TestOutboundICMPError: office host 192.168.0.50 sent to VPC-A's wire
// address 100.64.1.20; the gateway delivered it to 10.0.0.20, and a local
// host or router answers with an ICMP error. The quoted packet's
// destination, and the outer source, must go back to wire.
func TestOutboundICMPError(t *testing.T) {
	host := hdr{src: "10.0.0.20", dst: "192.168.0.50"}
	hostWire := hdr{src: "100.64.1.20", dst: "192.168.0.50"}
	router := hdr{src: "10.0.0.1", dst: "192.168.0.50"}
	routerWire := hdr{src: "100.64.1.1", dst: "192.168.0.50"}
	gw := hdr{src: "100.100.0.1", dst: "192.168.0.50"} // the gateway itself, from its overlay address
	udpQ := hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoUDP, id: 5}
	udpQWire := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoUDP, id: 5}
	udpQ0, udpQ0Wire := udpQ, udpQWire
	udpQ0.noUDPSum, udpQ0Wire.noUDPSum = true, true
	tcpQ := hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoTCP, id: 6}
	tcpQWire := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoTCP, id: 6}
	fragQ := tcpQ
	fragQ.frag = 0x0004
	fragQWire := tcpQWire
	fragQWire.frag = 0x0004
	udp := udpDgram(5000, 53, payload[:100])
	tcp := tcpSeg(5000, 80, 0x18, nil, payload[:100])
	cC := hdr{src: "198.18.0.1", dst: "10.0.0.20", proto: protoUDP}
	runCases(t, mustCompile(t, vpcConfig()), (*Table).Outbound, icmpErrCases([]icmpErrCase{
		{"port unreachable udp", 3, 3, 0, host, hostWire, udpQ, udpQWire, udp, 28, Pass},
		{"port unreachable udp whole", 3, 3, 0, host, hostWire, udpQ, udpQWire, udp, 1000, Pass},
		{"port unreachable udp checksum 0", 3, 3, 0, host, hostWire, udpQ0, udpQ0Wire, udp, 1000, Pass},
		{"frag needed tcp 8 bytes", 3, 4, 1280, router, routerWire, tcpQ, tcpQWire, tcp, 28, Pass},
		{"frag needed tcp header", 3, 4, 1280, router, routerWire, tcpQ, tcpQWire, tcp, 40, Pass},
		{"frag needed tcp whole", 3, 4, 1280, router, routerWire, tcpQ, tcpQWire, tcp, 1000, Pass},
		{"time exceeded tcp", 11, 0, 0, router, routerWire, tcpQ, tcpQWire, tcp, 576, Pass},
		{"time exceeded udp", 11, 0, 0, router, routerWire, udpQ, udpQWire, udp, 576, Pass},
		{"parameter problem", 12, 0, 0x14000000, host, hostWire, udpQ, udpQWire, udp, 60, Pass},
		{"quoted later fragment", 11, 1, 0, host, hostWire, fragQ, fragQWire, payload[:64], 60, Pass},
		{"from the gateway", 3, 4, 1280, gw, gw, tcpQ, tcpQWire, tcp, 576, Pass},
		{"quote not allowed", 3, 3, 0, hdr{src: "10.0.0.20", dst: "198.18.0.1"}, hdr{}, cC, cC, udp, 576, DropACL},
		{"quote from unknown", 3, 3, 0, hdr{src: "10.0.0.20", dst: "8.8.8.8"}, hdr{}, hdr{src: "8.8.8.8", dst: "10.0.0.20", proto: protoUDP}, hdr{}, udp, 576, DropNoRoute},
		{"not to the quoted source", 3, 3, 0, hdr{src: "10.0.0.20", dst: "198.18.0.1"}, hdr{}, udpQ, hdr{}, udp, 576, DropACL},
	}))
}

// TestInboundICMPError: VPC-A host 10.0.0.20 sent to the office as
// 100.64.1.20; a router in the office or the office host answers with an
// ICMP error, quoting the packet as it saw it.
func TestInboundICMPError(t *testing.T) {
	router := hdr{src: "192.168.0.1", dst: "100.64.1.20"}
	routerReal := hdr{src: "192.168.0.1", dst: "10.0.0.20"}
	tcpQ := hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoTCP}
	tcpQReal := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}
	udpQ := hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoUDP}
	udpQReal := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP}
	tcp := tcpSeg(40000, 80, 0x02, []byte{2, 4, 5, 180}, nil)
	udp := udpDgram(5353, 53, payload[:30])
	runCases(t, mustCompile(t, vpcConfig()), (*Table).Inbound, icmpErrCases([]icmpErrCase{
		{"frag needed tcp", 3, 4, 1200, router, routerReal, tcpQ, tcpQReal, tcp, 576, Pass},
		{"frag needed tcp 8 bytes", 3, 4, 1200, router, routerReal, tcpQ, tcpQReal, tcp, 28, Pass},
		{"time exceeded udp", 11, 0, 0, router, routerReal, udpQ, udpQReal, udp, 576, Pass},
		{"port unreachable udp", 3, 3, 0, hdr{src: "192.168.0.50", dst: "100.64.1.20"}, hdr{src: "192.168.0.50", dst: "10.0.0.20"}, udpQ, udpQReal, udp, 576, Pass},
		{"quote not allowed", 3, 3, 0, hdr{src: "100.64.2.1", dst: "100.64.1.20"}, hdr{}, hdr{src: "100.64.1.20", dst: "100.64.2.1", proto: protoUDP}, hdr{}, udp, 576, DropACL},
		{"not to the quoted source", 3, 3, 0, hdr{src: "192.168.0.1", dst: "172.16.0.5"}, hdr{}, udpQ, hdr{}, udp, 576, DropACL},
	}))
}

func TestICMPErrorMalformed(t *testing.T) {
	tab := mustCompile(t, vpcConfig())
	q := build(hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoUDP}, udpDgram(1, 2, nil))
	bad := func(f func([]byte)) []byte {
		c := append([]byte(nil), q...)
		f(c)
		return c
	}
	for name, body := range map[string][]byte{
		"no quote":      nil,
		"short quote":   q[:19],
		"quote ipv6":    bad(func(c []byte) { c[0] = 0x60 }),
		"quote ihl 4":   bad(func(c []byte) { c[0] = 0x44 }),
		"quote ihl big": bad(func(c []byte) { c[0] = 0x4f }),
	} {
		p := build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(3, 3, 0, body))
		if v := tab.Outbound(p); v != DropInvalid {
			t.Errorf("%s: verdict %v, want invalid", name, v)
		}
	}
}

// An ICMP error passes only when its outer source may reach its outer
// destination as an ordinary packet would, besides the quote: otherwise any
// host could send "fragmentation needed" to another project's hosts by
// quoting a packet of theirs. A gateway answers from its overlay address
// (WireGuard ties that address to the gateway), and a router or host of the
// destination's site answers from an address inside the project.

// TestOutboundICMPErrorSource: the VPC gateway's sites answer packets from
// the mesh. 10.0.0.0/24 is exported to A (wire 100.64.1.0/24), 172.16.0.0/24
// to B; 10.0.0.200 is also a member of C.
func TestOutboundICMPErrorSource(t *testing.T) {
	from := func(src, dst string) (hdr, hdr) {
		return hdr{src: src, dst: dst}, hdr{src: wireOfVPC(src), dst: dst}
	}
	tcp := tcpSeg(5000, 80, 0x18, nil, payload[:100])
	officeQ := hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoTCP} // office (A) → VPC-A
	officeQW := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoTCP}
	cQ := hdr{src: "198.18.0.1", dst: "10.0.0.200", proto: protoTCP} // C → its member
	cQW := hdr{src: "198.18.0.1", dst: "100.64.1.200", proto: protoTCP}
	bQ := hdr{src: "100.64.2.10", dst: "172.16.0.5", proto: protoTCP}   // VPC-B → the B export
	gwQ := hdr{src: "100.100.0.2", dst: "100.100.0.1", proto: protoUDP} // gateway → gateway
	c := func(name string, src, dst string, q, qw hdr, v Verdict) icmpErrCase {
		o, ow := from(src, dst)
		return icmpErrCase{name, 3, 4, 68, o, ow, q, qw, tcp, 576, v}
	}
	runCases(t, mustCompile(t, vpcConfig()), (*Table).Outbound, icmpErrCases([]icmpErrCase{
		c("A host answers for A", "10.0.0.20", "192.168.0.50", officeQ, officeQW, Pass),
		c("A router answers for A", "10.0.0.1", "192.168.0.50", officeQ, officeQW, Pass),
		c("A host also in C answers for A", "10.0.0.200", "192.168.0.50", officeQ, officeQW, Pass),
		c("gateway answers for A", "100.100.0.1", "192.168.0.50", officeQ, officeQW, Pass),
		c("B host answers for A", "172.16.0.5", "192.168.0.50", officeQ, hdr{}, DropACL),
		c("no member answers for A", "10.9.9.9", "192.168.0.50", officeQ, hdr{}, DropACL),
		c("C member answers for C", "10.0.0.200", "198.18.0.1", cQ, cQW, Pass),
		c("gateway answers for C", "100.100.0.1", "198.18.0.1", cQ, cQW, Pass),
		c("A router answers for C", "10.0.0.1", "198.18.0.1", cQ, hdr{}, DropACL),
		c("B router answers for B", "172.16.0.1", "100.64.2.10", bQ, bQ, Pass),
		c("A host answers for B", "10.0.0.20", "100.64.2.10", bQ, hdr{}, DropACL),
		c("host answers for the overlay", "10.0.0.20", "100.100.0.2", gwQ, hdr{}, DropNoRoute),
		c("B host answers for the overlay", "172.16.0.5", "100.100.0.2", gwQ, hdr{}, DropNoRoute),
	}))
}

// wireOfVPC is vpcConfig's real → wire translation.
func wireOfVPC(a string) string {
	if rest, ok := strings.CutPrefix(a, "10.0.0."); ok {
		return "100.64.1." + rest
	}
	return a
}

// TestInboundICMPErrorSource: local hosts of the VPC gateway sent into the
// mesh; the error comes back from the remote side.
func TestInboundICMPErrorSource(t *testing.T) {
	tcp := tcpSeg(40000, 80, 0x02, []byte{2, 4, 5, 180}, nil)
	aQ := hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoTCP} // VPC-A → office (A)
	aQR := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}
	cQ := hdr{src: "100.64.1.200", dst: "198.18.0.1", proto: protoTCP} // C member → C
	cQR := hdr{src: "10.0.0.200", dst: "198.18.0.1", proto: protoTCP}
	bQ := hdr{src: "172.16.0.5", dst: "100.64.2.10", proto: protoTCP} // the B export → VPC-B
	gwQ := hdr{src: "100.100.0.1", dst: "100.100.0.2", proto: protoUDP}
	c := func(name string, src string, q, qr hdr, v Verdict) icmpErrCase {
		return icmpErrCase{name, 3, 4, 68,
			hdr{src: src, dst: q.src}, hdr{src: src, dst: qr.src}, q, qr, tcp, 576, v}
	}
	runCases(t, mustCompile(t, vpcConfig()), (*Table).Inbound, icmpErrCases([]icmpErrCase{
		c("A host answers", "192.168.0.50", aQ, aQR, Pass),
		c("A router answers", "192.168.0.1", aQ, aQR, Pass),
		c("gateway answers", "100.100.0.2", aQ, aQR, Pass),
		c("B host answers for A", "100.64.2.10", aQ, hdr{}, DropACL),
		c("C host answers for A", "198.18.0.1", aQ, hdr{}, DropACL),
		c("unknown source answers for A", "8.8.8.8", aQ, hdr{}, DropNoRoute),
		c("C router answers for C", "198.18.0.254", cQ, cQR, Pass),
		c("A router answers for C, to a member of both", "192.168.0.1", cQ, cQR, Pass),
		c("B router answers for B", "100.64.2.1", bQ, bQ, Pass),
		c("A router answers for B", "192.168.0.1", bQ, hdr{}, DropACL),
		c("A host answers for the overlay", "192.168.0.50", gwQ, hdr{}, DropNoRoute),
	}))
}

// refOfficeConfig is the reference lab's office gateway: no export, pc-a
// (.50) a transparent member of A, pc-b (.51) of B, and VPCs that overlap,
// so that both reach a 10.0.0.20 by that real address, each its own.
func refOfficeConfig() Config {
	return Config{
		Routes: []ProjectRoute{
			{Project: "A", Wire: pfx("100.64.1.0/24")},
			{Project: "B", Wire: pfx("100.64.2.0/25")},
		},
		Members: []MemberRule{
			{Project: "A", Source: pfx("192.168.0.50/32"), Transparent: true},
			{Project: "B", Source: pfx("192.168.0.51/32"), Transparent: true},
		},
		Transparent: []TransparentRoute{
			{Project: "A", Real: pfx("10.0.0.0/24"), Wire: pfx("100.64.1.0/24")},
			{Project: "B", Real: pfx("10.0.0.0/25"), Wire: pfx("100.64.2.0/25")},
		},
		Overlay: pfx("100.100.0.0/16"),
		MTU:     1280, MSSClamp: true, ACL: true,
	}
}

// TestOutboundICMPErrorTransparent: pc-b's kernel routes 10.0.0.20 into the
// tunnel (it is B's host for pc-b). Quoting a packet from A's 10.0.0.20 to
// pc-a, an error from pc-b would be sent to A's host: the quote says where
// the error goes, the outer source must be allowed there.
func TestOutboundICMPErrorTransparent(t *testing.T) {
	q := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoICMP}
	qw := hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoICMP}
	reply := icmpMsg(0, 0, 0x12340001, payload[:56]) // the echo reply pc-a got
	c := func(name, src string, v Verdict) icmpErrCase {
		return icmpErrCase{name, 3, 4, 68, hdr{src: src, dst: "10.0.0.20"}, hdr{src: src, dst: "100.64.1.20"}, q, qw, reply, 576, v}
	}
	runCases(t, mustCompile(t, refOfficeConfig()), (*Table).Outbound, icmpErrCases([]icmpErrCase{
		c("pc-a answers", "192.168.0.50", Pass),
		c("the gateway answers", "100.100.0.1", Pass),
		c("pc-b answers", "192.168.0.51", DropACL),
		c("pc-x answers", "192.168.0.52", DropACL),
	}))
}

// TestICMPErrorSourceCounted: the wrapper counts a refused error as an ACL
// drop, both ways, and hands it on in neither.
func TestICMPErrorSourceCounted(t *testing.T) {
	q := build(hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoTCP}, tcpSeg(1, 2, ackFlags, nil, payload[:64]))
	out := build(hdr{src: "172.16.0.5", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(3, 4, 68, q))
	q = build(hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoTCP}, tcpSeg(1, 2, ackFlags, nil, payload[:64]))
	in := build(hdr{src: "100.64.2.10", dst: "100.64.1.20", proto: protoICMP}, icmpMsg(3, 4, 68, q))

	dev := nattest.New(1)
	var wrote int
	dev.Sink = func(bufs [][]byte, offset int) { wrote += len(bufs) }
	w := Wrap(dev, mustCompile(t, vpcConfig()))
	dev.Feed([][]byte{out})
	bufs, sizes := vector(1)
	if n, err := w.Read(bufs, sizes, testOffset); err != nil || n != 1 || sizes[0] != 0 {
		t.Errorf("Read = %d, %v, size %d; want the error dropped", n, err, sizes[0])
	}
	if _, err := w.Write([][]byte{append(make([]byte, testOffset), in...)}, testOffset); err != nil || wrote != 0 {
		t.Errorf("Write: %v, %d packet(s) reached the device; want the error dropped", err, wrote)
	}
	want := Stats{Outbound: Counters{ACL: 1}, Inbound: Counters{ACL: 1}}
	if s := w.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}
