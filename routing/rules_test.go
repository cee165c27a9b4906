package routing

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// A member (by source address or by uid) finds the project's route through
// the mesh link, with the gateway's own address as the source of its own
// packets; anybody else finds "unreachable", not the default route. A
// second sync changes nothing; a flush leaves no rule of ours.
func TestProjectTablesAndRules(t *testing.T) {
	netnstest.Run(t, func() {
		mesh := dummy(t, "mesh0")
		lan := dummy(t, "lan0")
		if err := netlink.AddrAdd(lan, &netlink.Addr{IPNet: cidrAddr("192.168.0.2/24")}); err != nil {
			t.Fatal(err)
		}
		// The way out for everything else: what a non-member must not take.
		if err := netlink.RouteAdd(&netlink.Route{Dst: cidr("0.0.0.0/0"), Gw: net.ParseIP("192.168.0.1"), LinkIndex: lan.Attrs().Index}); err != nil {
			t.Fatal(err)
		}
		// A gateway forwards; without it the kernel finds no route for
		// any packet from the LAN.
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
		const projectA, unreach = 1001, 1000
		vpc := netip.MustParsePrefix("10.0.0.0/24")
		gw := netip.MustParseAddr("192.168.0.2")
		routes := []Route{{Dst: vpc, Table: projectA, Src: gw}, {Dst: vpc, Table: unreach, Unreachable: true}}
		uid := uint32(4242)
		rules := []Rule{
			{Priority: 5100, Src: netip.MustParsePrefix("192.168.0.50/32"), Table: projectA},
			{Priority: 5100, UIDs: &[2]uint32{uid, uid}, Table: projectA},
			{Priority: 5200, Table: unreach},
		}
		if d, err := Sync("mesh0", routes); err != nil || d.Added != 2 {
			t.Fatalf("routes: %+v %v", d, err)
		}
		kernels, err := netlink.RuleList(netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := SyncRules(rules); err != nil || d != (Diff{Added: 3}) {
			t.Fatalf("rules: %+v %v", d, err)
		}
		dst := net.ParseIP("10.0.0.20")
		get := func(opts *netlink.RouteGetOptions) (netlink.Route, error) {
			rs, err := netlink.RouteGetWithOptions(dst, opts)
			if err != nil {
				return netlink.Route{}, err
			}
			return rs[0], nil
		}
		if r, err := get(&netlink.RouteGetOptions{Iif: "lan0", SrcAddr: net.ParseIP("192.168.0.50")}); err != nil || r.LinkIndex != mesh.Attrs().Index {
			t.Errorf("member 192.168.0.50 → 10.0.0.20: %+v, %v; want the mesh link", r, err)
		}
		if r, err := get(&netlink.RouteGetOptions{UID: &uid}); err != nil || r.LinkIndex != mesh.Attrs().Index || !r.Src.Equal(net.ParseIP("192.168.0.2")) {
			t.Errorf("uid %d on the gateway → 10.0.0.20: %+v, %v; want the mesh link from 192.168.0.2", uid, r, err)
		}
		for what, opts := range map[string]*netlink.RouteGetOptions{
			"non-member 192.168.0.99": {Iif: "lan0", SrcAddr: net.ParseIP("192.168.0.99")},
			"another uid":             {UID: new(uint32(1000))},
		} {
			if r, err := get(opts); !errors.Is(err, unix.EHOSTUNREACH) && !errors.Is(err, unix.ENETUNREACH) {
				t.Errorf("%s → 10.0.0.20: %+v, %v; want unreachable", what, r, err)
			}
		}
		if d, err := SyncRules(rules); err != nil || d != (Diff{}) {
			t.Errorf("second rule sync must change nothing: %+v %v", d, err)
		}
		if d, err := Sync("mesh0", routes); err != nil || d != (Diff{}) {
			t.Errorf("second route sync must change nothing: %+v %v", d, err)
		}
		if d, err := SyncRules(rules[2:]); err != nil || d.Removed != 2 {
			t.Errorf("dropping the member rules: %+v %v", d, err)
		}
		if n, err := FlushRules(); err != nil || n != 1 {
			t.Errorf("flush: %d rules, %v", n, err)
		}
		if left, _ := OwnedRules(); len(left) != 0 {
			t.Errorf("rules left after flush: %v", left)
		}
		// The kernel's own rules (local, main, default) are not ours.
		if after, _ := netlink.RuleList(netlink.FAMILY_V4); len(after) != len(kernels) {
			t.Errorf("%d rules before, %d after: %v", len(kernels), len(after), after)
		}
	})
}

func cidrAddr(s string) *net.IPNet {
	ip, n, _ := net.ParseCIDR(s)
	n.IP = ip
	return n
}
