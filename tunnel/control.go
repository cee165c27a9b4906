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
// control packet is told apart by its first byte alone (DESIGN §5).
const ControlByte = 0xf6

// MaxControlSize bounds a control packet: one datagram, unfragmented on a
// 1280-byte path.
const MaxControlSize = 1200

// ControlHandler gets each control packet that arrives, with the address
// it came from as seen here (after any NAT on the way). The packet is the
// handler's to keep. It runs on WireGuard's receive goroutine, so it must
// not block.
type ControlHandler func(pkt []byte, from netip.AddrPort)

// controlBind is the WireGuard bind with control packets taken out of the
// received batches before wireguard-go sees them.
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

// receive wraps a ReceiveFunc: a control packet is handed on and its slot
// set to size 0, which wireguard-go skips.
func (b *controlBind) receive(fn conn.ReceiveFunc) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, err := fn(packets, sizes, eps)
		for i := range n {
			if sizes[i] == 0 || b.relayReceived(packets, sizes, eps, i) || packets[i][0] != ControlByte {
				continue
			}
			if h := b.handler.Load(); h != nil && sizes[i] <= MaxControlSize {
				if from, perr := netip.ParseAddrPort(eps[i].DstToString()); perr == nil {
					(*h)(append([]byte(nil), packets[i][:sizes[i]]...), unmap(from))
				}
			}
			sizes[i] = 0
		}
		return n, err
	}
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// HandleControl sets the function that receives control packets; nil
// drops them.
func (d *Device) HandleControl(h ControlHandler) {
	if h == nil {
		d.bind.handler.Store(nil)
		return
	}
	d.bind.handler.Store(&h)
}

// SendControl sends one control packet from the WireGuard socket, so that
// it leaves through the same NAT mapping as the tunnel's packets.
func (d *Device) SendControl(to netip.AddrPort, pkt []byte) error {
	switch {
	case len(pkt) == 0 || pkt[0] != ControlByte:
		return errors.New("not a control packet")
	case len(pkt) > MaxControlSize:
		return fmt.Errorf("control packet of %d bytes exceeds %d", len(pkt), MaxControlSize)
	}
	ep, err := d.bind.ParseEndpoint(to.String())
	if err != nil {
		return err
	}
	return d.bind.Send([][]byte{pkt}, ep)
}
