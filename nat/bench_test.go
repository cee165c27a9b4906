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
	tab := mustCompile(b, benchConfig())
	work := append([]byte(nil), pkt...)
	if v := f(tab, work); v != Pass {
		b.Fatalf("verdict %v", v)
	}
	b.ReportAllocs()
	for b.Loop() {
		copy(work[:60], pkt[:60]) // undo the rewrite: headers only
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
