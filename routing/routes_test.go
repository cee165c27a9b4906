package routing

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// dummy makes an up link to route through; veth, because this kernel may
// lack the dummy driver.
func dummy(t *testing.T, name string) netlink.Link {
	t.Helper()
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(l); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	return l
}

func ownedDsts(t *testing.T) map[string]int {
	t.Helper()
	rs, err := Owned()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, r := range rs {
		m[r.Dst.String()]++
	}
	return m
}

func TestSyncAddsRemovesAndLeavesOthersAlone(t *testing.T) {
	netnstest.Run(t, func() {
		dummy(t, "mesh0")
		other := dummy(t, "lan0")
		// A stale route of ours from a crash, and somebody else's route.
		stale := &netlink.Route{LinkIndex: other.Attrs().Index, Dst: cidr("10.99.0.0/24"), Protocol: Protocol, Table: 100}
		foreign := &netlink.Route{LinkIndex: other.Attrs().Index, Dst: cidr("10.98.0.0/24"), Protocol: 4}
		for _, r := range []*netlink.Route{stale, foreign} {
			if err := netlink.RouteAdd(r); err != nil {
				t.Fatal(err)
			}
		}
		want := []Route{{Dst: netip.MustParsePrefix("10.0.0.0/24")}, {Dst: netip.MustParsePrefix("100.96.0.2/32")}}
		d, err := Sync("mesh0", want)
		if err != nil || d.Added != 2 || d.Removed != 1 {
			t.Fatalf("first sync: %+v %v", d, err)
		}
		got := ownedDsts(t)
		if len(got) != 2 || got["10.0.0.0/24"] != 1 || got["100.96.0.2/32"] != 1 {
			t.Errorf("owned routes = %v", got)
		}
		if d, err := Sync("mesh0", want); err != nil || d != (Diff{}) {
			t.Errorf("second sync must change nothing: %+v %v", d, err)
		}
		if rs, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: cidr("10.98.0.0/24")}, netlink.RT_FILTER_DST); len(rs) != 1 {
			t.Errorf("foreign route touched: %v", rs)
		}
		if n, err := Flush(); err != nil || n != 2 || len(ownedDsts(t)) != 0 {
			t.Errorf("flush: %d %v, left %v", n, err, ownedDsts(t))
		}
	})
}

func TestWatchDeletesSeesHandDeletion(t *testing.T) {
	netnstest.Run(t, func() {
		dummy(t, "mesh0")
		want := []Route{{Dst: netip.MustParsePrefix("10.0.0.0/24")}}
		if _, err := Sync("mesh0", want); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		changed, err := WatchDeletes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := Owned()
		if len(rs) != 1 {
			t.Fatalf("owned = %v", rs)
		}
		if err := netlink.RouteDel(&rs[0]); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatal("deletion not reported")
		}
		if d, err := Sync("mesh0", want); err != nil || d.Added != 1 {
			t.Fatalf("re-add: %+v %v", d, err)
		}
		cancel()
		for range changed {
		}
	})
}

func cidr(s string) *net.IPNet {
	_, n, _ := net.ParseCIDR(s)
	return n
}
