package tunnel

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
)

// Relaying (docs/ARCHITECTURE.md, Paths: hole punching and relays): when two
// gateways cannot reach each other directly, each sends its WireGuard packets
// for the other to a public gateway that forwards them. The packets stay
// end-to-end encrypted: the relay reads only a 5-byte header, never the
// tunnel's content.
//
//	to the relay:   RelayTo   | overlay address of the destination | WireGuard packet
//	from the relay: RelayFrom | overlay address of the sender      | WireGuard packet
//
// Neither byte can start a WireGuard message (types 1 to 4) or a control
// packet. The relay forwards only between the current endpoints of its own
// peers, so it is not an open relay, and it takes the sender's overlay
// address from its table, not from the header.
const (
	RelayTo     = 0xf4
	RelayFrom   = 0xf5
	relayHeader = 5
)

// relayNet is the IPv6 /64 whose addresses stand for "via relay R, to the
// peer with overlay address O": the relay's IPv4 address in bits 64–95, O
// in bits 96–127, the relay's port as the port. A relayed path is then an
// ordinary netip.AddrPort that WireGuard keeps as a peer's endpoint, learns
// by roaming and reports in its status.
var relayNet = [8]byte{0xfd, 0x76, 0x70, 0x6d, 0x72, 0x65, 0x6c, 0x79}

// RelayEndpoint is the endpoint that sends to the gateway with overlay
// address peer through relay. Relays are IPv4 only: the encoding has room
// for an IPv4 relay address alone.
func RelayEndpoint(relay netip.AddrPort, peer netip.Addr) (netip.AddrPort, error) {
	r := relay.Addr().Unmap()
	if !r.Is4() || !peer.Is4() {
		return netip.AddrPort{}, fmt.Errorf("relay %s for %s: relays work over IPv4 only", relay, peer)
	}
	var a [16]byte
	copy(a[:8], relayNet[:])
	r4, p4 := r.As4(), peer.As4()
	copy(a[8:12], r4[:])
	copy(a[12:], p4[:])
	return netip.AddrPortFrom(netip.AddrFrom16(a), relay.Port()), nil
}

// ParseRelayEndpoint undoes RelayEndpoint; ok is false for a direct
// endpoint.
func ParseRelayEndpoint(ep netip.AddrPort) (relay netip.AddrPort, peer netip.Addr, ok bool) {
	a := ep.Addr()
	if !a.Is6() || a.Is4In6() {
		return netip.AddrPort{}, netip.Addr{}, false
	}
	b := a.As16()
	if [8]byte(b[:8]) != relayNet {
		return netip.AddrPort{}, netip.Addr{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), ep.Port()), netip.AddrFrom4([4]byte(b[12:])), true
}

// relayEndpoint is a relayed path as a conn.Endpoint: sends go to the relay
// with the RelayTo header.
type relayEndpoint struct {
	ep    netip.AddrPort // as RelayEndpoint encodes it
	peer  [4]byte
	relay conn.Endpoint // the inner bind's endpoint for the relay
}

func (e *relayEndpoint) ClearSrc()           {}
func (e *relayEndpoint) SrcToString() string { return "" }
func (e *relayEndpoint) DstToString() string { return e.ep.String() }
func (e *relayEndpoint) DstToBytes() []byte  { b, _ := e.ep.MarshalBinary(); return b }
func (e *relayEndpoint) DstIP() netip.Addr   { return e.ep.Addr() }
func (e *relayEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }

// relayState is the bind's relaying: the endpoints it made (one per path,
// shared, since WireGuard keeps them) and what it forwarded for others.
// eps holds only paths through the relays and to the peers that sources
// allows, so its size is bounded by the mesh, never by what strangers send.
type relayState struct {
	mu        sync.Mutex
	eps       map[netip.AddrPort]*relayEndpoint
	sources   atomic.Pointer[relaySources]
	forwarded atomic.Uint64
	refused   atomic.Uint64 // not a relay here, or not between its peers
	strays    atomic.Uint64 // relayed to here from no relay of ours, or for no peer
	// stale is called, and must not block, when a packet names a peer
	// from an address the table does not know: a peer's NAT mapping may
	// have moved, and the table should be read again.
	stale atomic.Pointer[func()]
	// direct: the peers whose path is direct, by overlay address, and
	// where it goes (SetDirectPaths).
	direct atomic.Pointer[map[[4]byte]netip.AddrPort]
}

