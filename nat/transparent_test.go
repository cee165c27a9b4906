package nat

import "testing"

// The office gateway (officeConfig): 192.168.0.50 is a member of project A
// alone and reaches VPC-A's host 10.0.0.20 by its real address; .60 is in A
// and B, whose VPCs overlap, so it must use wire addresses.

func TestTransparentOutbound(t *testing.T) {
	tcp := tcpSeg(40000, 22, synFlags, mssOpt(1460), nil)
	h := func(src, dst string) hdr { return hdr{src: src, dst: dst, proto: protoUDP} }
	runCases(t, mustCompile(t, officeConfig()), (*Table).Outbound, []xcase{
		xcaseOf("real → wire", h("192.168.0.50", "10.0.0.20"), udpDgram(1, 2, payload), "192.168.0.50", "100.64.1.20"),
		synPair("syn clamped too", hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoTCP}, "192.168.0.50", "100.64.1.20", synFlags, mssOpt(1460), mssOpt(1240)),
		xcaseOf("wire stays", h("192.168.0.50", "100.64.1.20"), udpDgram(1, 2, payload), "192.168.0.50", "100.64.1.20"),
		{name: "two projects: real has no route", in: build(hdr{src: "192.168.0.60", dst: "10.0.0.20", proto: protoTCP}, tcp), verdict: DropNoRoute},
		xcaseOf("two projects: wire", h("192.168.0.60", "100.64.2.10"), udpDgram(1, 2, payload), "192.168.0.60", "100.64.2.10"),
		{name: "no member rule", in: build(h("192.168.0.70", "10.0.0.20"), udpDgram(1, 2, nil)), verdict: DropNoRoute},
		{name: "not transparent: real has no route", in: build(h("192.168.0.51", "10.0.0.20"), udpDgram(1, 2, nil)), verdict: DropNoRoute},
		xcaseOf("not transparent: wire", h("192.168.0.51", "100.64.1.20"), udpDgram(1, 2, payload), "192.168.0.51", "100.64.1.20"),
	})
}

func TestTransparentInbound(t *testing.T) {
	h := func(src, dst string) hdr { return hdr{src: src, dst: dst, proto: protoUDP} }
	runCases(t, mustCompile(t, officeConfig()), (*Table).Inbound, []xcase{
		xcaseOf("wire → real", h("100.64.1.20", "192.168.0.50"), udpDgram(2, 1, payload), "10.0.0.20", "192.168.0.50"),
		xcaseOf("two projects: wire stays", h("100.64.2.10", "192.168.0.60"), udpDgram(2, 1, payload), "100.64.2.10", "192.168.0.60"),
		xcaseOf("no member rule: wire stays", h("100.64.1.20", "192.168.0.70"), udpDgram(2, 1, payload), "100.64.1.20", "192.168.0.70"),
		xcaseOf("not transparent: wire stays", h("100.64.1.20", "192.168.0.51"), udpDgram(2, 1, payload), "100.64.1.20", "192.168.0.51"),
		{name: "B is not A's", in: build(h("100.64.2.10", "192.168.0.50"), udpDgram(2, 1, nil)), verdict: DropACL},
	})
}

func TestTransparentICMPErrors(t *testing.T) {
	tab := mustCompile(t, officeConfig())
	udp := udpDgram(5000, 53, payload[:40])
	// A router in VPC-A answers the member's packet, which left as
	// 192.168.0.50 → 100.64.1.20: the member must see it about 10.0.0.20.
	runCases(t, tab, (*Table).Inbound, icmpErrCases([]icmpErrCase{
		{"inbound", 3, 4, 1200,
			hdr{src: "100.64.1.1", dst: "192.168.0.50"}, hdr{src: "10.0.0.1", dst: "192.168.0.50"},
			hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoUDP}, hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoUDP},
			udp, 576, Pass},
	}))
	// The member answers a packet from 100.64.1.20, which it saw as from
	// 10.0.0.20: the error must go to, and be about, 100.64.1.20.
	runCases(t, tab, (*Table).Outbound, icmpErrCases([]icmpErrCase{
		{"outbound", 3, 3, 0,
			hdr{src: "192.168.0.50", dst: "10.0.0.20"}, hdr{src: "192.168.0.50", dst: "100.64.1.20"},
			hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP}, hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoUDP},
			udp, 576, Pass},
	}))
}
