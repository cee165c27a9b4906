package configs

import (
	"errors"
	"strings"
	"testing"
)

// base is a valid config using every key; the cases below edit single
// lines of it, so its line numbers hold for every case.
const base = `version = 1
[node]
name = "gw"
private_key_file = "/etc/vpcmesh/wireguard.key"
listen_port = 51820
interface = "vpcmesh0"
mtu = 0
overlay_address = "100.96.0.1"
public_endpoint = "gw.example.com:51820"
persistent_keepalive = 25
[mesh]
name = "acme"
overlay_range = "100.96.0.0/16"
mapped_pool = "100.100.0.0/16"
join = ["seed.example.com:51820", "203.0.113.1:51820"]
[[site]]
name = "lan"
cidrs = ["10.0.0.0/24", "10.1.0.0/24"]
priority = 100
[[site.export]]
project = "alpha"
cidr = "10.0.0.0/24"
mapped = "100.100.1.0/24"
[[site.export]]
project = "beta"
cidr = "10.1.0.0/24"
[[site.member]]
project = "alpha"
sources = ["10.1.0.5/32"]
users = ["alice"]
[[site]]
name = "dmz"
cidrs = ["172.16.0.0/24"]
[[peer]]
name = "vpc"
public_key = "YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc="
endpoint = "vpc.example.com:51820"
prefixes = ["10.2.0.0/24", "100.96.0.2/32"]
[[peer]]
name = "branch"
public_key = "cllkpD+0zuWUqcx+50+5myakMWve86Ycw4kcSf391ns="
prefixes = ["192.168.50.0/24"]
persistent_keepalive = 0
`

// want is one expected error: "LINE:COL: FIELD: " and part of the message.
type want struct{ at, msg string }

// edit replaces a unique piece of base; pairs of old, new.
func edit(t *testing.T, edits ...string) string {
	t.Helper()
	doc := base
	for i := 0; i < len(edits); i += 2 {
		if n := strings.Count(doc, edits[i]); n != 1 {
			t.Fatalf("%q occurs %d times in base", edits[i], n)
		}
		doc = strings.Replace(doc, edits[i], edits[i+1], 1)
	}
	return doc
}

// expectErrors checks that err reports exactly wants, each with its
// position, as FieldErrors sorted by position.
func expectErrors(t *testing.T, err error, wants ...want) {
	t.Helper()
	if len(wants) == 0 {
		if err != nil {
			t.Fatalf("unexpected error:\n%v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", wants)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error is not a *FieldError: %T", err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range wants {
		if !hasLine(lines, "base.toml:"+w.at, w.msg) {
			t.Errorf("missing %q ... %q in:\n%v", w.at, w.msg, err)
		}
	}
	if len(lines) != len(wants) {
		t.Errorf("%d errors, want %d:\n%v", len(lines), len(wants), err)
	}
}

func hasLine(lines []string, prefix, msg string) bool {
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, prefix)
		if ok && strings.Contains(rest, msg) {
			return true
		}
	}
	return false
}

