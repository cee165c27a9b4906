package configs

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func TestExamplesLoad(t *testing.T) {
	for _, name := range []string{"office-gateway.toml", "vpc-gateway.toml", "static-wireguard-site.toml"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("examples", name)
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Path != path || len(cfg.Sites) == 0 || len(cfg.Peers) == 0 {
				t.Errorf("path %q, %d sites, %d peers", cfg.Path, len(cfg.Sites), len(cfg.Peers))
			}
		})
	}
	cfg, err := Load("examples/gossip-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Gossip() || len(cfg.Mesh.Join) != 1 || len(cfg.Peers) != 0 {
		t.Errorf("gossip example: gossip %v, join %v, %d static peers", cfg.Gossip(), cfg.Mesh.Join, len(cfg.Peers))
	}
}

// The examples say what they are about; these pin the parts the comments
// explain.
func TestExampleContents(t *testing.T) {
	office := mustLoad(t, "examples/office-gateway.toml")
	if office.Node.PublicEndpoint != "" || len(office.Sites[0].Members) != 2 || office.Peers[0].Endpoint == "" {
		t.Errorf("office: endpoint %q, members %v, peer endpoint %q",
			office.Node.PublicEndpoint, office.Sites[0].Members, office.Peers[0].Endpoint)
	}
	vpc := mustLoad(t, "examples/vpc-gateway.toml")
	if w := vpc.Sites[0].Exports[0].Wire(); w != netip.MustParsePrefix("100.100.1.0/24") || vpc.Peers[0].Endpoint != "" {
		t.Errorf("vpc: wire %v, office peer endpoint %q", w, vpc.Peers[0].Endpoint)
	}
	if vpc.Node.PublicEndpoint == "" || vpc.Sites[0].Priority == DefaultPriority {
		t.Errorf("vpc: endpoint %q, priority %d", vpc.Node.PublicEndpoint, vpc.Sites[0].Priority)
	}
	// Each side's peer carries what the other brings to alpha: VPC A's
	// export, the office's alpha members.
	if office.Peers[0].Prefixes[0] != vpc.Sites[0].Exports[0].Wire() || vpc.Peers[0].Prefixes[0] != office.Sites[0].Members[0].Sources[0] {
		t.Errorf("office and vpc examples disagree: %v / %v", office.Peers[0].Prefixes, vpc.Peers[0].Prefixes)
	}
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const minimal = `version = 1
[node]
name = "gw"
private_key_file = "/etc/vpcmesh/wireguard.key"
overlay_address = "100.96.0.1"
[mesh]
name = "acme"
overlay_range = "100.96.0.0/16"
[[site]]
name = "lan"
cidrs = ["10.1.0.0/24"]
[[peer]]
name = "vpc"
public_key = "YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc="
prefixes = ["10.2.0.0/24"]
`

func TestDefaults(t *testing.T) {
	cfg, err := Parse("min.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Node
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"listen_port", n.ListenPort, 51820},
		{"interface", n.Interface, "vpcmesh0"},
		{"mtu", n.MTU, 0},
		{"persistent_keepalive", n.PersistentKeepalive, 25},
		{"state_dir", n.StateDir, "/var/lib/vpcmesh"},
		{"control_socket", n.ControlSocket, "/run/vpcmesh/vpcmesh.sock"},
		{"mss clamp", cfg.MSSClampEnabled(), true},
		{"priority", cfg.Sites[0].Priority, 100},
		{"peer keepalive", cfg.KeepaliveFor(cfg.Peers[0]), 25},
		{"path", cfg.Path, "min.toml"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

// A key that is present overrides its default, even with a zero value.
func TestExplicitValuesOverrideDefaults(t *testing.T) {
	doc := strings.Replace(minimal, "[mesh]", `listen_port = 4500
persistent_keepalive = 0
mss_clamp = false
mtu = 1400
[mesh]`, 1)
	doc = strings.Replace(doc, `cidrs = ["10.1.0.0/24"]`, `cidrs = ["10.1.0.0/24"]
priority = 7`, 1)
	cfg, err := Parse("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Node; n.ListenPort != 4500 || n.PersistentKeepalive != 0 || n.MTU != 1400 || cfg.MSSClampEnabled() {
		t.Errorf("node = %+v", n)
	}
	if cfg.Sites[0].Priority != 7 || cfg.KeepaliveFor(cfg.Peers[0]) != 0 {
		t.Errorf("priority %d, keepalive %d", cfg.Sites[0].Priority, cfg.KeepaliveFor(cfg.Peers[0]))
	}
}

func TestKeepaliveFor(t *testing.T) {
	off, ten := 0, 10
	cfg := &Config{Node: Node{PersistentKeepalive: 25}}
	for _, c := range []struct {
		peer *int
		want int
	}{{nil, 25}, {&off, 0}, {&ten, 10}} {
		if got := cfg.KeepaliveFor(Peer{PersistentKeepalive: c.peer}); got != c.want {
			t.Errorf("peer keepalive %v: got %d, want %d", c.peer, got, c.want)
		}
	}
}

func TestMSSClampEnabled(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		v    *bool
		want bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		cfg := &Config{Node: Node{MSSClamp: c.v}}
		if got := cfg.MSSClampEnabled(); got != c.want {
			t.Errorf("mss_clamp %v: got %v", c.v, got)
		}
	}
}

func TestWire(t *testing.T) {
	cidr, mapped := netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("100.100.1.0/24")
	if w := (Export{CIDR: cidr}).Wire(); w != cidr {
		t.Errorf("unmapped wire = %v", w)
	}
	if w := (Export{CIDR: cidr, Mapped: Mapped{Prefix: mapped}}).Wire(); w != mapped {
		t.Errorf("mapped wire = %v", w)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.toml")); err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("err = %v", err)
	}
}
