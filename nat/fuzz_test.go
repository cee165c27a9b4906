package nat

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vpcmesh/vpcmesh/nat/nattest"
)

// Fuzzing: any packet, through either direction of the wrapper, comes out
// with every checksum valid (verified in full by sumsErr) or dropped; it
// never grows and nothing panics. A packet whose checksums were wrong on
// the way in is not repaired (that would hide corruption), so each input
// is also tried with its checksums filled in first. An ICMP error that
// passes with the ACL on came from a source that may send an ordinary packet
// to where the error went, or from a gateway's overlay address.

// fuzzTables returns the tables a fuzz input runs through: the VPC and
// office gateways, the reference lab's office (transparent members of two
// projects whose VPCs overlap), and a table with the ACL off and mappings
// wide enough that random addresses get translated.
func fuzzTables(f *testing.F) []*Table {
	wide := Config{
		Mappings: []Mapping{
			{Real: pfx("0.0.0.0/2"), Wire: pfx("64.0.0.0/2")},
			{Real: pfx("128.0.0.0/2"), Wire: pfx("192.0.0.0/2")},
		},
		MTU: 576, MSSClamp: true,
	}
	return []*Table{mustCompile(f, vpcConfig()), mustCompile(f, officeConfig()), mustCompile(f, refOfficeConfig()), mustCompile(f, wide)}
}

func fuzzSeeds(f *testing.F) {
	for _, c := range outboundBatch() {
		f.Add(c.in)
	}
	for _, c := range inboundBatch() {
		f.Add(c.in)
	}
	q := build(hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoTCP}, tcpSeg(1, 2, 0x02, mssOpt(1460), nil))
	f.Add(build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(3, 4, 1280, q)))
	q = build(hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoUDP}, udpDgram(1, 2, payload[:20]))
	f.Add(build(hdr{src: "192.168.0.1", dst: "100.64.1.20", proto: protoICMP}, icmpMsg(11, 0, 0, q)))
	// ICMP errors from sources the ACL must judge: a host of another
	// project, a router of the site, the gateway, a host answering for
	// traffic between gateways; and pc-b answering for pc-a (refOfficeConfig).
	q = build(hdr{src: "192.168.0.50", dst: "10.0.0.20", proto: protoUDP}, udpDgram(1, 2, payload[:20]))
	f.Add(build(hdr{src: "172.16.0.5", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(3, 4, 68, q)))
	f.Add(build(hdr{src: "10.0.0.1", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(11, 0, 0, q)))
	f.Add(build(hdr{src: "100.100.0.1", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(3, 1, 0, q)))
	gq := build(hdr{src: "100.100.0.2", dst: "100.100.0.1", proto: protoUDP}, udpDgram(7946, 7946, payload[:20]))
	f.Add(build(hdr{src: "10.0.0.20", dst: "100.100.0.2", proto: protoICMP}, icmpMsg(3, 4, 68, gq)))
	q = build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoICMP}, icmpMsg(0, 0, 0x12340001, payload[:56]))
	f.Add(build(hdr{src: "192.168.0.51", dst: "10.0.0.20", proto: protoICMP}, icmpMsg(3, 4, 68, q)))
	q = build(hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoUDP}, udpDgram(1, 2, payload[:20]))
	f.Add(build(hdr{src: "100.64.2.10", dst: "100.64.1.20", proto: protoICMP}, icmpMsg(3, 4, 68, q)))
	f.Add(build(hdr{src: "100.100.0.2", dst: "100.64.1.20", proto: protoICMP}, icmpMsg(3, 4, 68, q)))
	first, second := fragment(build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP}, udpDgram(1, 2, payload)), 64)
	f.Add(first)
	f.Add(second)
	odd := append(append([]byte{1}, mssOpt(9000)...), 1, 1, 1) // the MSS value at an odd offset
	f.Add(build(hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoTCP}, tcpSeg(1, 2, synAckFlags, odd, nil)))
	f.Add(build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}, tcpSeg(1, 2, synFlags, odd, nil)))
	f.Add(build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP, noUDPSum: true}, udpDgram(1, 2, payload[:9])))
	f.Add(build(hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoUDP, noUDPSum: true}, udpDgram(1, 2, payload[:9])))
}