func TestBaseIsValid(t *testing.T) {
	_, err := Parse("base.toml", []byte(base))
	expectErrors(t, err)
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  []want // none: the edit is valid
	}{
		// version
		{"version missing", []string{"version = 1\n", "\n"}, []want{{"1:1: version: ", "required"}}},
		{"version 2", []string{"version = 1", "version = 2"}, []want{{"1:11: version: ", "unsupported version 2"}}},
		{"version 0 given", []string{"version = 1", "version = 0"}, []want{{"1:11: version: ", "unsupported version 0"}}},

		// node
		{"node name missing", []string{`name = "gw"`, ""}, []want{{"2:1: node.name: ", "required"}}},
		{"node name uppercase", []string{`name = "gw"`, `name = "GW_1"`}, []want{{"3:8: node.name: ", `"GW_1" is not a valid name`}}},
		{"node name leading dash", []string{`name = "gw"`, `name = "-gw"`}, []want{{"3:8: node.name: ", "not a valid name"}}},
		{"node name too long", []string{`name = "gw"`, `name = "` + strings.Repeat("a", 64) + `"`}, []want{{"3:8: node.name: ", "not a valid name"}}},
		{"private key missing", []string{`private_key_file = "/etc/vpcmesh/wireguard.key"`, ""}, []want{{"2:1: node.private_key_file: ", "required"}}},
		{"private key relative", []string{`"/etc/vpcmesh/wireguard.key"`, `"wireguard.key"`}, []want{{"4:20: node.private_key_file: ", "not an absolute path"}}},
		{"listen port 0", []string{"listen_port = 51820", "listen_port = 0"}, []want{{"5:15: node.listen_port: ", "0 is out of range 1..65535"}}},
		{"listen port too big", []string{"listen_port = 51820", "listen_port = 65536"}, []want{{"5:15: node.listen_port: ", "out of range"}}},
		{"interface too long", []string{`"vpcmesh0"`, `"vpcmesh-overlay0"`}, []want{{"6:13: node.interface: ", "longer than 15 bytes"}}},
		{"interface slash", []string{`"vpcmesh0"`, `"vpc/mesh"`}, []want{{"6:13: node.interface: ", "'/'"}}},
		{"interface dot", []string{`"vpcmesh0"`, `".."`}, []want{{"6:13: node.interface: ", "not an interface name"}}},
		{"interface empty", []string{`"vpcmesh0"`, `""`}, []want{{"6:13: node.interface: ", "required"}}},
		{"mtu too small", []string{"mtu = 0", "mtu = 1000"}, []want{{"7:7: node.mtu: ", "1280..9000"}}},
		{"mtu too big", []string{"mtu = 0", "mtu = 9001"}, []want{{"7:7: node.mtu: ", "out of range"}}},
		{"mtu set", []string{"mtu = 0", "mtu = 1380"}, nil},
		{"overlay address missing", []string{`overlay_address = "100.96.0.1"`, ""}, []want{{"2:1: node.overlay_address: ", "required"}}},
		{"overlay address IPv6", []string{`"100.96.0.1"`, `"fd00::1"`}, []want{{"8:19: node.overlay_address: ", "fd00::1 is not an IPv4 address"}}},
		{"overlay address outside range", []string{`"100.96.0.1"`, `"100.97.0.1"`}, []want{{"8:19: node.overlay_address: ", "100.97.0.1 is outside mesh.overlay_range 100.96.0.0/16"}}},
		{"public endpoint without port", []string{`"gw.example.com:51820"`, `"gw.example.com"`}, []want{{"9:19: node.public_endpoint: ", "missing port"}}},
		{"public endpoint port 0", []string{`"gw.example.com:51820"`, `"gw.example.com:0"`}, []want{{"9:19: node.public_endpoint: ", "not 1..65535"}}},
		{"public endpoint bad host", []string{`"gw.example.com:51820"`, `"gw_1!:51820"`}, []want{{"9:19: node.public_endpoint: ", "neither an IP address nor a DNS name"}}},
		{"public endpoint IPv6", []string{`"gw.example.com:51820"`, `"[2001:db8::1]:51820"`}, nil},
		{"relay with public endpoint", []string{"persistent_keepalive = 25", "persistent_keepalive = 25\nrelay = true"}, nil},
		{"relay on IPv6", []string{`public_endpoint = "gw.example.com:51820"`, "public_endpoint = \"[2001:db8::1]:51820\"\nrelay = true"}, []want{{"10:9: node.relay: ", "relaying works over IPv4 only"}}},
		{"relay behind NAT", []string{`public_endpoint = "gw.example.com:51820"`, "relay = true"}, []want{{"9:9: node.relay: ", "set node.public_endpoint"}}},
		{"keepalive negative", []string{"persistent_keepalive = 25", "persistent_keepalive = -1"}, []want{{"10:24: node.persistent_keepalive: ", "out of range 0..65535"}}},
		{"state dir relative", []string{"persistent_keepalive = 25", `state_dir = "state"`}, []want{{"10:13: node.state_dir: ", "not an absolute path"}}},

		// mesh
		{"mesh name missing", []string{`name = "acme"`, ""}, []want{{"11:1: mesh.name: ", "required"}}},
		{"overlay range missing", []string{`overlay_range = "100.96.0.0/16"`, ""},
			// the overlay address cannot be checked against a missing range
			[]want{{"11:1: mesh.overlay_range: ", "required"}}},
		{"overlay range IPv6", []string{`"100.96.0.0/16"`, `"fd00::/64"`}, []want{{"13:17: mesh.overlay_range: ", "fd00::/64 is not an IPv4 prefix"}}},
		{"overlay range host bits", []string{`"100.96.0.0/16"`, `"100.96.0.1/16"`}, []want{{"13:17: mesh.overlay_range: ", "100.96.0.1/16 has host bits set; did you mean 100.96.0.0/16?"}}},
		{"mapped pool overlaps overlay", []string{`"100.100.0.0/16"`, `"100.96.0.0/12"`}, []want{{"14:15: mesh.mapped_pool: ", "overlaps mesh.overlay_range"}}},
		{"mapped pool IPv6", []string{`"100.100.0.0/16"`, `"fd00::/48"`}, []want{{"14:15: mesh.mapped_pool: ", "not an IPv4 prefix"}}},
		{"join bad port", []string{`"203.0.113.1:51820"`, `"203.0.113.1:x"`}, []want{{"15:35: mesh.join[1]: ", `port "x" is not 1..65535`}}},
		{"join missing port", []string{`"seed.example.com:51820"`, `"seed.example.com"`}, []want{{"15:9: mesh.join[0]: ", "missing port"}}},
		{"join empty", []string{`"seed.example.com:51820"`, `""`}, []want{{"15:9: mesh.join[0]: ", "not host:port"}}},

		// gossip: mesh.root_file turns it on (a line added after join keeps the lines above)
		{"gossip without signing key and certificate", []string{`"203.0.113.1:51820"]`, `"203.0.113.1:51820"]` + "\nroot_file = \"/etc/vpcmesh/root.pub\""},
			[]want{{"2:1: node.signing_key_file: ", "required when mesh.root_file is set (gossip)"}, {"2:1: node.certificate_file: ", "required when mesh.root_file is set (gossip)"}}},
		{"gossip without certificate", []string{`"203.0.113.1:51820"]`, `"203.0.113.1:51820"]` + "\nroot_file = \"/etc/vpcmesh/root.pub\"",
			"persistent_keepalive = 25", "persistent_keepalive = 25\nsigning_key_file = \"/etc/vpcmesh/signing.key\""},
			[]want{{"2:1: node.certificate_file: ", "required when mesh.root_file is set (gossip)"}}},
		{"gossip with both", []string{`"203.0.113.1:51820"]`, `"203.0.113.1:51820"]` + "\nroot_file = \"/etc/vpcmesh/root.pub\"",
			"persistent_keepalive = 25", "persistent_keepalive = 25\nsigning_key_file = \"/etc/vpcmesh/signing.key\"\ncertificate_file = \"/etc/vpcmesh/vpc-a-gw.pem\""}, nil},
		{"gossip root file relative", []string{`"203.0.113.1:51820"]`, `"203.0.113.1:51820"]` + "\nroot_file = \"root.pub\"",
			"persistent_keepalive = 25", "persistent_keepalive = 25\nsigning_key_file = \"/etc/vpcmesh/signing.key\"\ncertificate_file = \"/etc/vpcmesh/vpc-a-gw.pem\""},
			[]want{{"18:13: mesh.root_file: ", `"root.pub" is not an absolute path`}}},
		{"certificate without gossip is fine", []string{"persistent_keepalive = 25", "persistent_keepalive = 25\ncertificate_file = \"/etc/vpcmesh/vpc-a-gw.pem\""}, nil},

		// sites
		{"site name missing", []string{`name = "dmz"`, ""}, []want{{"31:1: site[1].name: ", "required"}}},
		{"site name invalid", []string{`name = "dmz"`, `name = "DMZ"`}, []want{{"32:8: site[1].name: ", "not a valid name"}}},
		{"site name duplicate", []string{`name = "dmz"`, `name = "lan"`}, []want{{"32:8: site[1].name: ", `duplicate site "lan", also at site[0].name`}}},
		{"virtual address without gossip", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = ["172.16.0.0/24"]` + "\nvirtual_address = \"172.16.0.254\""}, []want{{"34:19: site[1].virtual_address: ", "needs gossip (mesh.root_file)"}}},
		{"virtual address outside the site", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = ["172.16.0.0/24"]` + "\nvirtual_address = \"172.17.0.254\""},
			[]want{{"34:19: site[1].virtual_address: ", "needs gossip (mesh.root_file)"}, {"34:19: site[1].virtual_address: ", "172.17.0.254 is not in the site's cidrs [172.16.0.0/24]"}}},
		{"virtual address IPv6", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = ["172.16.0.0/24"]` + "\nvirtual_address = \"fd00::1\""},
			[]want{{"34:19: site[1].virtual_address: ", "needs gossip (mesh.root_file)"}, {"34:19: site[1].virtual_address: ", "IPv4 only"}}},
		{"virtual interface alone", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = ["172.16.0.0/24"]` + "\nvirtual_interface = \"eth1\""},
			[]want{{"34:21: site[1].virtual_interface: ", "set without site.virtual_address"}}},
		{"site without cidrs", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = []`}, []want{{"33:9: site[1].cidrs: ", "at least one CIDR"}}},
		{"site cidr host bits", []string{`cidrs = ["10.0.0.0/24",`, `cidrs = ["10.0.0.1/24",`},
			[]want{{"18:10: site[0].cidrs[0]: ", "10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?"}}},
		{"site cidr IPv6", []string{`"172.16.0.0/24"`, `"fd00::/64"`}, []want{{"33:10: site[1].cidrs[0]: ", "not an IPv4 prefix"}}},
		{"site cidrs overlap across sites", []string{`"172.16.0.0/24"`, `"10.0.0.128/25"`},
			[]want{{"33:10: site[1].cidrs[0]: ", "10.0.0.128/25 overlaps site[0].cidrs[0] 10.0.0.0/24: a gateway cannot route two local networks that overlap"}}},
		{"site cidrs overlap in one site", []string{`"10.1.0.0/24"]`, `"10.1.0.0/24", "10.1.0.128/25"]`},
			[]want{{"18:40: site[0].cidrs[2]: ", "10.1.0.128/25 overlaps site[0].cidrs[1] 10.1.0.0/24"}}},
		{"priority 0", []string{"priority = 100", "priority = 0"}, []want{{"19:12: site[0].priority: ", "0 is out of range 1..1000"}}},
		{"priority 1001", []string{"priority = 100", "priority = 1001"}, []want{{"19:12: site[0].priority: ", "out of range"}}},

		// exports
		{"export project missing", []string{"[[site.export]]\nproject = \"alpha\"", "[[site.export]]\n"}, []want{{"20:1: site[0].export[0].project: ", "required"}}},
		{"export project invalid", []string{`project = "beta"`, `project = "Beta"`}, []want{{"25:11: site[0].export[1].project: ", "not a valid name"}}},
		{"export cidr missing", []string{`cidr = "10.1.0.0/24"`, ""}, []want{{"24:1: site[0].export[1].cidr: ", "required"}}},
		{"export cidr outside site", []string{`cidr = "10.1.0.0/24"`, `cidr = "10.9.0.0/24"`},
			[]want{{"26:8: site[0].export[1].cidr: ", "10.9.0.0/24 is not inside the site's cidrs (10.0.0.0/24, 10.1.0.0/24)"}}},
		{"export cidr host bits", []string{`cidr = "10.1.0.0/24"`, `cidr = "10.1.0.1/24"`}, []want{{"26:8: site[0].export[1].cidr: ", "has host bits set; did you mean 10.1.0.0/24?"}}},
		{"export cidr IPv6", []string{`cidr = "10.1.0.0/24"`, `cidr = "fd00::/64"`}, []want{{"26:8: site[0].export[1].cidr: ", "not an IPv4 prefix"}}},
		{"mapped length differs", []string{`"100.100.1.0/24"`, `"100.100.1.0/25"`},
			[]want{{"23:10: site[0].export[0].mapped: ", "length /25 differs from cidr 10.0.0.0/24"}}},
		{"mapped outside pool", []string{`"100.100.1.0/24"`, `"100.101.1.0/24"`},
			[]want{{"23:10: site[0].export[0].mapped: ", "100.101.1.0/24 is outside mesh.mapped_pool 100.100.0.0/16"}}},
		{"mapped host bits", []string{`"100.100.1.0/24"`, `"100.100.1.1/24"`}, []want{{"23:10: site[0].export[0].mapped: ", "did you mean 100.100.1.0/24?"}}},
		{"mapped without pool", []string{`mapped_pool = "100.100.0.0/16"`, "", `"100.100.1.0/24"`, `"100.101.1.0/24"`}, nil},
		{"same cidr to two projects is one wire prefix", []string{`cidr = "10.1.0.0/24"`, `cidr = "10.0.0.0/24"` + "\n" + `mapped = "100.100.1.0/24"`}, nil},
		{"same cidr under two wire prefixes", []string{`cidr = "10.1.0.0/24"`, `cidr = "10.0.0.0/24"`},
			[]want{{"26:8: site[0].export[1].cidr: ", "10.0.0.0/24 is exported as wire prefix 100.100.1.0/24 at site[0].export[0].mapped already"}}},
		{"duplicate export", []string{`project = "beta"`, `project = "alpha"`, `cidr = "10.1.0.0/24"`, `cidr = "10.0.0.0/24"` + "\n" + `mapped = "100.100.1.0/24"`},
			[]want{{"26:8: site[0].export[1].cidr: ", `duplicate export of 10.0.0.0/24 to project "alpha", also at site[0].export[0]`}}},
		{"unmapped exports overlap", []string{`mapped = "100.100.1.0/24"`, "", `cidr = "10.1.0.0/24"`, `cidr = "10.0.0.0/25"`},
			[]want{{"26:8: site[0].export[1].cidr: ", "10.0.0.0/25 overlaps site[0].export[0].cidr 10.0.0.0/24: every wire prefix must be unique"}}},
		{"export nested in a mapped export", []string{`cidr = "10.1.0.0/24"`, `cidr = "10.0.0.0/25"`},
			[]want{{"26:8: site[0].export[1].cidr: ", "10.0.0.0/25 overlaps the CIDR exported at site[0].export[0], and one of them is mapped"}}},
		{"mapped prefix reuses a local network", []string{`mapped_pool = "100.100.0.0/16"`, "", `"100.100.1.0/24"`, `"172.16.0.0/24"`},
			[]want{{"23:10: site[0].export[0].mapped: ", "172.16.0.0/24 overlaps site[1].cidrs[0] 172.16.0.0/24: a wire prefix must not reuse this gateway's local addresses"}}},
		{"site cidr overlaps overlay", []string{`"172.16.0.0/24"`, `"100.96.1.0/24"`},
			[]want{{"33:10: site[1].cidrs[0]: ", "100.96.1.0/24 overlaps mesh.overlay_range 100.96.0.0/16"}}},

		// members
		{"member project missing", []string{"[[site.member]]\nproject = \"alpha\"", "[[site.member]]\n"}, []want{{"27:1: site[0].member[0].project: ", "required"}}},
		{"member source outside site", []string{`"10.1.0.5/32"`, `"10.5.0.5/32"`},
			[]want{{"29:12: site[0].member[0].sources[0]: ", "10.5.0.5/32 is not inside the site's cidrs"}}},
		{"member source host bits", []string{`"10.1.0.5/32"`, `"10.1.0.5/24"`}, []want{{"29:12: site[0].member[0].sources[0]: ", "did you mean 10.1.0.0/24?"}}},
		{"member with neither sources nor users", []string{`sources = ["10.1.0.5/32"]`, "", `users = ["alice"]`, ""},
			[]want{{"27:1: site[0].member[0]: ", `needs sources or users: who on this site may use project "alpha"`}}},
		{"member users only", []string{`sources = ["10.1.0.5/32"]`, ""}, nil},
		{"member empty user", []string{`users = ["alice"]`, `users = ["alice", ""]`}, []want{{"30:19: site[0].member[0].users[1]: ", `"" is not a user name`}}},

		// peers
		{"peer name missing", []string{`name = "vpc"`, ""}, []want{{"34:1: peer[0].name: ", "required"}}},
		{"peer name duplicate", []string{`name = "branch"`, `name = "vpc"`}, []want{{"40:8: peer[1].name: ", `duplicate peer "vpc", also at peer[0].name`}}},
		{"peer named like the node", []string{`name = "vpc"`, `name = "gw"`}, []want{{"35:8: peer[0].name: ", `"gw" is this node's own name`}}},
		{"public key missing", []string{`public_key = "YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc="`, ""}, []want{{"34:1: peer[0].public_key: ", "required"}}},
		{"public key not base64", []string{`"YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc="`, `"not a key"`}, []want{{"36:14: peer[0].public_key: ", "not a WireGuard public key"}}},
		{"public key 31 bytes", []string{`"YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc="`, `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="`}, []want{{"36:14: peer[0].public_key: ", "the base64 of 32 bytes"}}},
		{"public key duplicate", []string{`"cllkpD+0zuWUqcx+50+5myakMWve86Ycw4kcSf391ns="`, `"YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc="`},
			[]want{{"41:14: peer[1].public_key: ", "duplicate peer key"}}},
		{"endpoint bad port", []string{`"vpc.example.com:51820"`, `"vpc.example.com:99999"`}, []want{{"37:12: peer[0].endpoint: ", `port "99999" is not 1..65535`}}},
		{"endpoint numeric name", []string{`"vpc.example.com:51820"`, `"10.0.0.256:51820"`}, []want{{"37:12: peer[0].endpoint: ", "neither an IP address nor a DNS name"}}},
		{"peer without prefixes", []string{`prefixes = ["192.168.50.0/24"]`, "prefixes = []"}, []want{{"42:12: peer[1].prefixes: ", "at least one prefix"}}},
		{"peer prefix host bits", []string{`"192.168.50.0/24"`, `"192.168.50.1/24"`}, []want{{"42:13: peer[1].prefixes[0]: ", "did you mean 192.168.50.0/24?"}}},
		{"peer project invalid", []string{"persistent_keepalive = 0", `project = "a b"`}, []want{{"43:11: peer[1].project: ", "not a valid name"}}},
		{"peer keepalive negative", []string{"persistent_keepalive = 0", "persistent_keepalive = -5"}, []want{{"43:24: peer[1].persistent_keepalive: ", "out of range 0..65535"}}},

		// wire prefixes
		{"peer prefix overlaps a mapped export", []string{`"192.168.50.0/24"`, `"100.100.1.128/25"`},
			[]want{{"42:13: peer[1].prefixes[0]: ", "100.100.1.128/25 overlaps site[0].export[0].mapped 100.100.1.0/24: every wire prefix must be unique in the mesh"}}},
		{"peer prefixes overlap", []string{`"192.168.50.0/24"`, `"10.2.0.0/16"`},
			[]want{{"42:13: peer[1].prefixes[0]: ", "10.2.0.0/16 overlaps peer[0].prefixes[0] 10.2.0.0/24: every wire prefix"}}},
		{"peer prefix reuses a local network", []string{`"192.168.50.0/24"`, `"10.1.0.0/25"`},
			[]want{{"42:13: peer[1].prefixes[0]: ", "10.1.0.0/25 overlaps site[0].cidrs[1] 10.1.0.0/24: a wire prefix must not reuse"}}},
		{"peer prefix overlaps overlay", []string{`"192.168.50.0/24"`, `"100.96.8.0/24"`},
			[]want{{"42:13: peer[1].prefixes[0]: ", "100.96.8.0/24 overlaps mesh.overlay_range 100.96.0.0/16"}}},
		{"peer overlay /32 is fine", []string{`"192.168.50.0/24"`, `"192.168.50.0/24", "100.96.0.3/32"`}, nil},
		{"peer /32 is the node's overlay address", []string{`"100.96.0.2/32"`, `"100.96.0.1/32"`},
			[]want{{"38:28: peer[0].prefixes[1]: ", "100.96.0.1/32 is this node's own overlay address"}}},
		{"two peers claim one overlay address", []string{`"192.168.50.0/24"`, `"192.168.50.0/24", "100.96.0.2/32"`},
			[]want{{"42:32: peer[1].prefixes[1]: ", "100.96.0.2/32 overlaps peer[0].prefixes[1] 100.96.0.2/32"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("base.toml", []byte(edit(t, c.edits...)))
			expectErrors(t, err, c.want...)
		})
	}
}

