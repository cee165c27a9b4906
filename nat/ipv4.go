package nat

import "encoding/binary"

// IP protocol numbers and header sizes the package looks at.
const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17

	ipv4MinHeader = 20
	ipv6Header    = 40
	tcpMinHeader  = 20
	udpHeader     = 8
	icmpHeader    = 8
)

// ipv4 is a checked view of one IPv4 packet, or of the packet quoted in an
// ICMP error. It only points into the caller's buffer; nothing is copied.
type ipv4 struct {
	b     []byte // the packet cut to its total length; a quote: to the end of the ICMP message
	ihl   int    // header length in bytes
	proto byte
	first bool // fragment offset 0: the transport header is in b[ihl:]
}

// parse checks b as an IPv4 packet and points p at it: a sane header, a
// total length that fits, and in a first fragment a transport header long
// enough to hold every field the package may rewrite.
//
// An ipv4 is filled in place and passed by pointer: copying it by value made
// the compiler move it through memory in pieces the CPU could not forward
// from store to load, which cost more than the parsing.
func (p *ipv4) parse(b []byte) bool {
	if len(b) < ipv4MinHeader || b[0]>>4 != 4 {
		return false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < ipv4MinHeader || total < ihl || total > len(b) {
		return false
	}
	p.b, p.ihl, p.proto, p.first = b[:total], ihl, b[9], fragOffset(b) == 0
	return !p.first || transportOK(p.proto, p.b[ihl:])
}

// fragOffset returns the fragment offset field of the header in b.
func fragOffset(b []byte) uint16 {
	return binary.BigEndian.Uint16(b[6:]) & 0x1fff
}

// transportOK reports whether tr starts with a whole TCP, UDP or ICMP header.
// Other protocols are not looked into.
func transportOK(proto byte, tr []byte) bool {
	switch proto {
	case protoTCP:
		if len(tr) < tcpMinHeader {
			return false
		}
		off := int(tr[12]>>4) * 4
		return off >= tcpMinHeader && off <= len(tr)
	case protoUDP:
		return len(tr) >= udpHeader
	case protoICMP:
		return len(tr) >= icmpHeader
	}
	return true
}

func (p *ipv4) src() uint32 { return binary.BigEndian.Uint32(p.b[12:]) }
func (p *ipv4) dst() uint32 { return binary.BigEndian.Uint32(p.b[16:]) }

// transport returns the bytes after the IP header.
func (p *ipv4) transport() []byte { return p.b[p.ihl:] }
