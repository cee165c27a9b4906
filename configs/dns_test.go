package configs

import (
	"strings"
	"testing"
)

// gossipEdits turn base into a gossip-mode config.
var gossipEdits = []string{`"203.0.113.1:51820"]`, `"203.0.113.1:51820"]` + "\nroot_file = \"/etc/vpcmesh/root.pub\"",
	"persistent_keepalive = 25", "persistent_keepalive = 25\nsigning_key_file = \"/etc/vpcmesh/signing.key\"\ncertificate_file = \"/etc/vpcmesh/vpc-a-gw.pem\""}

func TestDNSConfig(t *testing.T) {
	zoned := []string{`mapped = "100.100.1.0/24"`, `mapped = "100.100.1.0/24"` + "\ndns_zones = [\"corp.internal\"]"}
	resolver := []string{"priority = 100", "priority = 100\nresolver = \"10.0.0.2\""}
	dnsSection := "\n[dns]\nlisten = [\"10.0.0.1:53\"]\nupstream = [\"10.0.0.2\", \"10.0.0.3:5353\"]\n"
	for _, c := range []struct {
		name   string
		gossip bool
		edits  []string
		extra  string
		want   []string // substrings of the error; none: valid
	}{
		{"zones with a resolver", true, append(append([]string{}, zoned...), resolver...), dnsSection, nil},
		{"zones without a resolver", true, zoned, "", []string{"site[0].resolver: required where exports have dns_zones"}},
		{"zones without gossip", false, append(append([]string{}, zoned...), resolver...), "", []string{"dns_zones need gossip"}},
		{"forwarder without gossip", false, nil, dnsSection, []string{"dns.listen: needs gossip"}},
		{"zone that is no name", true, append([]string{`mapped = "100.100.1.0/24"`, `mapped = "100.100.1.0/24"` + "\ndns_zones = [\"corp..internal\"]"}, resolver...), "",
			[]string{`dns_zones[0]: "corp..internal" is not a domain name`}},
		{"listen without a port", true, nil, "\n[dns]\nlisten = [\"10.0.0.1\"]\n", []string{`dns.listen[0]: "10.0.0.1": want IP:port`}},
		{"upstream by name", true, nil, "\n[dns]\nupstream = [\"dns.example.com\"]\n", []string{`dns.upstream[0]: "dns.example.com": want an IP or IP:port`}},
		{"resolver by name", true, []string{"priority = 100", "priority = 100\nresolver = \"ns1\""}, "", []string{`site[0].resolver: "ns1": want an IP or IP:port`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			edits := c.edits
			if c.gossip {
				edits = append(append([]string{}, gossipEdits...), edits...)
			}
			cfg, err := Parse("base.toml", []byte(edit(t, edits...)+c.extra))
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := cfg.SiteResolver(cfg.Sites[0]); got != "10.0.0.2:53" {
					t.Errorf("site resolver %q, want 10.0.0.2:53", got)
				}
				return
			}
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want %q", err, w)
				}
			}
		})
	}
}
