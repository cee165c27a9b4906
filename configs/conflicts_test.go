package configs

import (
	"fmt"
	"strings"
	"testing"
)

// gateway is a config of one gateway of mesh acme with the site given.
func gateway(name, overlay, endpoint, join, site string) string {
	return fmt.Sprintf(`version = 1
[node]
name = %q
private_key_file = "/etc/vpcmesh/wireguard.key"
overlay_address = %q
public_endpoint = %q
[mesh]
name = "acme"
overlay_range = "100.96.0.0/16"
join = [%s]
%s`, name, overlay, endpoint, join, site)
}

const (
	siteA = `[[site]]
name = "vpc-a"
cidrs = ["10.0.0.0/24"]
[[site.export]]
project = "alpha"
cidr = "10.0.0.0/24"
mapped = "100.100.1.0/24"
`
	siteB = `[[site]]
name = "vpc-b"
cidrs = ["10.0.0.0/24"]
[[site.export]]
project = "beta"
cidr = "10.0.0.0/24"
mapped = "100.100.2.0/24"
`
)

// Conflicts between gateways' configs are errors at the later file's key,
// naming the earlier file's; a join address no gateway listens at is a
// warning. Two gateways of one site (HA) may export the same prefix.
func TestConflicts(t *testing.T) {
	const ep1, ep2 = "203.0.113.1:51820", "203.0.113.2:51820"
	cases := []struct {
		name       string
		a, b       string
		errs, warn []string // each the start of one FieldError, in order
	}{
		{"HA pair", gateway("gw1", "100.96.0.1", ep1, `"`+ep2+`"`, siteA), gateway("gw2", "100.96.0.2", ep2, `"`+ep1+`"`, siteA), nil, nil},
		{"two projects", gateway("gw1", "100.96.0.1", ep1, "", siteA), gateway("gw2", "100.96.0.2", ep2, "", siteB), nil, nil},
		{"same node name", gateway("gw1", "100.96.0.1", ep1, "", siteA), gateway("gw1", "100.96.0.2", ep2, "", siteB),
			[]string{`b.toml:3:8: node.name: "gw1" is also the node name in a.toml:3:8 (node.name)`}, nil},
		{"same overlay address", gateway("gw1", "100.96.0.1", ep1, "", siteA), gateway("gw2", "100.96.0.1", ep2, "", siteB),
			[]string{`b.toml:5:19: node.overlay_address: 100.96.0.1 is also the overlay address in a.toml:5:19 (node.overlay_address)`}, nil},
		{"same wire prefix", gateway("gw1", "100.96.0.1", ep1, "", siteA), gateway("gw2", "100.96.0.2", ep2, "", strings.Replace(siteB, "100.100.2.0/24", "100.100.1.0/24", 1)),
			[]string{`b.toml:17:10: site[0].export[0].mapped: wire prefix 100.100.1.0/24 overlaps 100.100.1.0/24 in a.toml:17:10 (site[0].export[0].mapped)`}, nil},
		{"overlapping unmapped export", gateway("gw1", "100.96.0.1", ep1, "", siteA),
			gateway("gw2", "100.96.0.2", ep2, "", "[[site]]\nname = \"lan\"\ncidrs = [\"100.100.1.128/25\"]\n[[site.export]]\nproject = \"alpha\"\ncidr = \"100.100.1.128/25\"\n"),
			[]string{`b.toml:16:8: site[0].export[0].cidr: wire prefix 100.100.1.128/25 overlaps 100.100.1.0/24 in a.toml:17:10 (site[0].export[0].mapped)`}, nil},
		{"HA members disagree", gateway("gw1", "100.96.0.1", ep1, "", siteA),
			gateway("gw2", "100.96.0.2", ep2, "", strings.Replace(siteA, `cidrs = ["10.0.0.0/24"]`, `cidrs = ["10.0.0.0/23"]`, 1)),
			[]string{`b.toml:13:9: site[0].cidrs: site "vpc-a" is [10.0.0.0/23] here but [10.0.0.0/24] in a.toml:13:9 (site[0].cidrs): the gateways of one site (an HA group) must declare the same cidrs`}, nil},
		{"join nobody listens at", gateway("gw1", "100.96.0.1", ep1, `"`+ep2+`"`, siteA), gateway("gw2", "100.96.0.2", ep2, `"203.0.113.9:51820", "gw1.example.com:51820"`, siteB),
			nil, []string{
				`b.toml:10:9: mesh.join[0]: warning: 203.0.113.9:51820 is no other gateway's node.public_endpoint among the 2 files checked`,
				`b.toml:10:30: mesh.join[1]: warning: gw1.example.com:51820 is no other gateway's node.public_endpoint among the 2 files checked (check resolves no names`,
			}},
		{"another mesh", gateway("gw1", "100.96.0.1", ep1, "", siteA), strings.Replace(gateway("gw1", "100.96.0.1", ep2, "", siteA), `"acme"`, `"other"`, 1), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfgs []*Config
			for name, doc := range map[string]string{"a.toml": c.a, "b.toml": c.b} {
				cfg, err := Parse(name, []byte(doc))
				if err != nil {
					t.Fatalf("each file alone must be valid: %v", err)
				}
				cfgs = append(cfgs, cfg)
			}
			if cfgs[0].Path != "a.toml" {
				cfgs[0], cfgs[1] = cfgs[1], cfgs[0]
			}
			errs, warns := Conflicts(cfgs)
			expectFieldErrors(t, "errors", errs, c.errs)
			expectFieldErrors(t, "warnings", warns, c.warn)
		})
	}
}

