package routing

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// vipLAN makes an up veth (both ends up, so it has carrier) with addr as
// its address, standing for a gateway's LAN interface.
func vipLAN(t *testing.T, name, addr string) netlink.Link {
	t.Helper()
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(l); err != nil {
		t.Fatal(err)
	}
	vipSetup(t, name, addr)
	if err := netlink.LinkSetUp(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "p"}}); err != nil {
		t.Fatal(err)
	}
	return l
}

// vipSetup gives the link name addr (if any) and brings it up.
func vipSetup(t *testing.T, name, addr string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		a, err := netlink.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

// vipAddrs lists name's IPv4 addresses as prefixes, with their flags.
func vipAddrs(t *testing.T, name string) map[netip.Prefix]int {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	m := map[netip.Prefix]int{}
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		m[netip.PrefixFrom(ip.Unmap(), ones)] = a.Flags
	}
	return m
}

func TestHoldReleaseAddress(t *testing.T) {
	netnstest.Run(t, func() {
		vipLAN(t, "lan0", "192.0.2.10/24")
		primary := netip.MustParsePrefix("192.0.2.10/24")
		for _, s := range []string{"192.0.2.100/32", "192.0.2.100/24"} {
			vip := netip.MustParsePrefix(s)
			if added, err := HoldAddress("lan0", vip, 0); err != nil || !added {
				t.Fatalf("hold %s: added=%v %v", vip, added, err)
			}
			if added, err := HoldAddress("lan0", vip, 0); err != nil || added {
				t.Fatalf("hold %s again: added=%v %v, want false", vip, added, err)
			}
			got := vipAddrs(t, "lan0")
			if _, ok := got[vip]; !ok || len(got) != 2 {
				t.Fatalf("holding %s, lan0 has %v", vip, got)
			}
			if has, err := HasAddress("lan0", vip.Addr()); err != nil || !has {
				t.Errorf("HasAddress(%s) = %v %v while held", vip.Addr(), has, err)
			}
			// With the LAN's length it must be a secondary, which is never
			// a source and whose deletion deletes nothing else.
			if vip.Bits() == 24 && got[vip]&unix.IFA_F_SECONDARY == 0 {
				t.Errorf("%s is not secondary: flags %#x", vip, got[vip])
			}
			// Either way the gateway's own traffic into the LAN keeps the
			// interface's address as its source.
			rs, err := netlink.RouteGet(net.IPv4(192, 0, 2, 50))
			if err != nil || len(rs) != 1 || !rs[0].Src.Equal(net.IPv4(192, 0, 2, 10)) {
				t.Errorf("holding %s, route to 192.0.2.50 = %v %v, want source 192.0.2.10", vip, rs, err)
			}

			if removed, err := ReleaseAddress("lan0", vip); err != nil || !removed {
				t.Fatalf("release %s: removed=%v %v", vip, removed, err)
			}
			got = vipAddrs(t, "lan0")
			if flags, ok := got[primary]; len(got) != 1 || !ok || flags&unix.IFA_F_SECONDARY != 0 {
				t.Fatalf("after releasing %s lan0 has %v, want only %s, as primary", vip, got, primary)
			}
			if has, err := HasAddress("lan0", vip.Addr()); err != nil || has {
				t.Errorf("HasAddress(%s) = %v %v after release", vip.Addr(), has, err)
			}
			if removed, err := ReleaseAddress("lan0", vip); err != nil || removed {
				t.Errorf("release %s again: removed=%v %v, want false, nil", vip, removed, err)
			}
		}

		// Same address, other length: Release must not take the
		// interface's own address.
		if removed, err := ReleaseAddress("lan0", netip.MustParsePrefix("192.0.2.10/32")); err != nil || removed {
			t.Errorf("release 192.0.2.10/32: removed=%v %v, want false, nil", removed, err)
		}
		if _, ok := vipAddrs(t, "lan0")[primary]; !ok {
			t.Error("releasing the /32 took the /24")
		}
		if removed, err := ReleaseAddress("nosuch0", netip.MustParsePrefix("192.0.2.100/32")); err != nil || removed {
			t.Errorf("release on a missing interface: removed=%v %v, want false, nil", removed, err)
		}
		if _, err := HoldAddress("nosuch0", netip.MustParsePrefix("192.0.2.100/32"), 0); err == nil {
			t.Error("hold on a missing interface succeeded")
		}

		v6 := netip.MustParsePrefix("2001:db8::100/128")
		if _, err := HoldAddress("lan0", v6, 0); err == nil || !strings.Contains(err.Error(), "IPv4 only") {
			t.Errorf("hold IPv6: %v, want the IPv4-only error", err)
		}
		if _, err := ReleaseAddress("lan0", v6); err == nil {
			t.Error("release IPv6 accepted")
		}
		if err := AnnounceAddress("lan0", v6.Addr()); err == nil {
			t.Error("announce IPv6 accepted")
		}
	})
}

