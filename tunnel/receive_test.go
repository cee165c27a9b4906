package tunnel

import (
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
)

// fakeBind is an inner bind that receives what a test hands it and records
// what is sent: the receive path without sockets.
type fakeBind struct {
	in   [][]byte
	from []netip.AddrPort
	ep   conn.StdNetEndpoint
	sent int
}

func (f *fakeBind) Open(uint16) ([]conn.ReceiveFunc, uint16, error) {
	return []conn.ReceiveFunc{func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		// One packet a call: the endpoint is shared.
		if len(f.in) == 0 || len(packets) == 0 {
			return 0, nil
		}
		sizes[0] = copy(packets[0], f.in[0])
		f.ep.AddrPort = f.from[0]
		eps[0] = &f.ep
		f.in, f.from = f.in[:0], f.from[:0]
		return 1, nil
	}}, 51820, nil
}
func (f *fakeBind) Close() error                              { return nil }
func (f *fakeBind) SetMark(uint32) error                      { return nil }
func (f *fakeBind) Send(bufs [][]byte, _ conn.Endpoint) error { f.sent += len(bufs); return nil }
func (f *fakeBind) BatchSize() int                            { return 128 }
func (f *fakeBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	a, err := netip.ParseAddrPort(s)
	return &conn.StdNetEndpoint{AddrPort: a}, err
}

var _ conn.Bind = (*fakeBind)(nil)

// receiver is a control bind over a fakeBind with a receive func to drive.
type receiver struct {
	*controlBind
	fake    *fakeBind
	recv    conn.ReceiveFunc
	handled int
	bufs    [][]byte
	sizes   []int
	eps     []conn.Endpoint
}

func newReceiver(t testing.TB) *receiver {
	f := &fakeBind{}
	r := &receiver{controlBind: &controlBind{Bind: f}, fake: f,
		bufs: [][]byte{make([]byte, 2048)}, sizes: []int{0}, eps: []conn.Endpoint{nil}}
	fns, _, err := r.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	r.recv = fns[0]
	r.HandleControlFunc(func([]byte, netip.AddrPort, *Reply) { r.handled++ })
	return r
}

func (r *receiver) HandleControlFunc(f ControlFunc) {
	var h ControlHandler = f
	r.handler.Store(&h)
}

// deliver runs one packet through the receive path and returns what
// wireguard-go would get: its size, 0 for taken out.
func (r *receiver) deliver(pkt []byte, from netip.AddrPort) int {
	r.fake.in, r.fake.from = append(r.fake.in[:0], pkt), append(r.fake.from[:0], from)
	n, _ := r.recv(r.bufs, r.sizes, r.eps)
	if n != 1 {
		return -1
	}
	return r.sizes[0]
}

var senders = []netip.AddrPort{
	netip.MustParseAddrPort("203.0.113.9:4000"),
	netip.MustParseAddrPort("[::ffff:203.0.113.9]:4000"),
	netip.MustParseAddrPort("[2001:db8::9]:4000"),
	netip.MustParseAddrPort("[fd76:706d:726c:7900:cb00:7114:6460:1]:4000"), // inside the relay /64
}

// Every first byte, from IPv4, IPv4-mapped and IPv6 senders, on a gateway
// that relays (with an IPv6 peer among its relay peers) and takes relayed
// packets from an IPv4 relay: nothing panics; control and relay packets
// never reach wireguard-go.
func TestReceiveEveryFirstByteEveryFamily(t *testing.T) {
	r := newReceiver(t)
	if err := r.setRelayPeers(RelayPeers{
		netip.MustParseAddr("100.96.0.1"): netip.MustParseAddrPort("203.0.113.1:51820"),
		netip.MustParseAddr("100.96.0.2"): netip.MustParseAddrPort("[2001:db8::2]:51820"),
	}); err != nil {
		t.Fatal(err)
	}
	r.setRelaySources([]netip.AddrPort{netip.MustParseAddrPort("203.0.113.9:4000"), netip.MustParseAddrPort("[2001:db8::9]:4000")},
		[]netip.Addr{netip.MustParseAddr("100.96.0.1")})
	for _, from := range senders {
		for b := range 256 {
			for _, size := range []int{1, 5, 6, 40} {
				pkt := make([]byte, size)
				pkt[0] = byte(b)
				copy(pkt[1:], []byte{100, 96, 0, 1})
				got := r.deliver(pkt, from)
				switch {
				case b == ControlByte || b == RelayTo:
					if got != 0 {
						t.Fatalf("%#x from %s reached wireguard-go", b, from)
					}
				case b == RelayFrom:
					relayed := size > relayHeader && from.Addr().Unmap().Is4()
					if want := map[bool]int{true: size - relayHeader, false: 0}[relayed]; got != want {
						t.Fatalf("RelayFrom of %d bytes from %s: %d bytes to wireguard-go, want %d", size, from, got, want)
					}
				}
			}
		}
	}
	if r.handled == 0 {
		t.Error("no control packet reached the handler")
	}
}

