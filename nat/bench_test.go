package nat

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vpcmesh/vpcmesh/nat/nattest"
)

// benchConfig is a mesh with 1,000 exports in 50 projects: 990 remote wire
// prefixes, 10 local mapped ones, and 100 member rules.
func benchConfig() Config {
	cfg := Config{Overlay: pfx("100.100.0.0/16"), MTU: 1420, MSSClamp: true, ACL: true}
	for i := range 1000 {
		wire := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + i/256), byte(i % 256), 0}), 24)
		cfg.Routes = append(cfg.Routes, ProjectRoute{Project: fmt.Sprintf("p%d", i%50), Wire: wire})
		if i%100 == 0 {
			real := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 100), 0}), 24)
			cfg.Mappings = append(cfg.Mappings, Mapping{Real: real, Wire: wire})
		}
	}
	for i := range 100 {
		src := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 24)
		cfg.Members = append(cfg.Members, MemberRule{Project: fmt.Sprintf("p%d", i%50), Source: src})
	}
	return cfg
}

// benchPackets returns 1,400-byte TCP packets. 10.0.3.0/24 is the export
// mapped to 100.65.44.0/24, route 300, in project p0; 100.65.94.0/24 is
// route 350, also in p0.
func benchPackets(flags byte, opts []byte) (out, in []byte) {
	tcp := tcpSeg(40000, 443, flags, opts, make([]byte, 1360-len(opts)))
	out = build(hdr{src: "10.0.3.20", dst: "100.65.94.30", proto: protoTCP}, tcp)
	in = build(hdr{src: "100.65.94.30", dst: "100.65.44.20", proto: protoTCP}, tcp)
	return out, in
}

func benchTable(b *testing.B, f func(*Table, []byte) Verdict, pkt []byte) {
	benchTableUndo(b, f, pkt, 60) // undo the rewrite: headers only
}

// benchTableUndo runs pkt through f again and again, restoring its first
// undo bytes (all that f rewrites) before each run.
func benchTableUndo(b *testing.B, f func(*Table, []byte) Verdict, pkt []byte, undo int) {
	tab := mustCompile(b, benchConfig())
	work := append([]byte(nil), pkt...)
	if v := f(tab, work); v != Pass {
		b.Fatalf("verdict %v", v)
	}
	b.ReportAllocs()
	for b.Loop() {
		copy(work[:undo], pkt[:undo])
		f(tab, work)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

func BenchmarkOutbound(b *testing.B) {
	out, _ := benchPackets(ackFlags, nil)
	benchTable(b, (*Table).Outbound, out)
}

func BenchmarkOutboundSYN(b *testing.B) {
	out, _ := benchPackets(synFlags, append([]byte{1, 1}, append(mssOpt(1460), 1, 3, 3, 7)...))
	benchTable(b, (*Table).Outbound, out)
}

func BenchmarkInbound(b *testing.B) {
	_, in := benchPackets(ackFlags, nil)
	benchTable(b, (*Table).Inbound, in)
}

func BenchmarkInboundSYNACK(b *testing.B) {
	_, in := benchPackets(synAckFlags, mssOpt(1460))
	benchTable(b, (*Table).Inbound, in)
}

// benchICMPError returns a "fragmentation needed" quoting 576 bytes of a
// TCP segment, as Linux quotes them, from outer source from. Outbound,
// local host 10.0.3.20 (wire 100.65.44.20, p0) got the segment from remote
// host 100.65.94.30 (p0); inbound, the local host sent it to that remote
// one.
func benchICMPError(out bool, from string) []byte {
	tcp := tcpSeg(40000, 443, ackFlags, nil, make([]byte, 1360))
	if out {
		q := build(hdr{src: "100.65.94.30", dst: "10.0.3.20", proto: protoTCP}, tcp)
		return build(hdr{src: from, dst: "100.65.94.30", proto: protoICMP}, icmpMsg(3, 4, 1280, q[:548]))
	}
	q := build(hdr{src: "100.65.44.20", dst: "100.65.94.30", proto: protoTCP}, tcp)
	return build(hdr{src: from, dst: "100.65.44.20", proto: protoICMP}, icmpMsg(3, 4, 1280, q[:548]))
}

// The ICMP errors' rewrite reaches the quoted TCP checksum, at byte 66.
const icmpUndo = 20 + 8 + 20 + 18

// BenchmarkOutboundICMPError: the error from the quoted packet's
// destination itself, from a router in its site, and from the gateway.
func BenchmarkOutboundICMPError(b *testing.B) {
	for _, c := range []struct{ name, from string }{{"host", "10.0.3.20"}, {"router", "10.0.3.1"}, {"gateway", "100.100.0.1"}} {
		b.Run(c.name, func(b *testing.B) {
			benchTableUndo(b, (*Table).Outbound, benchICMPError(true, c.from), icmpUndo)
		})
	}
}

// BenchmarkInboundICMPError: likewise, from the remote side.
func BenchmarkInboundICMPError(b *testing.B) {
	for _, c := range []struct{ name, from string }{{"host", "100.65.94.30"}, {"router", "100.65.94.1"}, {"gateway", "100.100.0.2"}} {
		b.Run(c.name, func(b *testing.B) {
			benchTableUndo(b, (*Table).Inbound, benchICMPError(false, c.from), icmpUndo)
		})
	}
}

// BenchmarkNoTranslation is the floor: an empty table, nothing to look up.
func BenchmarkNoTranslation(b *testing.B) {
	tab := mustCompile(b, Config{})
	out, _ := benchPackets(ackFlags, nil)
	b.ReportAllocs()
	for b.Loop() {
		tab.Outbound(out)
	}
}

const benchBatch = 128

// BenchmarkWrapperRead reads batches of 128 packets; the fake device's copy
// of each packet into the caller's buffer is part of the figure.
func BenchmarkWrapperRead(b *testing.B) {
	out, _ := benchPackets(ackFlags, nil)
	dev := nattest.New(benchBatch)
	w := Wrap(dev, mustCompile(b, benchConfig()))
	feed := make([][]byte, benchBatch)
	for i := range feed {
		feed[i] = out
	}
	bufs, sizes := vector(benchBatch)
	b.ReportAllocs()
	for b.Loop() {
		dev.Feed(feed)
		w.Read(bufs, sizes, testOffset)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/packet")
}

// BenchmarkWrapperWrite writes batches of 128 packets, every other one
// dropped by the ACL, so that compaction has work to do.
func BenchmarkWrapperWrite(b *testing.B) {
	_, in := benchPackets(ackFlags, nil)
	deny := build(hdr{src: "100.65.45.30", dst: "100.65.44.20", proto: protoTCP}, tcpSeg(1, 2, ackFlags, nil, payload)) // p1 → p0
	dev := nattest.New(benchBatch)
	w := Wrap(dev, mustCompile(b, benchConfig()))
	bufs, _ := vector(benchBatch)
	src := func(i int) []byte { return [][]byte{in, deny}[i%2] }
	for i := range bufs {
		bufs[i] = bufs[i][:testOffset+len(src(i))]
		copy(bufs[i][testOffset:], src(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range bufs {
			copy(bufs[i][testOffset:testOffset+60], src(i)) // headers only
		}
		w.Write(bufs, testOffset)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/packet")
	if s := w.Stats().Inbound; s.Passed == 0 || s.ACL == 0 {
		b.Fatalf("stats %+v", s)
	}
}