func TestGossipMode(t *testing.T) {
	for _, c := range []struct {
		edits []string
		want  bool
	}{
		{nil, false},
		{[]string{`"203.0.113.1:51820"]`, `"203.0.113.1:51820"]` + "\nroot_file = \"/etc/vpcmesh/root.pub\"",
			"persistent_keepalive = 25", "persistent_keepalive = 25\nsigning_key_file = \"/etc/vpcmesh/signing.key\"\ncertificate_file = \"/etc/vpcmesh/vpc-a-gw.pem\""}, true},
	} {
		cfg, err := Parse("base.toml", []byte(edit(t, c.edits...)))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Gossip() != c.want {
			t.Errorf("Gossip() = %v with root_file %q", cfg.Gossip(), cfg.Mesh.RootFile)
		}
	}
}

// One run reports every problem, sorted by position.
func TestManyErrorsAtOnce(t *testing.T) {
	doc := edit(t,
		"version = 1", "version = 3",
		"listen_port = 51820", "listen_port = 0",
		`"100.100.1.0/24"`, `"100.100.1.0/25"`,
		`name = "branch"`, `name = "vpc"`,
		`"cllkpD+0zuWUqcx+50+5myakMWve86Ycw4kcSf391ns="`, `"short"`,
	)
	_, err := Parse("base.toml", []byte(doc))
	expectErrors(t, err,
		want{"1:11: version: ", "unsupported"},
		want{"5:15: node.listen_port: ", "out of range"},
		want{"23:10: site[0].export[0].mapped: ", "length /25 differs"},
		want{"40:8: peer[1].name: ", "duplicate peer"},
		want{"41:14: peer[1].public_key: ", "not a WireGuard public key"},
	)
	var fe *FieldError
	if errors.As(err, &fe) && (fe.File != "base.toml" || fe.Line != 1 || fe.Col != 11 || fe.Field != "version") {
		t.Errorf("first FieldError = %+v", fe)
	}
}

// mapped = "auto" takes its wire prefix from the certificate: it needs
// gossip and a pool to allocate from, and stays unresolved until then.
func TestMappedAuto(t *testing.T) {
	doc := strings.Replace(base, `mapped = "100.100.1.0/24"`, `mapped = "auto"`, 1)
	if doc == base {
		t.Fatal("the base config has no mapped export to edit")
	}
	cfg, err := Parse("gw.toml", []byte(doc))
	if err == nil {
		t.Fatalf("static mode with mapped = \"auto\" accepted: %+v", cfg.Sites)
	}
	if !strings.Contains(err.Error(), `mapped: "auto" needs gossip (mesh.root_file)`) {
		t.Errorf("error %q", err)
	}
}