// RelayPeers are the gateways a relay forwards between: overlay address →
// the endpoint WireGuard uses for it now.
type RelayPeers map[netip.Addr]netip.AddrPort

// relayTable is a relay's peers both ways; nil on a gateway that does not
// relay.
type relayTable struct {
	to   map[[4]byte]conn.Endpoint
	from map[netip.AddrPort][4]byte
}

// relaySources are the relays this gateway takes relayed packets from and
// the gateways that may be behind them.
type relaySources struct {
	relays map[netip.AddrPort]bool
	peers  map[[4]byte]bool
}

// allows says whether a RelayFrom packet from relay naming peer is one.
func (s *relaySources) allows(relay netip.AddrPort, peer [4]byte) bool {
	return s != nil && s.relays[relay] && s.peers[peer]
}

// endpoint returns the shared endpoint for a relayed path.
func (b *controlBind) relayEndpoint(ep netip.AddrPort) (*relayEndpoint, error) {
	b.relay.mu.Lock()
	defer b.relay.mu.Unlock()
	if e, ok := b.relay.eps[ep]; ok {
		return e, nil
	}
	relay, peer, _ := ParseRelayEndpoint(ep)
	inner, err := b.Bind.ParseEndpoint(relay.String())
	if err != nil {
		return nil, err
	}
	if b.relay.eps == nil {
		b.relay.eps = map[netip.AddrPort]*relayEndpoint{}
	}
	e := &relayEndpoint{ep: ep, peer: peer.As4(), relay: inner}
	b.relay.eps[ep] = e
	return e, nil
}

func (b *controlBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if _, _, ok := ParseRelayEndpoint(ap); ok {
			return b.relayEndpoint(ap)
		}
	}
	return b.Bind.ParseEndpoint(s)
}

var relayBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<16); return &b }}

// Send sends direct packets as they are and relayed ones with the RelayTo
// header, copied: wireguard-go's buffers have no room in front.
func (b *controlBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	re, ok := ep.(*relayEndpoint)
	if !ok {
		return b.Bind.Send(bufs, ep)
	}
	out := make([][]byte, len(bufs))
	held := make([]*[]byte, len(bufs))
	for i, p := range bufs {
		held[i] = relayBufs.Get().(*[]byte)
		buf := append((*held[i])[:0], RelayTo)
		buf = append(buf, re.peer[:]...)
		out[i] = append(buf, p...)
	}
	err := b.Bind.Send(out, re.relay)
	for _, h := range held {
		relayBufs.Put(h)
	}
	return err
}

// relayReceived handles packet i of a received batch, sent by from, if it
// is relayed: forwarded on (RelayTo, on a relay) or unwrapped with the
// relayed path as its endpoint (RelayFrom, from one of our relays). It
// reports whether the packet was one.
func (b *controlBind) relayReceived(packets [][]byte, sizes []int, eps []conn.Endpoint, i int, from netip.AddrPort) bool {
	pkt := packets[i][:sizes[i]]
	switch pkt[0] {
	case RelayTo:
		sizes[i] = 0
		if !b.forward(pkt, from) {
			b.relay.refused.Add(1)
		}
		return true
	case RelayFrom:
		sizes[i] = 0
		if len(pkt) <= relayHeader || !b.relay.sources.Load().allows(from, [4]byte(pkt[1:relayHeader])) {
			b.relay.strays.Add(1)
			return true
		}
		peer := [4]byte(pkt[1:relayHeader])
		var e conn.Endpoint
		if d := b.relay.direct.Load(); d != nil {
			if ap, ok := (*d)[peer]; ok {
				// A fresh one, as the inner bind gives per packet:
				// WireGuard may change the one it holds.
				e, _ = b.Bind.ParseEndpoint(ap.String())
			}
		}
		if e == nil {
			ep, err := RelayEndpoint(from, netip.AddrFrom4(peer))
			if err != nil {
				b.relay.strays.Add(1)
				return true
			}
			if e, err = b.relayEndpoint(ep); err != nil {
				return true
			}
		}
		sizes[i] = copy(packets[i], pkt[relayHeader:])
		eps[i] = e
		return true
	}
	return false
}

