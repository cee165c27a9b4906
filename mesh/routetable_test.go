package mesh

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

func TestRouteTable(t *testing.T) {
	k := func() tunnel.Key {
		key, err := tunnel.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		return key.Public()
	}
	a, b := k(), k()
	pfx := netip.MustParsePrefix
	peers := []tunnel.Peer{
		{PublicKey: a, AllowedIPs: []netip.Prefix{pfx("100.96.0.2/32"), pfx("100.100.1.0/24")}},
		{PublicKey: b, AllowedIPs: []netip.Prefix{pfx("100.96.0.3/32"), pfx("100.100.2.0/25")}},
	}
	names := map[tunnel.Key]string{a: "gw-a", b: "gw-b"}
	routes := []routing.Route{{Dst: pfx("100.100.2.0/25")}, {Dst: pfx("100.100.1.0/24")}, {Dst: pfx("100.96.0.0/16")}}
	projects := []nat.ProjectRoute{{Project: "alpha", Wire: pfx("100.100.1.0/24")}, {Project: "beta", Wire: pfx("100.100.2.0/25")}, {Project: "ops", Wire: pfx("100.100.0.0/16")}}
	got := routeTable(routes, peers, names, projects, []string{"100.100.1.0/24", "100.96.0.0/16"})
	want := []RouteStatus{
		{Prefix: "100.96.0.0/16", Projects: []string{}, Installed: true},
		{Prefix: "100.100.1.0/24", Peer: "gw-a", Projects: []string{"alpha", "ops"}, Installed: true},
		{Prefix: "100.100.2.0/25", Peer: "gw-b", Projects: []string{"beta", "ops"}, Installed: false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("route table:\n got %+v\nwant %+v", got, want)
	}
}