func TestInterfaceFor(t *testing.T) {
	netnstest.Run(t, func() {
		vipLAN(t, "lan0", "192.0.2.10/24")
		vipLAN(t, "lan1", "198.51.100.10/24")
		// A virtual address held as /32 elsewhere is no connected network.
		if _, err := HoldAddress("lan1", netip.MustParsePrefix("203.0.113.5/32"), 0); err != nil {
			t.Fatal(err)
		}
		if got, err := InterfaceFor(netip.MustParseAddr("192.0.2.100")); err != nil || got != "lan0" {
			t.Errorf("InterfaceFor(192.0.2.100) = %q %v, want lan0", got, err)
		}
		if got, err := InterfaceFor(netip.MustParseAddr("198.51.100.200")); err != nil || got != "lan1" {
			t.Errorf("InterfaceFor(198.51.100.200) = %q %v, want lan1", got, err)
		}
		for _, a := range []string{"203.0.113.5", "203.0.113.9"} {
			if got, err := InterfaceFor(netip.MustParseAddr(a)); err == nil || !strings.Contains(err.Error(), a) {
				t.Errorf("InterfaceFor(%s) = %q %v, want an error naming it", a, got, err)
			}
		}
		// The same LAN on two interfaces is ambiguous.
		vipLAN(t, "lan2", "192.0.2.20/24")
		if got, err := InterfaceFor(netip.MustParseAddr("192.0.2.100")); err == nil || !strings.Contains(err.Error(), "lan0, lan2") {
			t.Errorf("InterfaceFor with two candidates = %q %v, want an error naming both", got, err)
		}
	})
}

// vipHost is a namespace on the LAN: a veth whose other end is a port of the
// bridge in the current namespace.
type vipHost struct {
	ns  netns.NsHandle
	dev string
	mac net.HardwareAddr
}

// newVIPHost makes a namespace with the interface dev holding addr, wired
// into bridge. The namespace is unnamed and goes away with its handle,
// closed at cleanup, taking its end of the veth (and so the other) along.
func newVIPHost(t *testing.T, bridge netlink.Link, dev, addr string) vipHost {
	t.Helper()
	here, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	ns, err := netns.New() // switches this (locked) thread into it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	if err := netns.Set(here); err != nil {
		t.Fatal(err)
	}
	port := dev + "p"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port, MasterIndex: bridge.Attrs().Index}, PeerName: dev}); err != nil {
		t.Fatal(err)
	}
	vipSetup(t, port, "")
	peer, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		t.Fatal(err)
	}
	h := vipHost{ns: ns, dev: dev}
	h.in(t, func() {
		vipSetup(t, "lo", "")
		vipSetup(t, dev, addr)
		l, err := netlink.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		h.mac = l.Attrs().HardwareAddr
	})
	return h
}

// in runs f with this thread in h's namespace.
func (h vipHost) in(t *testing.T, f func()) {
	t.Helper()
	back, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := netns.Set(h.ns); err != nil {
		t.Fatal(err)
	}
	// Also on t.Fatal in f; should this fail, netnstest leaves the thread
	// locked and the runtime discards it.
	defer netns.Set(back)
	f()
}

// echoRepliesSent is this namespace's ICMP OutEchoReps counter. Through
// thread-self, because /proc/self/net is the namespace of the process's
// main thread, not of this one.
func echoRepliesSent(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Icmp:" {
			continue
		}
		if names == nil {
			names = f // the header line comes first
			continue
		}
		if i := slices.Index(names, "OutEchoReps"); i > 0 && i < len(f) {
			n, err := strconv.Atoi(f[i])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Icmp OutEchoReps in /proc/thread-self/net/snmp")
	return 0
}

// ping sends echo requests to dst from this namespace until one is
// answered or the timeout passes.
func ping(dst netip.Addr, timeout time.Duration) error {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	const id = 0x7669 // the raw socket sees every echo reply; ours carry this
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for seq := 1; time.Now().Before(deadline); seq++ {
		req, err := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("vip")}}).Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(req, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		// Wait for a reply a while, then ask again: the first requests
		// may go while ports and neighbours are still settling.
		wait := time.Now().Add(200 * time.Millisecond)
		if wait.After(deadline) {
			wait = deadline
		}
		if err := c.SetReadDeadline(wait); err != nil {
			return err
		}
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break // read deadline: send the next request
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && from.(*net.IPAddr).IP.Equal(dst.AsSlice()) {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s in %s", dst, timeout)
}

// neighMAC is the MAC of this namespace's neighbour entry for ip on link,
// nil when there is none or it is unresolved.
func neighMAC(t *testing.T, link netlink.Link, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	ns, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.IP.Equal(ip.AsSlice()) && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
			return n.HardwareAddr
		}
	}
	return nil
}

