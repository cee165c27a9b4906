package nat

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// xcase is one packet through one direction: in is rewritten in place and
// must come out as want (nil: unchanged) with every checksum valid.
type xcase struct {
	name     string
	in, want []byte
	verdict  Verdict
}

// pair builds the same packet twice: as it comes in, and with the addresses
// it must leave with. Every checksum of both is computed in full.
func pair(h hdr, tr []byte, src, dst string) (in, want []byte) {
	in = build(h, tr)
	h.src, h.dst = src, dst
	return in, build(h, tr)
}

func runCases(t *testing.T, tab *Table, dir func(*Table, []byte) Verdict, cases []xcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := append([]byte(nil), c.in...)
			if v := dir(tab, got); v != c.verdict {
				t.Fatalf("verdict %v, want %v", v, c.verdict)
			}
			want := c.want
			if want == nil {
				want = c.in
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got\n% x\nwant\n% x", got, want)
			}
			if err := sumsErr(got); err != nil && c.verdict == Pass {
				t.Fatal(err)
			}
		})
	}
}

func xcaseOf(name string, h hdr, tr []byte, src, dst string) xcase {
	in, want := pair(h, tr, src, dst)
	return xcase{name: name, in: in, want: want}
}

var payload = bytes.Repeat([]byte("vpcmesh!"), 40)

func TestOutboundTranslation(t *testing.T) {
	udp := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP, id: 7}
	udp0 := udp
	udp0.noUDPSum = true
	tcp := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}
	icmp := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoICMP}
	opts := tcp
	opts.options = []byte{1, 1, 1, 0} // NOP NOP NOP EOL: a 24-byte header
	runCases(t, mustCompile(t, vpcConfig()), (*Table).Outbound, []xcase{
		xcaseOf("tcp", tcp, tcpSeg(40000, 80, 0x18, nil, payload), "100.64.1.20", "192.168.0.50"),
		xcaseOf("tcp odd length", tcp, tcpSeg(40000, 80, 0x18, nil, payload[:33]), "100.64.1.20", "192.168.0.50"),
		xcaseOf("ip options", opts, tcpSeg(40000, 80, 0x10, nil, payload[:9]), "100.64.1.20", "192.168.0.50"),
		xcaseOf("udp", udp, udpDgram(5353, 53, payload), "100.64.1.20", "192.168.0.50"),
		xcaseOf("udp checksum 0", udp0, udpDgram(5353, 53, payload), "100.64.1.20", "192.168.0.50"),
		udpSumFFFF(t, udp, "100.64.1.20", "192.168.0.50"),
		xcaseOf("icmp echo request", icmp, icmpMsg(8, 0, 0x12340001, payload[:56]), "100.64.1.20", "192.168.0.50"),
		xcaseOf("icmp echo reply", icmp, icmpMsg(0, 0, 0x12340001, payload[:56]), "100.64.1.20", "192.168.0.50"),
		xcaseOf("member of C", hdr{src: "10.0.0.200", dst: "198.18.0.1", proto: protoUDP}, udpDgram(1, 2, payload), "100.64.1.200", "198.18.0.1"),
		xcaseOf("unmapped export", hdr{src: "172.16.0.5", dst: "100.64.2.10", proto: protoTCP}, tcpSeg(1, 2, 0x10, nil, payload), "172.16.0.5", "100.64.2.10"),
		xcaseOf("other protocol", hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: 47}, payload[:20], "100.64.1.20", "192.168.0.50"),
	})
}

func TestInboundTranslation(t *testing.T) {
	udp := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoUDP}
	udp0 := udp
	udp0.noUDPSum = true
	tcp := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoTCP}
	icmp := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoICMP}
	runCases(t, mustCompile(t, vpcConfig()), (*Table).Inbound, []xcase{
		xcaseOf("tcp", tcp, tcpSeg(80, 40000, 0x18, nil, payload), "192.168.0.50", "10.0.0.20"),
		xcaseOf("udp", udp, udpDgram(53, 5353, payload[:77]), "192.168.0.50", "10.0.0.20"),
		xcaseOf("udp checksum 0", udp0, udpDgram(53, 5353, payload), "192.168.0.50", "10.0.0.20"),
		udpSumFFFF(t, udp, "192.168.0.50", "10.0.0.20"),
		xcaseOf("icmp echo request", icmp, icmpMsg(8, 0, 0x12340001, payload[:56]), "192.168.0.50", "10.0.0.20"),
		xcaseOf("icmp echo reply", icmp, icmpMsg(0, 0, 0x12340001, payload[:56]), "192.168.0.50", "10.0.0.20"),
		xcaseOf("member of C", hdr{src: "198.18.0.1", dst: "100.64.1.200", proto: protoUDP}, udpDgram(1, 2, payload), "198.18.0.1", "10.0.0.200"),
	})
}

