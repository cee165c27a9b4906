package nat

import "testing"

const (
	synFlags    = 0x02
	synAckFlags = 0x12
	ackFlags    = 0x10
)

func mssOpt(v uint16) []byte { return []byte{2, 4, byte(v >> 8), byte(v)} }

// synPair builds a TCP segment with options opts as it comes and, with
// optsWant, as it must leave, addresses translated.
func synPair(name string, h hdr, src, dst string, flags byte, opts, optsWant []byte) xcase {
	in := build(h, tcpSeg(40000, 443, flags, opts, nil))
	h.src, h.dst = src, dst
	return xcase{name: name, in: in, want: build(h, tcpSeg(40000, 443, flags, optsWant, nil))}
}

func TestMSSClamp(t *testing.T) {
	out := hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}
	in := hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoTCP}
	wscale := []byte{1, 3, 3, 7} // NOP, window scale 7
	sack := []byte{4, 2}         // SACK permitted
	odd := append([]byte{1}, mssOpt(1460)...)
	odd = append(odd, 1, 1, 1) // NOP MSS NOP NOP NOP: the value at an odd offset
	oddWant := append([]byte{1}, mssOpt(1240)...)
	oddWant = append(oddWant, 1, 1, 1)
	late := append(append(append([]byte{}, wscale...), sack...), append(mssOpt(8960), 1, 1)...)
	lateWant := append(append(append([]byte{}, wscale...), sack...), append(mssOpt(1240), 1, 1)...)
	bad := []byte{3, 0, 2, 4, 5, 180} // a zero-length option ends the search
	tab := mustCompile(t, vpcConfig())
	runCases(t, tab, (*Table).Outbound, []xcase{
		synPair("syn", out, "100.64.1.20", "192.168.0.50", synFlags, mssOpt(1460), mssOpt(1240)),
		synPair("syn-ack", out, "100.64.1.20", "192.168.0.50", synAckFlags, mssOpt(1460), mssOpt(1240)),
		synPair("odd offset", out, "100.64.1.20", "192.168.0.50", synFlags, odd, oddWant),
		synPair("after other options", out, "100.64.1.20", "192.168.0.50", synFlags, late, lateWant),
		synPair("already small", out, "100.64.1.20", "192.168.0.50", synFlags, mssOpt(1200), mssOpt(1200)),
		synPair("exactly the limit", out, "100.64.1.20", "192.168.0.50", synFlags, mssOpt(1240), mssOpt(1240)),
		synPair("not syn", out, "100.64.1.20", "192.168.0.50", ackFlags, mssOpt(1460), mssOpt(1460)),
		synPair("no mss", out, "100.64.1.20", "192.168.0.50", synFlags, wscale, wscale),
		synPair("malformed options", out, "100.64.1.20", "192.168.0.50", synFlags, bad, bad),
	})
	runCases(t, tab, (*Table).Inbound, []xcase{
		synPair("syn", in, "192.168.0.50", "10.0.0.20", synFlags, mssOpt(1460), mssOpt(1240)),
		synPair("syn-ack", in, "192.168.0.50", "10.0.0.20", synAckFlags, mssOpt(1460), mssOpt(1240)),
		synPair("odd offset", in, "192.168.0.50", "10.0.0.20", synAckFlags, odd, oddWant),
		synPair("already small", in, "192.168.0.50", "10.0.0.20", synAckFlags, mssOpt(536), mssOpt(536)),
	})
}

func TestMSSClampOff(t *testing.T) {
	cfg := vpcConfig()
	cfg.MSSClamp = false
	runCases(t, mustCompile(t, cfg), (*Table).Outbound, []xcase{
		synPair("syn", hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}, "100.64.1.20", "192.168.0.50", synFlags, mssOpt(1460), mssOpt(1460)),
	})
}

// TestMSSClampWithoutTranslation: traffic between gateways on the overlay
// is left alone entirely (their own stacks know the TUN's MTU); an unmapped
// export is clamped though not translated.
func TestMSSClampWithoutTranslation(t *testing.T) {
	tab := mustCompile(t, vpcConfig())
	h := hdr{src: "100.100.0.1", dst: "100.100.0.2", proto: protoTCP}
	runCases(t, tab, (*Table).Outbound, []xcase{
		synPair("overlay", h, "100.100.0.1", "100.100.0.2", synFlags, mssOpt(1460), mssOpt(1460)),
	})
	h = hdr{src: "172.16.0.5", dst: "100.64.2.10", proto: protoTCP}
	runCases(t, tab, (*Table).Outbound, []xcase{
		synPair("unmapped export", h, "172.16.0.5", "100.64.2.10", synFlags, mssOpt(1460), mssOpt(1240)),
	})
}
