package mesh

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/configs"
)

const officeCfg = `version = 1
[node]
name = "office-gw"
private_key_file = "/etc/vpcmesh/wireguard.key"
overlay_address = "100.96.0.1"
[mesh]
name = "lab"
overlay_range = "100.96.0.0/16"
[[site]]
name = "office"
cidrs = ["192.168.0.0/24"]
[[peer]]
name = "vpc-gw"
public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
endpoint = "vpc.example:51820"
prefixes = ["10.0.0.0/24", "100.96.0.2/32"]
[[peer]]
name = "branch"
public_key = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
prefixes = ["172.16.5.0/24"]
persistent_keepalive = 0
`

func TestComputeStaticPeers(t *testing.T) {
	cfg, err := configs.Parse("office.toml", []byte(officeCfg))
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(_ context.Context, hp string) (netip.AddrPort, error) {
		if hp == "vpc.example:51820" {
			return netip.MustParseAddrPort("203.0.113.20:51820"), nil
		}
		return netip.AddrPort{}, errors.New("no such host")
	}
	d, warnings := Compute(context.Background(), cfg, resolve, View{})
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if d.Address.String() != "100.96.0.1/32" {
		t.Errorf("address = %v", d.Address)
	}
	if len(d.Peers) != 2 {
		t.Fatalf("peers = %+v", d.Peers)
	}
	vpc, branch := d.Peers[0], d.Peers[1]
	if vpc.Endpoint.String() != "203.0.113.20:51820" || vpc.Keepalive != 25 || len(vpc.AllowedIPs) != 2 {
		t.Errorf("vpc peer = %+v", vpc)
	}
	if branch.Endpoint.IsValid() || branch.Keepalive != 0 {
		t.Errorf("branch peer (behind NAT, keepalive off) = %+v", branch)
	}
	if d.Names[vpc.PublicKey] != "vpc-gw" || d.Names[branch.PublicKey] != "branch" {
		t.Errorf("names = %v", d.Names)
	}
	var routes []string
	for _, r := range d.Routes {
		routes = append(routes, r.Dst.String())
	}
	if got := strings.Join(routes, " "); got != "10.0.0.0/24 100.96.0.2/32 172.16.5.0/24" {
		t.Errorf("routes = %s", got)
	}
}

// An endpoint that does not resolve keeps the peer (it can still dial in)
// and says why.
func TestComputeUnresolvedEndpointWarns(t *testing.T) {
	cfg, err := configs.Parse("office.toml", []byte(officeCfg))
	if err != nil {
		t.Fatal(err)
	}
	fail := func(context.Context, string) (netip.AddrPort, error) {
		return netip.AddrPort{}, errors.New("no such host")
	}
	d, warnings := Compute(context.Background(), cfg, fail, View{})
	if len(d.Peers) != 2 || d.Peers[0].Endpoint.IsValid() {
		t.Errorf("peers = %+v", d.Peers)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "peer vpc-gw: no such host") {
		t.Errorf("warnings = %q", warnings)
	}
}