// TestAnnounceAddressMovesNeighbour fails the address over from A to B on
// a LAN whose router R has a neighbour entry for it, and checks that the
// gratuitous ARP, and nothing else, moves R's entry to B.
func TestAnnounceAddressMovesNeighbour(t *testing.T) {
	netnstest.Run(t, func() {
		// This namespace is R, with the LAN on a bridge.
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
		if err := netlink.LinkAdd(br); err != nil {
			t.Fatal(err)
		}
		vipSetup(t, "br0", "192.0.2.1/24")
		a := newVIPHost(t, br, "lana", "192.0.2.11/24")
		b := newVIPHost(t, br, "lanb", "192.0.2.12/24")
		vip := netip.MustParsePrefix("192.0.2.100/32")
		// Until the kernel has activated a link that just got carrier, it
		// drops what the link sends; B sends its announcement once, so
		// wait until B can answer on the LAN.
		if err := ping(netip.MustParseAddr("192.0.2.12"), 5*time.Second); err != nil {
			t.Fatalf("R to B's own address: %v", err)
		}

		a.in(t, func() {
			if _, err := HoldAddress(a.dev, vip, 0); err != nil {
				t.Fatal(err)
			}
		})
		if err := ping(vip.Addr(), 5*time.Second); err != nil {
			t.Fatalf("R to A: %v", err)
		}
		if got := neighMAC(t, br, vip.Addr()); !bytes.Equal(got, a.mac) {
			t.Fatalf("R's entry for %s = %v, want A's %v", vip.Addr(), got, a.mac)
		}

		a.in(t, func() {
			if removed, err := ReleaseAddress(a.dev, vip); err != nil || !removed {
				t.Fatalf("A releases: %v %v", removed, err)
			}
		})
		var before int
		b.in(t, func() {
			if _, err := HoldAddress(b.dev, vip, 0); err != nil {
				t.Fatal(err)
			}
			before = echoRepliesSent(t)
		})
		// Holding alone tells R nothing: its entry still names A.
		if got := neighMAC(t, br, vip.Addr()); !bytes.Equal(got, a.mac) {
			t.Fatalf("before the announcement R's entry = %v, want still A's %v", got, a.mac)
		}

		// R watches the LAN for the announcement, to check its form.
		ifi, err := net.InterfaceByName("br0")
		if err != nil {
			t.Fatal(err)
		}
		watch, err := arp.Dial(ifi)
		if err != nil {
			t.Fatal(err)
		}
		defer watch.Close()
		b.in(t, func() {
			if err := AnnounceAddress(b.dev, vip.Addr()); err != nil {
				t.Fatal(err)
			}
		})
		if err := watch.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			t.Fatal(err)
		}
		for {
			p, f, err := watch.Read()
			if err != nil {
				t.Fatalf("R saw no ARP from %s: %v", vip.Addr(), err)
			}
			if p.SenderIP != vip.Addr() {
				continue
			}
			if p.Operation != arp.OperationRequest || p.TargetIP != vip.Addr() ||
				!bytes.Equal(p.SenderHardwareAddr, b.mac) || !bytes.Equal(f.Source, b.mac) ||
				!bytes.Equal(p.TargetHardwareAddr, make(net.HardwareAddr, 6)) ||
				!bytes.Equal(f.Destination, ethernet.Broadcast) {
				t.Fatalf("announcement is %+v in %+v, want a request from B's MAC %v for %s to %s, target MAC zero, to broadcast",
					p, f, b.mac, vip.Addr(), vip.Addr())
			}
			break
		}
		var got net.HardwareAddr
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if got = neighMAC(t, br, vip.Addr()); bytes.Equal(got, b.mac) {
				break
			}
		}
		if !bytes.Equal(got, b.mac) {
			t.Fatalf("after the announcement R's entry = %v, want B's %v (A's is %v)", got, b.mac, a.mac)
		}

		if err := ping(vip.Addr(), 2*time.Second); err != nil {
			t.Fatalf("R to B: %v", err)
		}
		b.in(t, func() {
			if after := echoRepliesSent(t); after <= before {
				t.Errorf("B sent %d echo replies before R's ping and %d after: the reply did not come from B", before, after)
			}
		})
	})
}

// An address held with a lifetime stays while it is renewed and is gone
// by itself soon after the renewals stop: what a killed holder leaves.
func TestHoldAddressLifetime(t *testing.T) {
	netnstest.Run(t, func() {
		vipLAN(t, "lan0", "192.0.2.10/24")
		vip := netip.MustParsePrefix("192.0.2.100/32")
		const life = 2 * time.Second
		if added, err := HoldAddress("lan0", vip, life); err != nil || !added {
			t.Fatalf("hold %s for %v: added=%v %v", vip, life, added, err)
		}
		for end := time.Now().Add(2 * life); time.Now().Before(end); time.Sleep(life / 4) { // renewals, as a holder makes them
			if added, err := HoldAddress("lan0", vip, life); err != nil || added {
				t.Fatalf("renew %s: added=%v %v, want false", vip, added, err)
			}
		}
		if has, _ := HasAddress("lan0", vip.Addr()); !has {
			t.Fatalf("%s gone while renewed every %v", vip, life/4)
		}
		stopped := time.Now()
		for has := true; has; time.Sleep(100 * time.Millisecond) {
			if time.Since(stopped) > life+3*time.Second {
				t.Fatalf("%s still held %v after the last renewal (lifetime %v)", vip, time.Since(stopped), life)
			}
			has, _ = HasAddress("lan0", vip.Addr())
		}
		t.Logf("%s gone %v after the last renewal (lifetime %v)", vip, time.Since(stopped).Round(100*time.Millisecond), life)
	})
}
