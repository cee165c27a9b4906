package nat

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vpcmesh/vpcmesh/nat/nattest"
)

// Fuzzing: any packet, through either direction of the wrapper, comes out
// with every checksum valid (verified in full by sumsErr) or dropped; it
// never grows and nothing panics. A packet whose checksums were wrong on
// the way in is not repaired (that would hide corruption), so each input
// is also tried with its checksums filled in first.

// fuzzTables returns the tables a fuzz input runs through: the VPC and
// office gateways, and a table with the ACL off and mappings wide enough
// that random addresses get translated.
func fuzzTables(f *testing.F) []*Table {
	wide := Config{
		Mappings: []Mapping{
			{Real: pfx("0.0.0.0/2"), Wire: pfx("64.0.0.0/2")},
			{Real: pfx("128.0.0.0/2"), Wire: pfx("192.0.0.0/2")},
		},
		MTU: 576, MSSClamp: true,
	}
	return []*Table{mustCompile(f, vpcConfig()), mustCompile(f, officeConfig()), mustCompile(f, wide)}
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
				checkFuzzOutput(t, in, bufs[0][testOffset:testOffset+sizes[0]])
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

// udpSum returns the UDP checksum field of an unfragmented IPv4 packet, or 0.
func udpSum(p []byte) uint16 {
	ihl, total, ok := ipv4Bounds(p)
	if !ok || p[9] != protoUDP || total-ihl < 8 || binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
		return 0
	}
	return binary.BigEndian.Uint16(p[ihl+6:])
}
