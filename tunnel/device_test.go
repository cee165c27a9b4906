package tunnel

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// Two real devices on loopback handshake; editing one peer's allowed IPs must
// keep the session (per-peer diff), removing it must drop the peer.
func TestDevicePeersOnRealTUN(t *testing.T) {
	netnstest.Run(t, func() {
		ka, _ := GenerateKey()
		kb, _ := GenerateKey()
		a := openTest(t, "vmtesta", ka, 51901)
		b := openTest(t, "vmtestb", kb, 51902) // the peer a handshakes with
		if !a.Offloads {
			t.Error("TUN offloads are off")
		}
		if mtu := linkMTU(t, "vmtesta"); mtu != 1380 {
			t.Errorf("mtu = %d, want 1380", mtu)
		}
		pa := Peer{PublicKey: kb.Public(), Endpoint: netip.MustParseAddrPort("127.0.0.1:51902"),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24")}, Keepalive: 1}
		must(t, a.SetPeers([]Peer{pa}))
		must(t, b.SetPeers([]Peer{{PublicKey: ka.Public(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/24")}}}))
		first := waitHandshake(t, a)

		pa.AllowedIPs = append(pa.AllowedIPs, netip.MustParsePrefix("10.9.1.0/24"))
		must(t, a.SetPeers([]Peer{pa}))
		st := peerStatus(t, a)
		if len(st.AllowedIPs) != 2 || !st.LastHandshake.Equal(first) {
			t.Errorf("after edit: allowed %v, handshake %v (was %v): session must survive", st.AllowedIPs, st.LastHandshake, first)
		}
		must(t, a.SetPeers(nil))
		if got, _ := a.Status(); len(got) != 0 {
			t.Errorf("after remove: %d peers", len(got))
		}
	})
}

func openTest(t *testing.T, name string, k Key, port int) *Device {
	t.Helper()
	d, err := Open(Config{Interface: name, MTU: 1380, PrivateKey: k, ListenPort: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func linkMTU(t *testing.T, name string) int {
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().MTU
}

func waitHandshake(t *testing.T, d *Device) time.Time {
	t.Helper()
	return waitHandshakeWithin(t, d, 10*time.Second)
}

func peerStatus(t *testing.T, d *Device) PeerStatus {
	t.Helper()
	st, err := d.Status()
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v %v", st, err)
	}
	return st[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Sprint(err))
	}
}

// Two Welcomes to one Join (one from each endpoint a gateway lists) kick
// the handshake twice within milliseconds. The second kick must leave the
// copy the first made, whose initiation is on its way: replacing it drops
// the answer, and the other end refuses an initiation within 20 ms of the
// last as a flood, so the tunnel waits for WireGuard's 5 s retry (an HA
// member restarting took its site back that way, its partner not
// answering in time). A copy made after the Join is not kicked at all.
func TestRehandshakeOncePerJoin(t *testing.T) {
	netnstest.Run(t, func() {
		ka, _ := GenerateKey()
		kb, _ := GenerateKey()
		a := openTest(t, "vmkicka", ka, 51911)
		pa := Peer{PublicKey: kb.Public(), Endpoint: netip.MustParseAddrPort("127.0.0.1:51912"),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24")}, Keepalive: 1}
		must(t, a.SetPeers([]Peer{pa}))
		waitTx(t, a) // a's first initiation is lost: nobody listens yet
		joined := time.Now()
		b := openTest(t, "vmkickb", kb, 51912)
		must(t, b.SetPeers([]Peer{{PublicKey: ka.Public(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/24")}}}))

		must(t, a.Rehandshake(kb.Public(), joined))
		waitTx(t, a) // the fresh copy's initiation is sent
		second := time.Now()
		must(t, a.Rehandshake(kb.Public(), joined))
		first := waitHandshakeWithin(t, a, 3*time.Second) // WireGuard's own retry comes after 5 s
		t.Logf("handshake %v after the second kick", first.Sub(second).Round(time.Millisecond))

		// A Welcome to a Join sent before this copy was made: the session stays.
		must(t, a.Rehandshake(kb.Public(), joined))
		if st := peerStatus(t, a); !st.LastHandshake.Equal(first) {
			t.Errorf("handshake %v, was %v: a copy younger than the Join was replaced", st.LastHandshake, first)
		}
	})
}

// waitTx waits until d has sent something to its one peer's current copy.
func waitTx(t *testing.T, d *Device) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for peerStatus(t, d).TxBytes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing sent to the peer within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitHandshakeWithin returns d's one peer's handshake time, failing when
// there is none within limit.
func waitHandshakeWithin(t *testing.T, d *Device, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if st := peerStatus(t, d); !st.LastHandshake.IsZero() {
			return st.LastHandshake
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handshake within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
