package nat

import (
	"testing"
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
