package tunnel

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

func TestRelayEndpointRoundTrip(t *testing.T) {
	relay := netip.MustParseAddrPort("203.0.113.20:51820")
	peer := netip.MustParseAddr("100.96.0.7")
	ep := relayEP(t, relay, peer)
	r, p, ok := ParseRelayEndpoint(ep)
	if !ok || r != relay || p != peer {
		t.Fatalf("ParseRelayEndpoint(%s) = %s, %s, %v", ep, r, p, ok)
	}
	for _, direct := range []string{"203.0.113.20:51820", "[2001:db8::1]:51820", "[::ffff:10.0.0.1]:1"} {
		if _, _, ok := ParseRelayEndpoint(netip.MustParseAddrPort(direct)); ok {
			t.Errorf("%s taken for a relayed endpoint", direct)
		}
	}
	// Relays work over IPv4 only: an IPv6 relay is refused, not a panic.
	if ep, err := RelayEndpoint(netip.MustParseAddrPort("[2001:db8::1]:51820"), peer); err == nil {
		t.Errorf("IPv6 relay encoded as %s", ep)
	}
	if ep, err := RelayEndpoint(netip.MustParseAddrPort("[::ffff:203.0.113.20]:51820"), peer); err != nil || ep != relayEP(t, relay, peer) {
		t.Errorf("IPv4-mapped relay: %s, %v", ep, err)
	}
}

func relayEP(t *testing.T, relay netip.AddrPort, peer netip.Addr) netip.AddrPort {
	t.Helper()
	ep, err := RelayEndpoint(relay, peer)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// testBind is a control bind on a loopback port with its received packets
// delivered on a channel.
type testBind struct {
	*controlBind
	addr netip.AddrPort
	got  chan received
}

type received struct {
	data string
	from string
}

func openTestBind(t *testing.T) *testBind {
	t.Helper()
	b := &controlBind{Bind: conn.NewStdNetBind()}
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBind{controlBind: b, addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), got: make(chan received, 16)}
	for _, fn := range fns {
		go func() {
			bufs := make([][]byte, b.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			sizes := make([]int, len(bufs))
			eps := make([]conn.Endpoint, len(bufs))
			for {
				n, err := fn(bufs, sizes, eps)
				if err != nil {
					return
				}
				for i := range n {
					if sizes[i] > 0 {
						tb.got <- received{string(bufs[i][:sizes[i]]), eps[i].DstToString()}
					}
				}
			}
		}()
	}
	t.Cleanup(func() { b.Close() })
	return tb
}

func (tb *testBind) send(t *testing.T, to netip.AddrPort, data string) {
	t.Helper()
	ep, err := tb.ParseEndpoint(to.String())
	if err != nil {
		t.Fatal(err)
	}
	// A leading byte of 1 makes it look like a WireGuard message.
	if err := tb.Send([][]byte{[]byte(data)}, ep); err != nil {
		t.Fatal(err)
	}
}

func (tb *testBind) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-tb.got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received in 5 s")
	}
	return received{}
}

