package nat

import "net/netip"

// xlat is a stateless 1:1 prefix translation: the network bits are replaced
// by net, the host bits (keep) are kept. The zero xlat maps every address to
// 0.0.0.0; use identity for "no translation".
type xlat struct {
	keep uint32 // host mask
	net  uint32 // network bits of the target prefix
}

// identity translates every address to itself.
var identity = xlat{keep: ^uint32(0)}

// xlatOf translates from prefix from to prefix to; both have the same length.
func xlatOf(from, to netip.Prefix) xlat {
	keep := ^uint32(0) >> from.Bits()
	return xlat{keep: keep, net: addrU32(to.Addr()) &^ keep}
}

func (x xlat) apply(a uint32) uint32 { return x.net | a&x.keep }

// setAddrs rewrites the source and destination of p in place. The IP header
// checksum is updated incrementally, and so is the TCP or UDP checksum in a
// first fragment (their pseudo-header holds both addresses). An ICMPv4
// checksum has no pseudo-header and does not change; later fragments carry
// no transport header. A checksum that was wrong stays wrong, so the
// receiver still drops what was corrupted on the way.
func setAddrs(p *ipv4, src, dst uint32) {
	if src == p.src() && dst == p.dst() {
		return
	}
	var d patch
	d.put32(p.b[12:], src)
	d.put32(p.b[16:], dst)
	d.apply(p.b[10:])
	if p.first {
		fixTransport(p.proto, p.transport(), d)
	}
}

// fixTransport applies an address change d to the checksum of the TCP or UDP
// header at the start of tr and returns how that checksum field changed.
// ipv4.parse, and hasTransportSum for a quote, make sure the field is there.
func fixTransport(proto byte, tr []byte, d patch) patch {
	var f patch
	switch proto {
	case protoTCP:
		f.put16(tr[16:], d.sum(be16(tr[16:])))
	case protoUDP:
		f.put16(tr[6:], d.udpSum(be16(tr[6:])))
	}
	return f
}

// addrU32 returns an IPv4 address as a number.
func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// u32Addr returns a number as an IPv4 address.
func u32Addr(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