// A relayed packet keeps state only when it comes from one of our relays
// and names one of our peers: 200,000 from other addresses and ports,
// naming made-up gateways, leave nothing behind.
func TestRelayFromStrangersKeepsNoState(t *testing.T) {
	r := newReceiver(t)
	relay := netip.MustParseAddrPort("203.0.113.20:51820")
	peer := netip.MustParseAddr("100.96.0.7")
	r.setRelaySources([]netip.AddrPort{relay}, []netip.Addr{peer})
	for i := range 200_000 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), uint16(1024+i%60000))
		if i%2 == 0 {
			from = netip.AddrPortFrom(relay.Addr(), uint16(1024+i%60000)) // the relay's address, another port
		}
		pkt := []byte{RelayFrom, 100, byte(i >> 16), byte(i >> 8), byte(i), 1, 0, 0, 0}
		if got := r.deliver(pkt, from); got != 0 {
			t.Fatalf("RelayFrom from %s reached wireguard-go", from)
		}
	}
	if n := len(r.relay.eps); n != 0 {
		t.Fatalf("%d relayed paths kept for strangers", n)
	}
	if got := r.relay.strays.Load(); got != 200_000 {
		t.Errorf("%d strays counted, want 200000", got)
	}
	// From the relay, for the peer: one path, shared by every packet.
	for range 3 {
		if got := r.deliver([]byte{RelayFrom, 100, 96, 0, 7, 1, 0, 0, 0}, relay); got != 4 {
			t.Fatalf("the relay's packet for our peer: %d bytes to wireguard-go, want 4", got)
		}
	}
	if n := len(r.relay.eps); n != 1 {
		t.Fatalf("%d relayed paths, want 1", n)
	}
	// A relay that is no longer ours: its path goes.
	r.setRelaySources(nil, []netip.Addr{peer})
	if n := len(r.relay.eps); n != 0 {
		t.Fatalf("%d relayed paths kept after the relay went", n)
	}
}

// Any datagram from any kind of source: no panic, nothing but a
// WireGuard-looking packet reaches wireguard-go, and relayed-path state
// stays within what SetRelaySources allows.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{RelayFrom, 1, 2, 3, 4, 5}, []byte(netip.MustParseAddr("2001:db8::1").AsSlice()), uint16(1))
	f.Add([]byte{RelayTo, 100, 96, 0, 1, 1}, []byte{203, 0, 113, 20}, uint16(51820))
	f.Add([]byte{ControlByte, 1}, []byte(netip.MustParseAddr("::ffff:1.2.3.4").AsSlice()), uint16(7))
	f.Add([]byte{1, 0, 0, 0}, []byte{1, 2, 3, 4}, uint16(7))
	r := newReceiver(f)
	relay := netip.MustParseAddrPort("203.0.113.20:51820")
	if err := r.setRelayPeers(RelayPeers{netip.MustParseAddr("100.96.0.1"): relay}); err != nil {
		f.Fatal(err)
	}
	r.setRelaySources([]netip.AddrPort{relay}, []netip.Addr{netip.MustParseAddr("100.96.0.1")})
	f.Fuzz(func(t *testing.T, pkt, addr []byte, port uint16) {
		a, ok := netip.AddrFromSlice(addr)
		if !ok || len(pkt) == 0 || len(pkt) > 2048 {
			return
		}
		got := r.deliver(pkt, netip.AddrPortFrom(a, port))
		if (pkt[0] == ControlByte || pkt[0] == RelayTo) && got != 0 {
			t.Fatalf("%#x reached wireguard-go", pkt[0])
		}
		if n := len(r.relay.eps); n > 1 {
			t.Fatalf("%d relayed paths; one is allowed", n)
		}
	})
}

// The cost of a packet the receive path drops: a garbage control packet,
// a relayed packet from a stranger.
func BenchmarkReceiveGarbage(b *testing.B) {
	for _, c := range []struct {
		name string
		pkt  []byte
	}{{"control", []byte{ControlByte, 0x77, 1, 2}}, {"relay-from", []byte{RelayFrom, 1, 2, 3, 4, 5, 6}}} {
		b.Run(c.name, func(b *testing.B) {
			r := newReceiver(b)
			r.HandleControlFunc(func([]byte, netip.AddrPort, *Reply) {})
			from := netip.MustParseAddrPort("[2001:db8::9]:4000")
			b.ReportAllocs()
			for b.Loop() {
				r.deliver(c.pkt, from)
			}
		})
	}
}