// udpSumFFFF returns a UDP case whose translated checksum computes to 0, so
// that it must be sent as 0xffff: the payload's last word is searched for.
func udpSumFFFF(t *testing.T, h hdr, src, dst string) xcase {
	data := make([]byte, 10)
	for w := range 0x10000 {
		binary.BigEndian.PutUint16(data[8:], uint16(w))
		c := xcaseOf("udp checksum computes to 0", h, udpDgram(1000, 2000, data), src, dst)
		if binary.BigEndian.Uint16(c.want[20+6:]) == 0xffff {
			return c
		}
	}
	t.Fatal("no payload gives a zero UDP checksum")
	return xcase{}
}

func TestFragments(t *testing.T) {
	tab := mustCompile(t, vpcConfig())
	for _, tc := range []struct {
		name  string
		proto byte
		tr    []byte
	}{
		{"udp", protoUDP, udpDgram(5353, 53, payload)},
		{"tcp", protoTCP, tcpSeg(40000, 80, 0x18, nil, payload)},
		{"icmp", protoICMP, icmpMsg(8, 0, 1, payload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, want := pair(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: tc.proto, id: 99}, tc.tr, "100.64.1.20", "192.168.0.50")
			first, second := fragment(in, 96)
			wantFirst, wantSecond := fragment(want, 96)
			runCases(t, tab, (*Table).Outbound, []xcase{
				{name: "first", in: first, want: wantFirst},
				{name: "later", in: second, want: wantSecond},
			})
			checkReassembled(t, tab, first, second)
		})
	}
}

// checkReassembled translates both fragments and verifies the transport
// checksum over the reassembled datagram.
func checkReassembled(t *testing.T, tab *Table, first, second []byte) {
	t.Helper()
	a, b := bytes.Clone(first), bytes.Clone(second)
	if tab.Outbound(a) != Pass || tab.Outbound(b) != Pass {
		t.Fatal("fragment dropped")
	}
	if err := sumsErr(reassemble(a, b)); err != nil {
		t.Fatalf("reassembled: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	tab := mustCompile(t, vpcConfig())
	good := build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}, tcpSeg(1, 2, 0x10, nil, payload[:8]))
	edit := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tiny, _ := fragment(build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}, tcpSeg(1, 2, 0x10, nil, payload)), 8)
	for name, p := range map[string][]byte{
		"empty":               {},
		"short":               good[:19],
		"version 5":           edit(func(p []byte) []byte { p[0] = 0x55; return p }),
		"ihl 4":               edit(func(p []byte) []byte { p[0] = 0x44; return p }),
		"ihl past end":        edit(func(p []byte) []byte { p[0] = 0x4f; return p[:40] }),
		"total past end":      good[:len(good)-1],
		"total under ihl":     edit(func(p []byte) []byte { p[2], p[3] = 0, 10; return p }),
		"tcp cut":             edit(func(p []byte) []byte { p[3] = 20 + 19; return p }),
		"tcp offset 4":        edit(func(p []byte) []byte { p[20+12] = 0x40; return p }),
		"tcp offset past end": edit(func(p []byte) []byte { p[20+12] = 0xf0; return p }),
		"tiny first fragment": tiny,
		"udp cut":             build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP}, []byte{1, 2, 3}),
		"icmp cut":            build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoICMP}, []byte{8, 0, 0}),
		"ipv6 short":          append([]byte{0x60}, make([]byte, 38)...),
	} {
		for dir, f := range map[string]func(*Table, []byte) Verdict{"out": (*Table).Outbound, "in": (*Table).Inbound} {
			q := bytes.Clone(p)
			if v := f(tab, q); v != DropInvalid {
				t.Errorf("%s %s: verdict %v, want invalid", dir, name, v)
			}
			if !bytes.Equal(q, p) {
				t.Errorf("%s %s: a dropped packet was changed", dir, name)
			}
		}
	}
}

func TestTrailingBytesKept(t *testing.T) {
	tab := mustCompile(t, vpcConfig())
	in, want := pair(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP}, udpDgram(1, 2, payload[:10]), "100.64.1.20", "192.168.0.50")
	in = append(in, 0xde, 0xad)
	if v := tab.Outbound(in); v != Pass {
		t.Fatal(v)
	}
	if !bytes.Equal(in, append(want, 0xde, 0xad)) {
		t.Fatalf("got % x", in)
	}
}
