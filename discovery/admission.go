package discovery

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Admission runs on the WireGuard port, before any tunnel exists (DESIGN
// §5): a joiner sends a Join with its node record; the gateway it contacts
// verifies it, adds the joiner as a WireGuard peer and answers with a
// Welcome carrying its own record and the joiner's address as it saw it
// (the joiner's reflexive endpoint). Gossip then runs through the tunnel.
//
// Wire format: the control byte, the message type, then for a Welcome the
// observed address (16-byte IPv6 or IPv4-mapped address, 2-byte port), then
// the record as it travels (see Identity.Sign).

// MsgType is an admission message's type.
type MsgType byte

const (
	MsgJoin    MsgType = 1
	MsgWelcome MsgType = 2
)

// Control is a decoded admission message.
type Control struct {
	Type     MsgType
	Observed netip.AddrPort // Welcome only: the joiner as the answering gateway saw it
	Record   []byte         // the sender's node record, to Verify
}

// Encode writes the message as a control packet.
func (c Control) Encode() []byte {
	b := []byte{tunnel.ControlByte, byte(c.Type)}
	if c.Type == MsgWelcome {
		a := c.Observed.Addr().As16()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint16(b, c.Observed.Port())
	}
	return append(b, c.Record...)
}

// DecodeControl parses a control packet. The record is not verified here.
func DecodeControl(pkt []byte) (Control, error) {
	if len(pkt) < 2 || pkt[0] != tunnel.ControlByte {
		return Control{}, errors.New("not a control packet")
	}
	c := Control{Type: MsgType(pkt[1])}
	rest := pkt[2:]
	switch c.Type {
	case MsgJoin:
	case MsgWelcome:
		if len(rest) < 18 {
			return Control{}, errors.New("welcome: too short")
		}
		addr := netip.AddrFrom16([16]byte(rest[:16])).Unmap()
		c.Observed = netip.AddrPortFrom(addr, binary.BigEndian.Uint16(rest[16:18]))
		rest = rest[18:]
	default:
		return Control{}, errors.New("unknown control message type")
	}
	if len(rest) == 0 {
		return Control{}, errors.New("no record")
	}
	c.Record = rest
	return c, nil
}

// Path probes (DESIGN §5, Paths) share the control byte: a Ping goes to
// each endpoint candidate of a peer, from the WireGuard socket so that it
// opens the same NAT mapping as the tunnel; a Pong answers it from where it
// arrived, with the address the Ping came from. A Pong that comes back
// proves a direct path both ways; one from a public gateway also tells the
// pinger its reflexive address. They carry no record: a nonce matches a
// Pong to its Ping.
const (
	MsgPing MsgType = 3
	MsgPong MsgType = 4
)

// Probe is a decoded Ping or Pong.
type Probe struct {
	Type  MsgType
	Nonce [12]byte
	// To is the overlay address of the gateway a Ping is for: another
	// gateway that happens to hold a candidate address (a private one,
	// behind another NAT) does not answer for it.
	To       netip.Addr
	Observed netip.AddrPort // Pong only: the Ping's source as seen there
}

// Encode writes the probe as a control packet.
func (p Probe) Encode() []byte {
	b := append([]byte{tunnel.ControlByte, byte(p.Type)}, p.Nonce[:]...)
	if p.Type == MsgPing {
		to := p.To.As4()
		b = append(b, to[:]...)
	}
	if p.Type == MsgPong {
		a := p.Observed.Addr().As16()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint16(b, p.Observed.Port())
	}
	return b
}

// IsProbe says whether a control packet is a Ping or a Pong.
func IsProbe(pkt []byte) bool {
	return len(pkt) >= 2 && (MsgType(pkt[1]) == MsgPing || MsgType(pkt[1]) == MsgPong)
}

// DecodeProbe parses a Ping or Pong.
func DecodeProbe(pkt []byte) (Probe, error) {
	if !IsProbe(pkt) || pkt[0] != tunnel.ControlByte {
		return Probe{}, errors.New("not a probe")
	}
	p := Probe{Type: MsgType(pkt[1])}
	rest := pkt[2:]
	want := 12 + 4
	if p.Type == MsgPong {
		want = 12 + 18
	}
	if len(rest) != want {
		return Probe{}, errors.New("probe: wrong length")
	}
	copy(p.Nonce[:], rest)
	if p.Type == MsgPing {
		p.To = netip.AddrFrom4([4]byte(rest[12:16]))
	}
	if p.Type == MsgPong {
		addr := netip.AddrFrom16([16]byte(rest[12:28])).Unmap()
		p.Observed = netip.AddrPortFrom(addr, binary.BigEndian.Uint16(rest[28:30]))
	}
	return p, nil
}
