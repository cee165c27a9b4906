package discovery

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Admission runs on the WireGuard port, before any tunnel exists. Anyone on
// the internet can send to that port, so it proves the sender's address
// before doing any signature work (docs/SECURITY.md, Anyone on the internet),
// the way WireGuard's cookie reply and DTLS's HelloVerifyRequest do:
//
//	joiner                                   gateway
//	Join {no cookie, nonce N, record, sig}  →
//	                                       ←  Cookie {N, MAC(secret, joiner's address)}
//	Join {cookie, nonce N', record, sig}    →   cookie checked (cheap), then the
//	                                            record and the signature verified
//	                                       ←  Welcome {N', observed address, record, sig}
//
// A joiner keeps the cookie for its next Joins to that gateway, so only the
// first admission costs the extra round trip. The Join's signature covers
// the cookie, so a captured Join is worthless from another address or after
// the gateway's secret rotated; the Welcome's covers the joiner's nonce and
// the address it observed, so a replayed or forged Welcome re-points
// nothing. No answer is larger than the packet it answers until the sender
// has proven its address.
//
// Wire format, after the control byte and the message type:
//
//	Join     cookie[16] nonce[16] record sig[64]
//	Welcome  nonce[16] observed[18] record sig[64]
//	Cookie   nonce[16] cookie[16]
//
// observed is a 16-byte IPv6 (or IPv4-mapped) address and a 2-byte port;
// record is as it travels (see Identity.Sign); sig is the sender's
// signing key over a domain string and everything before it.

// Decoding errors, made once: a flood of bad packets allocates nothing.
var (
	errNotControl   = errors.New("not a control packet")
	errJoinShort    = errors.New("join: too short")
	errWelcomeShort = errors.New("welcome: too short")
	errNotAdmission = errors.New("not a join or welcome")
	errNotCookie    = errors.New("not a cookie message")
	errNotProbe     = errors.New("not a probe")
	errProbeLength  = errors.New("probe: wrong length")
)

// MsgType is a control message's type.
type MsgType byte

const (
	MsgJoin    MsgType = 1
	MsgWelcome MsgType = 2
	MsgPing    MsgType = 3
	MsgPong    MsgType = 4
	MsgCookie  MsgType = 5
)

// Sizes of the fixed parts.
const (
	CookieSize = 16
	NonceSize  = 16
	addrSize   = 18
	sigSize    = ed25519.SignatureSize
	// CookieMsgSize is the size of a Cookie message, the largest answer
	// to a sender that has not proven its address but a Pong.
	CookieMsgSize = 2 + NonceSize + CookieSize
	joinFixed     = 2 + CookieSize + NonceSize + sigSize
	welcomeFixed  = 2 + NonceSize + addrSize + sigSize
)

// Cookie proves that a joiner receives at the address it sends from.
type Cookie [CookieSize]byte

// Nonce ties an answer to the message it answers.
type Nonce [NonceSize]byte

// Signature domains: a signature made for one message cannot pass as
// another's, nor as a record's.
const (
	joinDomain    = "vpcmesh join v2\x00"
	welcomeDomain = "vpcmesh welcome v2\x00"
)

// Admission is a Join or a Welcome. Decoded, its record and signature are
// not verified yet: Verify the record, then check SignedBy with the key of
// the node it names.
type Admission struct {
	Type     MsgType
	Cookie   Cookie         // Join: the answering gateway's cookie, zero for none
	Nonce    Nonce          // Join: fresh; Welcome: the Join's
	Observed netip.AddrPort // Welcome: the joiner as the answering gateway saw it
	Record   []byte

	signed, sig []byte // set by DecodeAdmission
}

// Encode writes the message as a control packet signed with key.
func (a Admission) Encode(key ed25519.PrivateKey) []byte {
	b := []byte{tunnel.ControlByte, byte(a.Type)}
	switch a.Type {
	case MsgJoin:
		b = append(b, a.Cookie[:]...)
		b = append(b, a.Nonce[:]...)
	case MsgWelcome:
		b = append(b, a.Nonce[:]...)
		b = appendAddrPort(b, a.Observed)
	}
	b = append(b, a.Record...)
	return append(b, ed25519.Sign(key, a.domain(b))...)
}

func (a Admission) domain(signed []byte) []byte {
	d := joinDomain
	if a.Type == MsgWelcome {
		d = welcomeDomain
	}
	return append([]byte(d), signed...)
}