// forward sends a RelayTo packet on to its destination, if this gateway
// relays between the sender and it.
func (b *controlBind) forward(pkt []byte, sender netip.AddrPort) bool {
	t := b.relayTable.Load()
	if t == nil || len(pkt) <= relayHeader {
		return false
	}
	src, known := t.from[sender]
	dst, ok := t.to[[4]byte(pkt[1:relayHeader])]
	if !known && ok {
		if f := b.relay.stale.Load(); f != nil {
			(*f)()
		}
	}
	if !known || !ok {
		return false
	}
	pkt[0] = RelayFrom
	copy(pkt[1:relayHeader], src[:])
	if b.Bind.Send([][]byte{pkt}, dst) != nil {
		return false
	}
	b.relay.forwarded.Add(1)
	return true
}

// SetRelaySources sets the relays this gateway takes relayed packets from
// (their endpoints) and the overlay addresses of the gateways that may be
// behind them. A relayed packet from anywhere else is dropped before any
// state is kept for it.
func (d *Device) SetRelaySources(relays []netip.AddrPort, peers []netip.Addr) {
	d.bind.setRelaySources(relays, peers)
}

func (b *controlBind) setRelaySources(relays []netip.AddrPort, peers []netip.Addr) {
	s := &relaySources{relays: map[netip.AddrPort]bool{}, peers: map[[4]byte]bool{}}
	for _, r := range relays {
		if r := unmap(r); r.Addr().Is4() {
			s.relays[r] = true
		}
	}
	for _, p := range peers {
		if p.Is4() {
			s.peers[p.As4()] = true
		}
	}
	b.relay.sources.Store(s)
	// Paths through relays no longer allowed go: WireGuard keeps the
	// endpoint it holds, and a path allowed again is made anew.
	b.relay.mu.Lock()
	for ep, e := range b.relay.eps {
		relay, _, _ := ParseRelayEndpoint(ep)
		if !s.allows(relay, e.peer) {
			delete(b.relay.eps, ep)
		}
	}
	b.relay.mu.Unlock()
}

// SetDirectPaths names the peers whose path is direct, by overlay address,
// with the endpoint it goes to. A relayed packet from one of them is still
// taken, but as if it came that way: the packets still in flight on the
// relay when a pair moves to direct would otherwise make WireGuard roam
// back onto it, and the two ends, each pulled back by the other's
// stragglers, can keep each other there until the next hold of the path.
func (d *Device) SetDirectPaths(paths map[netip.Addr]netip.AddrPort) { d.bind.setDirectPaths(paths) }

func (b *controlBind) setDirectPaths(paths map[netip.Addr]netip.AddrPort) {
	m := make(map[[4]byte]netip.AddrPort, len(paths))
	for overlay, ep := range paths {
		if _, _, relayed := ParseRelayEndpoint(ep); overlay.Is4() && ep.IsValid() && !relayed {
			m[overlay.As4()] = ep
		}
	}
	b.relay.direct.Store(&m)
}

// SetRelayPeers makes this gateway relay between peers (nil: relay
// nothing).
func (d *Device) SetRelayPeers(peers RelayPeers) error { return d.bind.setRelayPeers(peers) }

func (b *controlBind) setRelayPeers(peers RelayPeers) error {
	if peers == nil {
		b.relayTable.Store(nil)
		return nil
	}
	t := &relayTable{to: map[[4]byte]conn.Endpoint{}, from: map[netip.AddrPort][4]byte{}}
	for overlay, ep := range peers {
		if !overlay.Is4() || !ep.IsValid() {
			continue
		}
		if _, _, relayed := ParseRelayEndpoint(ep); relayed {
			continue // a relay does not relay through another
		}
		inner, err := b.Bind.ParseEndpoint(ep.String())
		if err != nil {
			return err
		}
		t.to[overlay.As4()] = inner
		t.from[unmap(ep)] = overlay.As4()
	}
	b.relayTable.Store(t)
	return nil
}

// OnRelayMiss sets the function called, without blocking, when a packet to
// relay comes from an address the relay table does not know.
func (d *Device) OnRelayMiss(f func()) { d.bind.relay.stale.Store(&f) }

// RelayStats counts the packets this gateway forwarded for others, those
// it refused to forward, and relayed packets that came from no relay of
// its own or for no peer (strays).
func (d *Device) RelayStats() (forwarded, refused, strays uint64) {
	return d.bind.relay.forwarded.Load(), d.bind.relay.refused.Load(), d.bind.relay.strays.Load()
}
