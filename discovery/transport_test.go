package discovery

import (
	"io"
	"log"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Two memberlists on tunnelTransport, bound to the loopback device, find
// each other: packets (probes, gossip) and streams (the join's push/pull)
// both work on sockets bound to a device.
func TestTunnelTransportJoins(t *testing.T) {
	var mls []*memberlist.Memberlist
	for i, a := range []string{"127.0.0.1", "127.0.0.2"} {
		tr, err := newTunnelTransport("lo", netip.AddrPortFrom(netip.MustParseAddr(a), 0), log.New(io.Discard, "", 0))
		if err != nil {
			t.Skipf("no socket bound to lo here: %v", err)
		}
		c := memberlist.DefaultLocalConfig()
		c.Name = []string{"a", "b"}[i]
		c.Transport = tr
		c.AdvertiseAddr, c.AdvertisePort = a, tr.tcp.Addr().(*net.TCPAddr).Port
		c.Logger = log.New(io.Discard, "", 0)
		ml, err := memberlist.Create(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ml.Shutdown() })
		mls = append(mls, ml)
	}
	n := mls[0].LocalNode()
	if _, err := mls[1].Join([]string{net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for mls[0].NumMembers() != 2 || mls[1].NumMembers() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("members: %d and %d, want 2 each", mls[0].NumMembers(), mls[1].NumMembers())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
