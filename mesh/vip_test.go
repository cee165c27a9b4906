package mesh

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
)

// Which member of an office HA pair holds the floating address: the same
// decision as the allowed IPs, and never while settling after its start or
// while it reaches no gateway at all.
func TestFloatWants(t *testing.T) {
	self, err := configs.Parse("gw2.toml", []byte(strings.Replace(gossipGW, `name = "gw"`, `name = "gw2"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	self.Sites[0].VirtualAddress = netip.MustParseAddr("192.168.0.254")
	gw1 := node(t, nodeSpec{"gw1", "office", 200, "100.96.0.2", []string{"alpha=192.168.0.0/24"}, ""})
	remote := node(t, nodeSpec{"vpc-gw", "vpc", 100, "100.96.0.9", []string{"alpha=10.0.0.0/24"}, ""})
	lan := func(netip.Addr) (string, error) { return "lan", nil }
	for _, c := range []struct {
		name       string
		view       View
		settling   bool
		ownDown    []string
		reaches    bool
		wantActive bool
		wantHolder string
	}{
		{"gw1 of higher priority up", View{Nodes: []*discovery.Node{gw1, remote}}, false, nil, true, false, "gw1"},
		{"gw1 down", View{Nodes: []*discovery.Node{gw1, remote}, Down: map[string]bool{"gw1": true}}, false, nil, true, true, "gw2"},
		{"gw1 gone from the view", View{Nodes: []*discovery.Node{remote}}, false, nil, true, true, "gw2"},
		{"still settling after its start", View{Nodes: []*discovery.Node{remote}}, true, nil, true, false, ""},
		{"reaches no gateway", View{}, false, nil, false, false, ""},
		{"cannot reach its own site", View{Nodes: []*discovery.Node{remote}}, false, []string{"office"}, true, false, ""},
	} {
		w, warn := floatWants(self, c.view, c.settling, c.ownDown, c.reaches, lan)
		if len(warn) != 0 || len(w) != 1 {
			t.Fatalf("%s: wants %+v, warnings %v", c.name, w, warn)
		}
		if w[0].active != c.wantActive || w[0].holder != c.wantHolder || w[0].iface != "lan" || w[0].addr != netip.MustParseAddr("192.168.0.254") {
			t.Errorf("%s: got %+v, want active %v holder %q", c.name, w[0], c.wantActive, c.wantHolder)
		}
	}
	// No interface on the address's network: a warning, nothing held.
	w, warn := floatWants(self, View{}, false, nil, true, func(netip.Addr) (string, error) { return "", errors.New("no interface on 192.168.0.254's network") })
	if len(w) != 0 || len(warn) != 1 || !strings.Contains(warn[0], "site office: virtual_address") {
		t.Errorf("interface not found: wants %+v, warnings %q", w, warn)
	}
}
