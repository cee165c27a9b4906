package nat

// ICMPv4 error types: each quotes the start of the packet it is about
// (RFC 792): its IP header and at least 8 bytes of what followed.
const (
	icmpUnreachable  = 3 // includes fragmentation needed (code 4)
	icmpTimeExceeded = 11
	icmpParamProblem = 12
)

// icmpError reports whether p is an ICMP error whose quote is in p: the
// quote sits behind the ICMP header of a first fragment.
func (p *ipv4) icmpError() bool {
	if p.proto != protoICMP || !p.first {
		return false
	}
	switch p.transport()[0] {
	case icmpUnreachable, icmpTimeExceeded, icmpParamProblem:
		return true
	}
	return false
}

// parseQuote points q at the packet quoted by the ICMP error p, checking
// that its IP header is whole. The quoted packet's addresses are reversed
// relative to p's: the error goes back to the quoted packet's source.
func (q *ipv4) parseQuote(p *ipv4) bool {
	b := p.transport()[icmpHeader:]
	if len(b) < ipv4MinHeader || b[0]>>4 != 4 {
		return false
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeader || ihl > len(b) {
		return false
	}
	q.b, q.ihl, q.proto, q.first = b, ihl, b[9], fragOffset(b) == 0
	return true
}

// hasTransportSum reports whether the quote q reaches the TCP or UDP
// checksum. RFC 792 asks for 8 bytes only, which hold the UDP checksum but
// not TCP's; Linux quotes up to 576 bytes in all.
func (q *ipv4) hasTransportSum() bool {
	if !q.first {
		return false
	}
	switch n := len(q.b) - q.ihl; q.proto {
	case protoTCP:
		return n >= 18
	case protoUDP:
		return n >= udpHeader
	}
	return false
}

// setQuoteAddrs rewrites the addresses of q, quoted in p, in place and keeps
// every checksum over them right: the quoted IP header checksum, the quoted
// TCP or UDP checksum if it was quoted, and the ICMP checksum, which covers
// all of those words (ICMPv4 has no pseudo-header, so the outer addresses
// do not enter it).
func setQuoteAddrs(p, q *ipv4, src, dst uint32) {
	if src == q.src() && dst == q.dst() {
		return
	}
	var d patch
	d.put32(q.b[12:], src)
	d.put32(q.b[16:], dst)
	icmp := d
	icmp.put16(q.b[10:], d.sum(be16(q.b[10:])))
	if q.hasTransportSum() {
		icmp += fixTransport(q.proto, q.transport(), d)
	}
	icmp.apply(p.transport()[2:])
}
