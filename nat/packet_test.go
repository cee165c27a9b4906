package nat

// Test packets: a small builder, and checksums computed in full, byte by
// byte, without any of the package's incremental code.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// onesSum adds b to sum as 16-bit big-endian words, a last odd byte padded
// with zero.
func onesSum(sum uint32, b []byte) uint32 {
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		sum += w
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
	}
	return sum
}

// fullSum returns the Internet checksum of b after sum.
func fullSum(sum uint32, b []byte) uint16 { return ^uint16(onesSum(sum, b)) }

// pseudoSum returns the sum of the TCP/UDP pseudo-header of IPv4 packet p.
func pseudoSum(p []byte, proto byte, length int) uint32 {
	s := onesSum(0, p[12:20])
	return onesSum(s, []byte{0, proto, byte(length >> 8), byte(length)})
}

// hdr describes an IPv4 header for build.
type hdr struct {
	src, dst string
	proto    byte
	id       uint16
	frag     uint16 // flags and fragment offset, as on the wire
	options  []byte // IP options, a multiple of 4 bytes
	noUDPSum bool   // send UDP with checksum 0
}

// build returns an IPv4 packet around the transport bytes tr (checksum
// fields zero) with every checksum filled in; a fragment's payload is left
// alone.
func build(h hdr, tr []byte) []byte {
	ihl := 20 + len(h.options)
	p := make([]byte, ihl+len(tr))
	p[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], h.id)
	binary.BigEndian.PutUint16(p[6:], h.frag)
	p[8], p[9] = 64, h.proto
	a, b := netip.MustParseAddr(h.src).As4(), netip.MustParseAddr(h.dst).As4()
	copy(p[12:], a[:])
	copy(p[16:], b[:])
	copy(p[20:], h.options)
	copy(p[ihl:], tr)
	if h.frag&0x3fff == 0 {
		fillTransportSum(p, ihl, h.noUDPSum)
	}
	fillIPSum(p, ihl)
	return p
}

func fillIPSum(p []byte, ihl int) {
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], fullSum(0, p[:ihl]))
}

// fillTransportSum computes the TCP, UDP or ICMP checksum of a whole packet
// whose transport header is long enough to hold one.
func fillTransportSum(p []byte, ihl int, noUDPSum bool) {
	tr := p[ihl:]
	switch {
	case p[9] == protoTCP && len(tr) >= 20:
		tr[16], tr[17] = 0, 0
		binary.BigEndian.PutUint16(tr[16:], fullSum(pseudoSum(p, protoTCP, len(tr)), tr))
	case p[9] == protoUDP && len(tr) >= 8:
		tr[6], tr[7] = 0, 0
		s := fullSum(pseudoSum(p, protoUDP, len(tr)), tr)
		if s == 0 {
			s = 0xffff // a computed 0 is sent as 0xffff; 0 means "none"
		}
		if !noUDPSum {
			binary.BigEndian.PutUint16(tr[6:], s)
		}
	case p[9] == protoICMP && len(tr) >= 4:
		tr[2], tr[3] = 0, 0
		binary.BigEndian.PutUint16(tr[2:], fullSum(0, tr))
	}
}

func tcpSeg(sport, dport uint16, flags byte, opts, data []byte) []byte {
	b := make([]byte, 20+len(opts)+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 0x01020304)
	b[12] = byte((20+len(opts))/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], opts)
	copy(b[20+len(opts):], data)
	return b
}

func udpDgram(sport, dport uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], data)
	return b
}

// icmpMsg returns an ICMP message: type, code, checksum, 4 bytes rest, body.
func icmpMsg(typ, code byte, rest uint32, body []byte) []byte {
	b := make([]byte, 8+len(body))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], rest)
	copy(b[8:], body)
	return b
}

// fragment splits a whole packet p after at bytes of its payload (a
// multiple of 8) into two fragments with valid header checksums.
func fragment(p []byte, at int) (first, second []byte) {
	ihl := int(p[0]&0x0f) * 4
	first = append([]byte(nil), p[:ihl+at]...)
	binary.BigEndian.PutUint16(first[2:], uint16(len(first)))
	binary.BigEndian.PutUint16(first[6:], 0x2000) // MF
	fillIPSum(first, ihl)
	second = append(append([]byte(nil), p[:ihl]...), p[ihl+at:]...)
	binary.BigEndian.PutUint16(second[2:], uint16(len(second)))
	binary.BigEndian.PutUint16(second[6:], uint16(at/8))
	fillIPSum(second, ihl)
	return first, second
}