func FuzzOutbound(f *testing.F) {
	fuzzSeeds(f)
	tables := fuzzTables(f)
	dev := nattest.New(1)
	w := Wrap(dev, nil)
	bufs, sizes := vector(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > len(bufs[0])-testOffset {
			return
		}
		for _, tab := range tables {
			w.SetTable(tab)
			for _, in := range variants(data) {
				dev.Feed([][]byte{in})
				if _, err := w.Read(bufs, sizes, testOffset); err != nil {
					t.Fatal(err)
				}
				out := bufs[0][testOffset : testOffset+sizes[0]]
				checkFuzzOutput(t, in, out)
				checkErrorSource(t, tab, false, in, out)
			}
		}
	})
}

func FuzzInbound(f *testing.F) {
	fuzzSeeds(f)
	tables := fuzzTables(f)
	dev := nattest.New(1)
	var got []byte
	dev.Sink = func(bufs [][]byte, offset int) { got = append(got[:0], bufs[0][offset:]...) }
	w := Wrap(dev, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tab := range tables {
			w.SetTable(tab)
			for _, in := range variants(data) {
				got = got[:0]
				buf := append(make([]byte, testOffset), in...)
				if _, err := w.Write([][]byte{buf}, testOffset); err != nil {
					t.Fatal(err)
				}
				checkFuzzOutput(t, in, got)
				checkErrorSource(t, tab, true, in, got)
			}
		}
	})
}

// variants returns data as it is and, when that differs, with its
// checksums filled in.
func variants(data []byte) [][]byte {
	fixed := bytes.Clone(data)
	fixSums(fixed)
	if bytes.Equal(fixed, data) {
		return [][]byte{data}
	}
	return [][]byte{data, fixed}
}

// checkFuzzOutput checks what came out for in; empty out means dropped.
func checkFuzzOutput(t *testing.T, in, out []byte) {
	t.Helper()
	if len(out) > len(in) {
		t.Fatalf("packet grew from %d to %d bytes", len(in), len(out))
	}
	if len(out) == 0 || sumsErr(in) != nil {
		return
	}
	if len(out) != len(in) {
		t.Fatalf("packet shrank from %d to %d bytes", len(in), len(out))
	}
	if err := sumsErr(out); err != nil {
		t.Fatalf("%v\nin  % x\nout % x", err, in, out)
	}
	if udpSum(in) != 0 && udpSum(out) == 0 {
		t.Fatalf("UDP checksum switched off\nin  % x\nout % x", in, out)
	}
}

// checkErrorSource checks an ICMP error that went through (out not empty)
// with the ACL on: an ordinary packet from its source to where it went must
// pass too, unless the source is a gateway's overlay address. Where it went
// is, outbound, the destination after translation (the quote decides it);
// inbound, the wire destination it came with.
func checkErrorSource(t *testing.T, tab *Table, inbound bool, in, out []byte) {
	t.Helper()
	var p ipv4
	if len(out) == 0 || !tab.acl || !p.parse(in) || !p.icmpError() || tab.overlay.contains(p.src()) {
		return
	}
	src, dst := netip.AddrFrom4([4]byte(in[12:16])), netip.AddrFrom4([4]byte(out[16:20]))
	dir := (*Table).Outbound
	if inbound {
		dst, dir = netip.AddrFrom4([4]byte(in[16:20])), (*Table).Inbound
	}
	ordinary := build(hdr{src: src.String(), dst: dst.String(), proto: protoUDP}, udpDgram(1, 2, nil))
	if v := dir(tab, ordinary); v != Pass {
		t.Fatalf("an ICMP error from %s to %s passed, an ordinary packet gets %v\nin  % x\nout % x", src, dst, v, in, out)
	}
}

// udpSum returns the UDP checksum field of an unfragmented IPv4 packet, or 0.
func udpSum(p []byte) uint16 {
	ihl, total, ok := ipv4Bounds(p)
	if !ok || p[9] != protoUDP || total-ihl < 8 || binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
		return 0
	}
	return binary.BigEndian.Uint16(p[ihl+6:])
}