// A and D reach each other only through R, which forwards between its
// peers and nobody else; each end sees the other at a relayed endpoint,
// which is where its replies go.
func TestRelayForwardsBetweenPeersOnly(t *testing.T) {
	a, r, d, stranger := openTestBind(t), openTestBind(t), openTestBind(t), openTestBind(t)
	overlayA, overlayD := netip.MustParseAddr("100.96.0.1"), netip.MustParseAddr("100.96.0.2")
	if err := r.setRelayPeers(RelayPeers{overlayA: a.addr, overlayD: d.addr}); err != nil {
		t.Fatal(err)
	}
	a.setRelaySources([]netip.AddrPort{r.addr}, []netip.Addr{overlayD})
	d.setRelaySources([]netip.AddrPort{r.addr}, []netip.Addr{overlayA})

	a.send(t, relayEP(t, r.addr, overlayD), "\x01hello")
	got := d.next(t)
	if want := relayEP(t, r.addr, overlayA).String(); got.data != "\x01hello" || got.from != want {
		t.Fatalf("D got %q from %s, want \"\\x01hello\" from %s", got.data, got.from, want)
	}
	d.send(t, netip.MustParseAddrPort(got.from), "\x02reply")
	if got := a.next(t); got.data != "\x02reply" || got.from != relayEP(t, r.addr, overlayD).String() {
		t.Fatalf("A got %q from %s", got.data, got.from)
	}

	// Not a peer of R: dropped, though it names D. A's next packet, sent
	// after it on the same path, is the next thing D gets. R is told that
	// an unknown address wants to reach a peer (a peer whose mapping
	// moved looks the same), to read its table again.
	var misses atomic.Int32
	miss := func() { misses.Add(1) }
	r.relay.stale.Store(&miss)
	stranger.send(t, relayEP(t, r.addr, overlayD), "\x01spoofed")
	a.send(t, relayEP(t, r.addr, overlayD), "\x01second")
	if got := d.next(t); got.data != "\x01second" {
		t.Fatalf("D got %q: R relayed for a stranger", got.data)
	}
	if misses.Load() != 1 {
		t.Errorf("R reported %d misses, want 1", misses.Load())
	}
	// R counts a packet once sent: D can have it first.
	deadline := time.Now().Add(5 * time.Second)
	for r.relay.forwarded.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := r.relay.forwarded.Load(); n != 3 {
		t.Errorf("R counts %d packets forwarded, want 3", n)
	}
	if n := r.relay.refused.Load(); n != 1 {
		t.Errorf("R counts %d packets refused, want 1", n)
	}

	// A gateway that does not relay drops what it is asked to forward.
	if err := r.setRelayPeers(nil); err != nil {
		t.Fatal(err)
	}
	a.send(t, relayEP(t, r.addr, overlayD), "\x01dropped")
	for deadline := time.Now().Add(5 * time.Second); r.relay.refused.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("R never handled the packet sent with relaying off")
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.setRelayPeers(RelayPeers{overlayA: a.addr, overlayD: d.addr}); err != nil {
		t.Fatal(err)
	}
	a.send(t, relayEP(t, r.addr, overlayD), "\x01third")
	if got := d.next(t); got.data != "\x01third" {
		t.Fatalf("D got %q: a gateway with relaying off forwarded", got.data)
	}
}

// Once D's path to A is direct, A's packets still coming through R are
// taken as if they came the direct way: WireGuard, which follows the
// source of what it receives, is not pulled back onto the relay.
func TestRelayedFromDirectPeer(t *testing.T) {
	a, r, d := openTestBind(t), openTestBind(t), openTestBind(t)
	overlayA, overlayD := netip.MustParseAddr("100.96.0.1"), netip.MustParseAddr("100.96.0.2")
	if err := r.setRelayPeers(RelayPeers{overlayA: a.addr, overlayD: d.addr}); err != nil {
		t.Fatal(err)
	}
	d.setRelaySources([]netip.AddrPort{r.addr}, []netip.Addr{overlayA})
	d.setDirectPaths(map[netip.Addr]netip.AddrPort{overlayA: a.addr})
	a.send(t, relayEP(t, r.addr, overlayD), "\x01straggler")
	if got := d.next(t); got.data != "\x01straggler" || got.from != a.addr.String() {
		t.Fatalf("D got %q from %s, want \"\\x01straggler\" from %s", got.data, got.from, a.addr)
	}
	// Relayed again: its packets come from the relayed path.
	d.setDirectPaths(map[netip.Addr]netip.AddrPort{overlayA: relayEP(t, r.addr, overlayA)})
	a.send(t, relayEP(t, r.addr, overlayD), "\x01relayed")
	if got, want := d.next(t), relayEP(t, r.addr, overlayA).String(); got.data != "\x01relayed" || got.from != want {
		t.Fatalf("D got %q from %s, want \"\\x01relayed\" from %s", got.data, got.from, want)
	}
}