// reassemble joins two fragments made by fragment into one packet, with a
// header checksum of its own; the transport checksum is left as it came.
func reassemble(first, second []byte) []byte {
	ihl := int(first[0]&0x0f) * 4
	p := append(append([]byte(nil), first...), second[ihl:]...)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[6:], 0)
	fillIPSum(p, ihl)
	return p
}

// sumsErr verifies in full every checksum of the IPv4 packet p that can be
// verified: the IP header; the TCP, UDP or ICMP checksum of an unfragmented
// packet; in an ICMP error, the quoted IP header and, when the whole quoted
// packet is there, its transport checksum. Anything not IPv4 has none.
func sumsErr(p []byte) error {
	ihl, total, ok := ipv4Bounds(p)
	if !ok {
		return nil
	}
	p = p[:total]
	if fullSum(0, p[:ihl]) != 0 {
		return errors.New("ip header checksum")
	}
	if binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
		return nil // a fragment: the transport checksum spans others
	}
	if err := transportSumErr(p, ihl); err != nil {
		return err
	}
	return quoteSumsErr(p, ihl)
}

// ipv4Bounds returns the header length and total length of a sound IPv4 packet.
func ipv4Bounds(p []byte) (ihl, total int, ok bool) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return 0, 0, false
	}
	ihl = int(p[0]&0x0f) * 4
	total = int(binary.BigEndian.Uint16(p[2:]))
	return ihl, total, ihl >= 20 && total >= ihl && total <= len(p)
}

func transportSumErr(p []byte, ihl int) error {
	tr := p[ihl:]
	switch {
	case p[9] == protoTCP && len(tr) >= 20:
		if fullSum(pseudoSum(p, protoTCP, len(tr)), tr) != 0 {
			return errors.New("tcp checksum")
		}
	case p[9] == protoUDP && len(tr) >= 8 && binary.BigEndian.Uint16(tr[6:]) != 0:
		if fullSum(pseudoSum(p, protoUDP, len(tr)), tr) != 0 {
			return errors.New("udp checksum")
		}
	case p[9] == protoICMP && len(tr) >= 4:
		if fullSum(0, tr) != 0 {
			return errors.New("icmp checksum")
		}
	}
	return nil
}

// quoteSumsErr checks the packet quoted by an ICMP error in p, if any.
func quoteSumsErr(p []byte, ihl int) error {
	tr := p[ihl:]
	if p[9] != protoICMP || len(tr) < 8 || (tr[0] != 3 && tr[0] != 11 && tr[0] != 12) {
		return nil
	}
	q := tr[8:]
	if len(q) < 20 || q[0]>>4 != 4 {
		return nil
	}
	qihl := int(q[0]&0x0f) * 4
	if qihl < 20 || qihl > len(q) {
		return nil
	}
	if fullSum(0, q[:qihl]) != 0 {
		return errors.New("quoted ip header checksum")
	}
	qihl, qtotal, ok := ipv4Bounds(q)
	if !ok || binary.BigEndian.Uint16(q[6:])&0x3fff != 0 {
		return nil // cut short or a fragment: its transport checksum cannot be verified
	}
	if err := transportSumErr(q[:qtotal], qihl); err != nil {
		return fmt.Errorf("quoted %w", err)
	}
	return nil
}

// fixSums fills in every checksum sumsErr verifies, innermost first.
func fixSums(p []byte) {
	ihl, total, ok := ipv4Bounds(p)
	if !ok {
		return
	}
	p = p[:total]
	if binary.BigEndian.Uint16(p[6:])&0x3fff == 0 {
		fixQuoteSums(p, ihl)
		fixTransportSum(p, ihl)
	}
	fillIPSum(p, ihl)
}

func fixQuoteSums(p []byte, ihl int) {
	tr := p[ihl:]
	if p[9] != protoICMP || len(tr) < 28 || tr[8]>>4 != 4 {
		return
	}
	q := tr[8:]
	qihl := int(q[0]&0x0f) * 4
	if qihl < 20 || qihl > len(q) {
		return
	}
	if _, qtotal, ok := ipv4Bounds(q); ok && binary.BigEndian.Uint16(q[6:])&0x3fff == 0 {
		fixTransportSum(q[:qtotal], qihl)
	}
	fillIPSum(q, qihl)
}

// fixTransportSum fills the transport checksum, keeping a UDP checksum of 0.
func fixTransportSum(p []byte, ihl int) {
	tr := p[ihl:]
	fillTransportSum(p, ihl, p[9] == protoUDP && len(tr) >= 8 && binary.BigEndian.Uint16(tr[6:]) == 0)
}