// SignedBy reports whether the message is signed by pub.
func (a Admission) SignedBy(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && len(a.sig) == sigSize && ed25519.Verify(pub, a.domain(a.signed), a.sig)
}

// DecodeAdmission parses a Join or a Welcome; it verifies nothing.
func DecodeAdmission(pkt []byte) (Admission, error) {
	if len(pkt) < 2 || pkt[0] != tunnel.ControlByte {
		return Admission{}, errNotControl
	}
	a := Admission{Type: MsgType(pkt[1])}
	rest := pkt[2:]
	switch a.Type {
	case MsgJoin:
		if len(pkt) <= joinFixed {
			return Admission{}, errJoinShort
		}
		a.Cookie = Cookie(rest[:CookieSize])
		a.Nonce = Nonce(rest[CookieSize:])
		rest = rest[CookieSize+NonceSize:]
	case MsgWelcome:
		if len(pkt) <= welcomeFixed {
			return Admission{}, errWelcomeShort
		}
		a.Nonce = Nonce(rest)
		a.Observed = readAddrPort(rest[NonceSize:])
		rest = rest[NonceSize+addrSize:]
	default:
		return Admission{}, errNotAdmission
	}
	cut := len(pkt) - sigSize
	a.Record = rest[:len(rest)-sigSize]
	a.signed, a.sig = pkt[:cut], pkt[cut:]
	return a, nil
}

// CookieReply is a Cookie message: the answer to a Join without a valid
// cookie.
type CookieReply struct {
	Nonce  Nonce // the Join's
	Cookie Cookie
}

// AppendEncode appends the message to b.
func (c CookieReply) AppendEncode(b []byte) []byte {
	b = append(b, tunnel.ControlByte, byte(MsgCookie))
	b = append(b, c.Nonce[:]...)
	return append(b, c.Cookie[:]...)
}

// DecodeCookieReply parses a Cookie message.
func DecodeCookieReply(pkt []byte) (CookieReply, error) {
	if len(pkt) != CookieMsgSize || pkt[0] != tunnel.ControlByte || MsgType(pkt[1]) != MsgCookie {
		return CookieReply{}, errNotCookie
	}
	return CookieReply{Nonce: Nonce(pkt[2:]), Cookie: Cookie(pkt[2+NonceSize:])}, nil
}

func appendAddrPort(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().As16()
	b = append(b, ip[:]...)
	return binary.BigEndian.AppendUint16(b, a.Port())
}

func readAddrPort(b []byte) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b)).Unmap(), binary.BigEndian.Uint16(b[16:]))
}

// Path probes (Paths) share the control byte: a Ping goes to each endpoint
// candidate of a peer, from the WireGuard socket so that it opens the same
// NAT mapping as the tunnel; a Pong answers it from where it arrived, with
// the address the Ping came from. A Pong that comes back proves a direct
// path both ways; one from a public gateway also tells the pinger its
// reflexive address. They carry no record: a nonce matches a Pong to its
// Ping. A Ping is padded to a Pong's size, so that answering one sends no
// more bytes than it got: a gateway cannot be used to amplify.
const (
	PingSize = 2 + 12 + 4 + 14 // the padding makes it a Pong's size
	PongSize = 2 + 12 + addrSize
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
func (p Probe) Encode() []byte { return p.AppendEncode(make([]byte, 0, PingSize)) }

// AppendEncode appends the probe to b.
func (p Probe) AppendEncode(b []byte) []byte {
	b = append(b, tunnel.ControlByte, byte(p.Type))
	b = append(b, p.Nonce[:]...)
	switch p.Type {
	case MsgPing:
		to := p.To.As4()
		b = append(b, to[:]...)
		b = append(b, make([]byte, PingSize-2-12-4)...)
	case MsgPong:
		b = appendAddrPort(b, p.Observed)
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
		return Probe{}, errNotProbe
	}
	p := Probe{Type: MsgType(pkt[1])}
	want := PingSize
	if p.Type == MsgPong {
		want = PongSize
	}
	if len(pkt) != want {
		return Probe{}, errProbeLength
	}
	rest := pkt[2:]
	copy(p.Nonce[:], rest)
	if p.Type == MsgPing {
		p.To = netip.AddrFrom4([4]byte(rest[12:16]))
	} else {
		p.Observed = readAddrPort(rest[12:])
	}
	return p, nil
}
