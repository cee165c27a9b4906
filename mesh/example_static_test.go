package mesh

import (
	"os"
	"testing"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/nat"
)

// configs/examples/static-wireguard-site.toml says only the HQ servers'
// subnet (172.20.10.0/24) may use the branches' routes: its packet rules
// let the servers and the branch talk, both ways, and nobody else at HQ.
func TestStaticSiteExampleOnlyServers(t *testing.T) {
	b, err := os.ReadFile("../configs/examples/static-wireguard-site.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse("static-wireguard-site.toml", b)
	if err != nil {
		t.Fatal(err)
	}
	table, err := nat.Compile(PacketPolicy(cfg, 1420))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		out      bool
		src, dst string
		want     nat.Verdict
	}{
		{"server to branch", true, "172.20.10.7", "192.168.50.7", nat.Pass},
		{"branch to server", false, "192.168.50.7", "172.20.10.7", nat.Pass},
		{"other HQ host to branch", true, "172.20.5.5", "192.168.50.7", nat.DropACL},
		{"branch to other HQ host", false, "192.168.50.7", "172.20.5.5", nat.DropACL},
	} {
		pkt := udpPacket(c.src, c.dst)
		var got nat.Verdict
		if c.out {
			got = table.Outbound(pkt)
		} else {
			got = table.Inbound(pkt)
		}
		if got != c.want {
			t.Errorf("%s (%s → %s): verdict %v, want %v", c.name, c.src, c.dst, got, c.want)
		}
	}
}
