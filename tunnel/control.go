package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
)

// ControlByte starts every vpcmesh control packet. WireGuard messages start
// with their type, 1 to 4, as a little-endian uint32, so their first byte
// is never this: the two share one UDP socket and one NAT mapping, and a
// control packet is told apart by its first byte alone.
const ControlByte = 0xf6

// MaxControlSize bounds a control packet: one datagram, unfragmented on a
// 1500-byte path with IPv6 and PPPoE headers. A Join carries a certificate
// chain, which with a project authority's certificate is over 1200 bytes.
const MaxControlSize = 1400

// ControlHandler sees each control packet on WireGuard's receive goroutine,
// with the address it came from as seen here (after any NAT on the way,
// IPv4-mapped addresses unmapped). Anybody on the internet can send one, so
// it must be cheap, must not block and must not keep pkt or r past the
// call: it copies what it queues.
type ControlHandler interface {
	Control(pkt []byte, from netip.AddrPort, r *Reply)
}

// ControlFunc is a function as a ControlHandler.
type ControlFunc func(pkt []byte, from netip.AddrPort, r *Reply)

func (f ControlFunc) Control(pkt []byte, from netip.AddrPort, r *Reply) { f(pkt, from, r) }

// Reply answers the control packet being handled, to where it came from,
// without allocating. One belongs to each receive goroutine and is valid
// only during the handler's call.
type Reply struct {
	bind *controlBind
	ep   conn.Endpoint
	bufs [1][]byte
	buf  [MaxControlSize]byte
}

// Buf is scratch space for the answer: empty, with room for a control
// packet.
func (r *Reply) Buf() []byte { return r.buf[:0] }

// Send sends pkt back to the handled packet's sender.
func (r *Reply) Send(pkt []byte) error {
	if err := checkControl(pkt); err != nil {
		return err
	}
	r.bufs[0] = pkt
	err := r.bind.Bind.Send(r.bufs[:], r.ep)
	r.bufs[0] = nil
	return err
}

// controlBind is the WireGuard bind with control and relayed packets taken
// out of the received batches before wireguard-go sees them.
type controlBind struct {
	conn.Bind
	handler    atomic.Pointer[ControlHandler]
	relay      relayState
	relayTable atomic.Pointer[relayTable]
}

func (b *controlBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	fns, actual, err := b.Bind.Open(port)
	if err != nil {
		return nil, 0, err
	}
	wrapped := make([]conn.ReceiveFunc, len(fns))
	for i, fn := range fns {
		wrapped[i] = b.receive(fn)
	}
	return wrapped, actual, nil
}

// receive wraps a ReceiveFunc: control and relay packets are handled and
// their slots set to size 0, which wireguard-go skips. Each wrapped func
// runs on one goroutine, which owns its Reply.
func (b *controlBind) receive(fn conn.ReceiveFunc) conn.ReceiveFunc {
	r := &Reply{bind: b}
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, err := fn(packets, sizes, eps)
		for i := range n {
			if sizes[i] == 0 {
				continue
			}
			from, ok := addrPort(eps[i])
			switch {
			case !ok:
				sizes[i] = 0 // no address to judge it by
			case b.relayReceived(packets, sizes, eps, i, from):
			case packets[i][0] == ControlByte:
				b.control(packets[i][:sizes[i]], from, eps[i], r)
				sizes[i] = 0
			}
		}
		return n, err
	}
}

// control hands one control packet to the handler.
func (b *controlBind) control(pkt []byte, from netip.AddrPort, ep conn.Endpoint, r *Reply) {
	h := b.handler.Load()
	if h == nil || len(pkt) > MaxControlSize {
		return
	}
	r.ep = ep
	(*h).Control(pkt, from, r)
	r.ep = nil
}

// addrPort is the sender of a received packet, IPv4-mapped addresses
// unmapped. The standard bind's endpoint carries it; anything else is
// parsed from its string.
func addrPort(ep conn.Endpoint) (netip.AddrPort, bool) {
	var a netip.AddrPort
	switch e := ep.(type) {
	case *conn.StdNetEndpoint:
		a = e.AddrPort
	case nil:
		return a, false
	default:
		var err error
		if a, err = netip.ParseAddrPort(e.DstToString()); err != nil {
			return a, false
		}
	}
	return unmap(a), a.IsValid()
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// HandleControl sets the handler of control packets; nil drops them.
func (d *Device) HandleControl(h ControlHandler) {
	if h == nil {
		d.bind.handler.Store(nil)
		return
	}
	d.bind.handler.Store(&h)
}

func checkControl(pkt []byte) error {
	switch {
	case len(pkt) == 0 || pkt[0] != ControlByte:
		return errors.New("not a control packet")
	case len(pkt) > MaxControlSize:
		return fmt.Errorf("control packet of %d bytes exceeds %d", len(pkt), MaxControlSize)
	}
	return nil
}

// SendControl sends one control packet from the WireGuard socket, so that
// it leaves through the same NAT mapping as the tunnel's packets.
func (d *Device) SendControl(to netip.AddrPort, pkt []byte) error {
	if err := checkControl(pkt); err != nil {
		return err
	}
	ep, err := d.bind.ParseEndpoint(to.String())
	if err != nil {
		return err
	}
	return d.bind.Send([][]byte{pkt}, ep)
}