func expectFieldErrors(t *testing.T, what string, got []*FieldError, want []string) {
	t.Helper()
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Error())
	}
	if len(lines) != len(want) {
		t.Errorf("%s %q, want %d: %q", what, lines, len(want), want)
		return
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("%s[%d] %q, want it to start %q", what, i, lines[i], want[i])
		}
	}
}

// One zone in two projects' exports (two VPCs from one template): check
// warns, naming which project members of both get. The HA group's two
// members share their zones without a word.
func TestZoneConflicts(t *testing.T) {
	gw := func(name, overlay, site, project, wire string) string {
		return fmt.Sprintf(`version = 1
[node]
name = %q
private_key_file = "/etc/vpcmesh/wireguard.key"
signing_key_file = "/etc/vpcmesh/signing.key"
certificate_file = "/etc/vpcmesh/gateway.crt"
overlay_address = %q
[mesh]
name = "acme"
overlay_range = "100.96.0.0/16"
root_file = "/etc/vpcmesh/root.pub"
[[site]]
name = %q
cidrs = ["10.0.0.0/24"]
resolver = "10.0.0.2"
[[site.export]]
project = %q
cidr = "10.0.0.0/24"
mapped = %q
dns_zones = ["corp.internal"]
`, name, overlay, site, project, wire)
	}
	a := gw("gw-a", "100.96.0.1", "vpc-a", "alpha", "100.100.1.0/24")
	for _, c := range []struct {
		name string
		b    string
		warn []string
	}{
		{"another project", gw("gw-b", "100.96.0.2", "vpc-b", "beta", "100.100.2.0/24"),
			[]string{`b.toml:20:14: site[0].export[0].dns_zones[0]: warning: zone corp.internal is also a zone of project alpha in a.toml: members of both projects get alpha's answers`}},
		{"the same project", gw("gw-b", "100.96.0.2", "vpc-b", "alpha", "100.100.2.0/24"),
			[]string{`b.toml:20:14: site[0].export[0].dns_zones[0]: warning: zone corp.internal of project alpha is also answered by site vpc-a in a.toml`}},
		{"HA pair", gw("gw-a2", "100.96.0.2", "vpc-a", "alpha", "100.100.1.0/24"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca, err := Parse("a.toml", []byte(a))
			if err != nil {
				t.Fatal(err)
			}
			cb, err := Parse("b.toml", []byte(c.b))
			if err != nil {
				t.Fatal(err)
			}
			errs, warns := Conflicts([]*Config{ca, cb})
			expectFieldErrors(t, "errors", errs, nil)
			expectFieldErrors(t, "warnings", warns, c.warn)
		})
	}
}
