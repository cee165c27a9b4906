package mesh

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/nat"
)

const header = `version = 1
[node]
name = "gw"
private_key_file = "/etc/vpcmesh/wireguard.key"
overlay_address = "100.96.0.1"
[mesh]
name = "lab"
overlay_range = "100.96.0.0/16"
mapped_pool = "100.100.0.0/16"
`

// The office of the overlapping-VPC case: pc-a (.50) is in alpha, pc-b
// (.51) in beta; VPC A and VPC B both use 10.0.0.0/24-ish real space and
// appear under different wire prefixes. The office LAN is not exported:
// an export would put every office host in the project.
const officePolicy = header + `
[[site]]
name = "office"
cidrs = ["192.168.0.0/24"]
[[site.member]]
project = "alpha"
sources = ["192.168.0.50/32"]
[[site.member]]
project = "beta"
sources = ["192.168.0.51/32"]
[[peer]]
name = "vpc-a"
public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
prefixes = ["100.100.1.0/24", "100.96.0.2/32"]
project = "alpha"
[[peer]]
name = "vpc-b"
public_key = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
prefixes = ["100.100.2.0/25", "100.96.0.3/32"]
project = "beta"
`

// VPC A's gateway: its 10.0.0.0/24 is 100.100.1.0/24 on the wire.
const vpcAPolicy = header + `
[[site]]
name = "vpc-a"
cidrs = ["10.0.0.0/24"]
[[site.export]]
project = "alpha"
cidr = "10.0.0.0/24"
mapped = "100.100.1.0/24"
[[site.member]]
project = "alpha"
sources = ["10.0.0.0/24"]
[[peer]]
name = "office"
public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
prefixes = ["192.168.0.0/24", "100.96.0.2/32"]
project = "alpha"
`

// A plain site-to-site link: no projects anywhere.
const linkPolicy = header + `
[[site]]
name = "hq"
cidrs = ["172.20.0.0/16"]
[[peer]]
name = "branch"
public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
prefixes = ["192.168.50.0/24", "100.96.0.2/32"]
`

func TestPacketPolicy(t *testing.T) {
	type dir int
	const (
		out dir = iota // from the site into the mesh
		in             // from the mesh into the site
	)
	cases := []struct {
		name     string
		cfg      string
		dir      dir
		src, dst string
		want     nat.Verdict
		wantSrc  string // after translation; "" = unchanged
		wantDst  string
	}{
		{"member of alpha reaches A", officePolicy, out, "192.168.0.50", "100.100.1.20", nat.Pass, "", ""},
		{"member of alpha may not reach B", officePolicy, out, "192.168.0.50", "100.100.2.20", nat.DropACL, "", ""},
		{"member of beta reaches B", officePolicy, out, "192.168.0.51", "100.100.2.20", nat.Pass, "", ""},
		{"member of beta may not reach A", officePolicy, out, "192.168.0.51", "100.100.1.20", nat.DropACL, "", ""},
		{"non-member reaches nothing", officePolicy, out, "192.168.0.99", "100.100.1.20", nat.DropACL, "", ""},
		{"unknown prefix", officePolicy, out, "192.168.0.50", "10.9.9.9", nat.DropNoRoute, "", ""},
		{"reply from A to the member", officePolicy, in, "100.100.1.20", "192.168.0.50", nat.Pass, "", ""},
		{"reply from B to its member", officePolicy, in, "100.100.2.20", "192.168.0.51", nat.Pass, "", ""},
		{"from A to a beta member", officePolicy, in, "100.100.1.20", "192.168.0.51", nat.DropACL, "", ""},
		{"from B to a non-member", officePolicy, in, "100.100.2.20", "192.168.0.99", nat.DropACL, "", ""},
		{"gateways' overlay addresses", officePolicy, out, "100.96.0.1", "100.96.0.2", nat.Pass, "", ""},
		{"office to A, translated to real", vpcAPolicy, in, "192.168.0.50", "100.100.1.20", nat.Pass, "", "10.0.0.20"},
		{"A's real address is not on the wire", vpcAPolicy, in, "192.168.0.50", "10.0.0.20", nat.DropACL, "", ""},
		{"A's reply leaves under its wire address", vpcAPolicy, out, "10.0.0.20", "192.168.0.50", nat.Pass, "100.100.1.20", ""},
		{"link: site to branch", linkPolicy, out, "172.20.1.1", "192.168.50.7", nat.Pass, "", ""},
		{"link: branch to site", linkPolicy, in, "192.168.50.7", "172.20.1.1", nat.Pass, "", ""},
		{"link: not from outside the site", linkPolicy, out, "10.1.1.1", "192.168.50.7", nat.DropACL, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := configs.Parse("gw.toml", []byte(c.cfg))
			if err != nil {
				t.Fatal(err)
			}
			table, err := nat.Compile(PacketPolicy(cfg, 1420))
			if err != nil {
				t.Fatal(err)
			}
			pkt := udpPacket(c.src, c.dst)
			var got nat.Verdict
			if c.dir == out {
				got = table.Outbound(pkt)
			} else {
				got = table.Inbound(pkt)
			}
			if got != c.want {
				t.Fatalf("verdict %v, want %v", got, c.want)
			}
			if got != nat.Pass {
				return
			}
			wantSrc, wantDst := or(c.wantSrc, c.src), or(c.wantDst, c.dst)
			src, dst := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
			if src.String() != wantSrc || dst.String() != wantDst {
				t.Errorf("came out %s → %s, want %s → %s", src, dst, wantSrc, wantDst)
			}
		})
	}
}

func TestPacketPolicyClampSetting(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(officePolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p := PacketPolicy(cfg, 1320); !p.MSSClamp || p.MTU != 1320 || !p.ACL {
		t.Errorf("defaults: clamp %v mtu %d acl %v", p.MSSClamp, p.MTU, p.ACL)
	}
	off := false
	cfg.Node.MSSClamp = &off
	if PacketPolicy(cfg, 1320).MSSClamp {
		t.Error("mss_clamp = false still clamps")
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// udpPacket is an IPv4 UDP datagram with a valid header checksum and no
// UDP checksum (0, which translation must keep).
func udpPacket(src, dst string) []byte {
	p := make([]byte, 28)
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[20:], 4000)
	binary.BigEndian.PutUint16(p[22:], 53)
	binary.BigEndian.PutUint16(p[24:], 8)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	return p
}

// Every config that loads must give packet rules that compile: `vpcmesh
// check` passing means the gateway starts.
func FuzzPacketPolicyCompiles(f *testing.F) {
	for _, s := range []string{officePolicy, vpcAPolicy, linkPolicy, officeCfg} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"office-gateway.toml", "vpc-gateway.toml", "static-wireguard-site.toml"} {
		b, err := os.ReadFile("../configs/examples/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := configs.Parse("fuzz.toml", data)
		if err != nil {
			return
		}
		if _, err := nat.Compile(PacketPolicy(cfg, 1420)); err != nil {
			t.Fatalf("config loads but its packet rules do not compile: %v", err)
		}
	})
}
