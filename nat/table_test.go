package nat

import (
	"net/netip"
	"strings"
	"testing"
)

var pfx = netip.MustParsePrefix

// vpcConfig is the gateway of VPC-A (docs/ARCHITECTURE.md, The lab): its VPC
// 10.0.0.0/24 overlaps VPC-B, so it is mapped to 100.64.1.0/24 in project A;
// a second local network, 172.16.0.0/24, is exported unmapped to project B;
// one VPC host is also a member of project C.
func vpcConfig() Config {
	return Config{
		Mappings: []Mapping{
			{Real: pfx("10.0.0.0/24"), Wire: pfx("100.64.1.0/24")},
			{Real: pfx("172.16.0.0/24"), Wire: pfx("172.16.0.0/24")},
		},
		Routes: []ProjectRoute{
			{Project: "A", Wire: pfx("100.64.1.0/24")},  // local VPC-A
			{Project: "B", Wire: pfx("172.16.0.0/24")},  // local, unmapped
			{Project: "A", Wire: pfx("192.168.0.0/24")}, // the office
			{Project: "B", Wire: pfx("100.64.2.0/25")},  // VPC-B
			{Project: "C", Wire: pfx("198.18.0.0/24")},  // a site of project C
		},
		Members: []MemberRule{{Project: "C", Source: pfx("10.0.0.200/32")}},
		Overlay: pfx("100.100.0.0/16"),
		MTU:     1280, MSSClamp: true, ACL: true,
	}
}

// officeConfig is the office gateway, with transparent routes: a member of
// project A alone reaches VPC-A's host 10.0.0.20 by its real address.
func officeConfig() Config {
	return Config{
		Mappings: []Mapping{{Real: pfx("192.168.0.0/24"), Wire: pfx("192.168.0.0/24")}},
		Routes: []ProjectRoute{
			{Project: "A", Wire: pfx("192.168.0.0/24")},
			{Project: "A", Wire: pfx("100.64.1.0/24")},
			{Project: "B", Wire: pfx("100.64.2.0/25")},
		},
		Members: []MemberRule{
			{Project: "A", Source: pfx("192.168.0.50/32"), Transparent: true},
			{Project: "A", Source: pfx("192.168.0.51/32")},
			{Project: "A", Source: pfx("192.168.0.60/32"), Transparent: true},
			{Project: "B", Source: pfx("192.168.0.60/32"), Transparent: true},
		},
		Transparent: []TransparentRoute{
			{Project: "A", Real: pfx("10.0.0.0/24"), Wire: pfx("100.64.1.0/24")},
			{Project: "B", Real: pfx("10.0.0.0/25"), Wire: pfx("100.64.2.0/25")},
		},
		Overlay: pfx("100.100.0.0/16"),
		MTU:     1280, MSSClamp: true, ACL: true,
	}
}

func mustCompile(t testing.TB, cfg Config) *Table {
	t.Helper()
	tab, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string
	}{
		{"length differs", func(c *Config) {
			c.Mappings[0].Wire = pfx("100.64.1.0/25")
		}, []string{"prefix lengths differ"}},
		{"wire overlap", func(c *Config) {
			c.Routes = append(c.Routes, ProjectRoute{Project: "B", Wire: pfx("192.168.0.128/25")})
		}, []string{"wire prefix 192.168.0.128/25 overlaps 192.168.0.0/24"}},
		{"real overlap", func(c *Config) {
			c.Mappings = append(c.Mappings, Mapping{Real: pfx("10.0.0.0/16"), Wire: pfx("100.70.0.0/16")})
		}, []string{"mapping real 10.0.0.0/16 overlaps 10.0.0.0/24"}},
		{"one real two wires", func(c *Config) {
			c.Mappings = append(c.Mappings, Mapping{Real: pfx("10.0.0.0/24"), Wire: pfx("100.64.9.0/24")})
		}, []string{"mapping real 10.0.0.0/24 overlaps 10.0.0.0/24"}},
		{"overlay overlap", func(c *Config) { c.Overlay = pfx("100.64.0.0/10") }, []string{"overlay"}},
		{"ipv6", func(c *Config) {
			c.Members = append(c.Members, MemberRule{Project: "A", Source: pfx("2001:db8::/64")})
		}, []string{"not an IPv4 prefix"}},
		{"no project", func(c *Config) {
			c.Members = append(c.Members, MemberRule{Source: pfx("10.0.0.1/32")})
		}, []string{"without a project"}},
		{"mtu", func(c *Config) { c.MTU = 40 }, []string{"mtu 40"}},
		{"all at once", func(c *Config) {
			c.MTU = 0
			c.Mappings[0].Wire = pfx("100.64.1.0/25")
			c.Routes = append(c.Routes, ProjectRoute{Project: "B", Wire: pfx("198.18.0.0/16")})
		}, []string{"mtu 0", "prefix lengths differ", "overlaps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := vpcConfig()
			tt.edit(&cfg)
			_, err := Compile(cfg)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestCompileTransparentErrors(t *testing.T) {
	tests := []struct {
		name string
		r    TransparentRoute
		want string
	}{
		{"not a route", TransparentRoute{Project: "A", Real: pfx("10.1.0.0/24"), Wire: pfx("100.64.2.0/24")}, "not a route of the project"},
		{"length", TransparentRoute{Project: "B", Real: pfx("10.1.0.0/24"), Wire: pfx("100.64.2.0/25")}, "prefix lengths differ"},
		{"two reals", TransparentRoute{Project: "A", Real: pfx("10.0.0.0/25"), Wire: pfx("100.64.1.0/24")}, "another destination"},
		{"real is a wire", TransparentRoute{Project: "B", Real: pfx("100.64.2.0/25"), Wire: pfx("100.64.2.0/25")}, ""},
		{"local", TransparentRoute{Project: "A", Real: pfx("192.168.0.0/24"), Wire: pfx("100.64.1.0/24")}, "local real prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := officeConfig()
			cfg.Transparent = append(cfg.Transparent, tt.r)
			_, err := Compile(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("a route to itself is harmless, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCompileNormalizes(t *testing.T) {
	cfg := vpcConfig()
	cfg.Mappings[0].Real = pfx("10.0.0.7/24")
	tab := mustCompile(t, cfg)
	if cfg.Mappings[0].Real != pfx("10.0.0.7/24") {
		t.Error("Compile changed the caller's config")
	}
	in := build(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoUDP}, udpDgram(1, 2, nil))
	want := build(hdr{src: "100.64.1.20", dst: "192.168.0.50", proto: protoUDP}, udpDgram(1, 2, nil))
	if v := tab.Outbound(in); v != Pass || string(in) != string(want) {
		t.Errorf("verdict %v, packet % x, want % x", v, in, want)
	}
}

func TestCompileEmptyPassesEverything(t *testing.T) {
	tab := mustCompile(t, Config{})
	in := build(hdr{src: "10.0.0.20", dst: "8.8.8.8", proto: protoUDP}, udpDgram(1, 2, nil))
	want := string(in)
	if v := tab.Outbound(in); v != Pass || string(in) != want {
		t.Errorf("verdict %v, changed %v", v, string(in) != want)
	}
	if v := tab.Inbound(in); v != Pass || string(in) != want {
		t.Errorf("verdict %v, changed %v", v, string(in) != want)
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Pass: "pass", DropACL: "acl", DropNoRoute: "no_route", DropInvalid: "invalid", 9: "unknown"} {
		if v.String() != want {
			t.Errorf("%d: %q, want %q", v, v.String(), want)
		}
	}
}
