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
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st := peerStatus(t, d); !st.LastHandshake.IsZero() {
			return st.LastHandshake
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no handshake within 10s")
	return time.Time{}
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
