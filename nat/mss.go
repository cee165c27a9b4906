package nat

import "encoding/binary"

const (
	tcpFlagSYN = 0x02

	tcpOptEnd = 0
	tcpOptNOP = 1
	tcpOptMSS = 2

	// mssOverhead is what an IPv4 and a TCP header without options take
	// from the MTU.
	mssOverhead = ipv4MinHeader + tcpMinHeader
)

// clamp lowers the MSS option of a TCP SYN or SYN-ACK in p to the table's
// limit. A tunnel's MTU is smaller than the links the hosts see; without the
// clamp their TCP sends segments that do not fit and stalls where PMTU
// discovery is blocked.
func (t *Table) clamp(p *ipv4) {
	if t.mss == 0 || p.proto != protoTCP || !p.first {
		return
	}
	tcp := p.transport()
	if tcp[13]&tcpFlagSYN == 0 {
		return
	}
	clampMSS(tcp, t.mss)
}

// clampMSS lowers the MSS option in the TCP segment tcp to max when it is
// larger, and updates the TCP checksum. ipv4.parse checked the data offset.
func clampMSS(tcp []byte, max uint16) {
	at := findMSS(tcp[tcpMinHeader : int(tcp[12]>>4)*4])
	if at < 0 {
		return
	}
	at += tcpMinHeader
	if binary.BigEndian.Uint16(tcp[at:]) <= max {
		return
	}
	var d patch
	if at%2 == 0 {
		d.put16(tcp[at:], max)
	} else {
		d.putOdd16(tcp[at:], max)
	}
	d.apply(tcp[16:])
}

// findMSS returns the offset of the MSS value in the TCP options opts, or
// -1. Options may sit at odd offsets; a malformed list ends the search.
func findMSS(opts []byte) int {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case tcpOptEnd:
			return -1
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return -1
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return -1
		}
		if opts[i] == tcpOptMSS && n == 4 {
			return i + 2
		}
		i += n
	}
	return -1
}
