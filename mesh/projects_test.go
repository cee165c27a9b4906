package mesh

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
)

func TestProjectTablesStable(t *testing.T) {
	a := projectTables([]string{"alpha", "beta", "gamma"})
	b := projectTables([]string{"gamma", "alpha"})
	if a["alpha"] != b["alpha"] || a["gamma"] != b["gamma"] {
		t.Errorf("a project's table moved when another was added: %v, %v", a, b)
	}
	seen := map[int]string{}
	for p, n := range a {
		if n <= unreachableTable || n > tableBase+0xffff {
			t.Errorf("%s: table %d outside vpcmesh's range", p, n)
		}
		if o, dup := seen[n]; dup {
			t.Errorf("%s and %s share table %d", p, o, n)
		}
		seen[n] = p
	}
}

// The office of the overlap case, with gossip's remote exports: alpha's
// VPC 10.0.0.0/24 at 10.200.0.0/24, beta's 10.0.0.0/25 at 10.201.0.0/25.
// pc-a, a transparent member of alpha, gets alpha's transparent table:
// the wire and the real prefix; pc-b, a plain member of beta, beta's
// table: the wire prefix. Everybody else finds the wire prefixes
// unreachable, and alpha's real prefix too unless the system routes it
// itself.
func TestKernelPolicyOverlappingProjects(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(header+`
[[site]]
name = "office"
cidrs = ["192.168.0.0/24"]
[[site.member]]
project = "alpha"
sources = ["192.168.0.50/32"]
transparent = true
[[site.member]]
project = "beta"
sources = ["192.168.0.51/32"]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	exports := []remoteExport{{"alpha", p("10.0.0.0/24"), p("10.200.0.0/24")}, {"beta", p("10.0.0.0/25"), p("10.201.0.0/25")}}
	policy := PacketPolicy(cfg, 1420)
	policy.Routes = append(policy.Routes, nat.ProjectRoute{Project: "alpha", Wire: p("10.200.0.0/24")}, nat.ProjectRoute{Project: "beta", Wire: p("10.201.0.0/25")})
	transparent, warnings := transparentRoutes(cfg, exports, policy.Routes)
	if len(transparent) != 2 || len(warnings) != 0 {
		t.Fatalf("transparent %v, warnings %v", transparent, warnings)
	}
	policy.Transparent = transparent
	if _, err := nat.Compile(policy); err != nil {
		t.Fatalf("the packet rules do not compile with the transparent routes: %v", err)
	}
	wanted := []routing.Route{{Dst: p("10.200.0.0/24")}, {Dst: p("10.201.0.0/25")}, {Dst: p("100.96.0.0/16")}}
	routes, rules := kernelPolicy(cfg, wanted, policy, nil, []netip.Prefix{p("10.0.0.0/25")})
	tables := projectTables([]string{"alpha", "beta", transparentTable("alpha")})
	alphaT := tables[transparentTable("alpha")]
	wantRoutes := []routing.Route{
		{Dst: p("10.200.0.0/24"), Table: tables["alpha"]},
		{Dst: p("10.200.0.0/24"), Table: alphaT},
		{Dst: p("10.200.0.0/24"), Table: unreachableTable, Unreachable: true},
		{Dst: p("10.201.0.0/25"), Table: tables["beta"]},
		{Dst: p("10.201.0.0/25"), Table: unreachableTable, Unreachable: true},
		{Dst: p("100.96.0.0/16")},
		{Dst: p("10.0.0.0/24"), Table: alphaT},
	}
	if !slices.Equal(routes, wantRoutes) {
		t.Errorf("routes\n got %v\nwant %v", routes, wantRoutes)
	}
	wantRules := []routing.Rule{
		{Priority: memberRulePriority, Src: p("192.168.0.50/32"), Table: alphaT},
		{Priority: memberRulePriority, Src: p("192.168.0.51/32"), Table: tables["beta"]},
		{Priority: memberRulePriority, Src: p("100.96.0.1/32"), Table: tables["alpha"]},
		{Priority: memberRulePriority, Src: p("100.96.0.1/32"), Table: tables["beta"]},
		{Priority: unreachableRulePriority, Table: unreachableTable},
	}
	if !slices.Equal(rules, wantRules) {
		t.Errorf("rules\n got %v\nwant %v", rules, wantRules)
	}

	// pc-c in both projects cannot tell the two VPCs apart by real address.
	cfg.Sites[0].Members = append(cfg.Sites[0].Members,
		configs.Member{Project: "alpha", Sources: []netip.Prefix{p("192.168.0.52/32")}, Transparent: true},
		configs.Member{Project: "beta", Sources: []netip.Prefix{p("192.168.0.52/32")}})
	_, warnings = transparentRoutes(cfg, exports, policy.Routes)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "member 192.168.0.52/32 is in projects alpha and beta, whose VPCs overlap at 10.0.0.0/24: it must use wire addresses (10.200.0.0/24, 10.201.0.0/25)") {
		t.Errorf("warnings %q", warnings)
	}

	// A VPC whose real prefix is the office's own LAN is offered by wire
	// address only.
	_, warnings = transparentRoutes(cfg, []remoteExport{{"alpha", p("192.168.0.0/24"), p("10.202.0.0/24")}}, policy.Routes)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "project alpha: 192.168.0.0/24 is reachable at its wire prefix 10.202.0.0/24 only: it overlaps a network of this gateway") {
		t.Errorf("warnings %q", warnings)
	}
}

// A plain site-to-site link keeps its routes in the main table, with no
// rules: every address of the site may use it.
func TestKernelPolicyLinkStaysMain(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(header+`
[[site]]
name = "office"
cidrs = ["192.168.0.0/24"]
[[peer]]
name = "vpc"
public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
prefixes = ["10.0.0.0/24"]
`))
	if err != nil {
		t.Fatal(err)
	}
	routes, rules := kernelPolicy(cfg, []routing.Route{{Dst: netip.MustParsePrefix("10.0.0.0/24")}}, PacketPolicy(cfg, 1420), nil, nil)
	if want := []routing.Route{{Dst: netip.MustParsePrefix("10.0.0.0/24")}}; !slices.Equal(routes, want) || len(rules) != 0 {
		t.Errorf("routes %v rules %v; want %v and no rules", routes, rules, want)
	}
}

// A gateway with mapped = "auto" takes the wire prefix its certificate
// binds; one its certificate lacks stops it with the field named.
func TestResolveAutoFromCertificate(t *testing.T) {
	doc := strings.Replace(header, `name = "lab"`, `name = "lab"
root_file = "/etc/vpcmesh/root.pub"`, 1)
	doc = strings.Replace(doc, `overlay_address`, `signing_key_file = "/etc/vpcmesh/signing.key"
certificate_file = "/etc/vpcmesh/gateway.crt"
overlay_address`, 1)
	cfg, err := configs.Parse("gw.toml", []byte(doc+`
[[site]]
name = "vpc"
cidrs = ["10.0.0.0/24", "10.9.0.0/24"]
[[site.export]]
project = "alpha"
cidr = "10.0.0.0/24"
mapped = "auto"
[[site.export]]
project = "alpha"
cidr = "10.9.0.0/24"
mapped = "auto"
`))
	if err != nil {
		t.Fatal(err)
	}
	leaf := &cert.Cert{Body: cert.Body{Sites: []cert.Site{{Name: "vpc", Exports: []cert.Export{
		{Project: "alpha", CIDR: netip.MustParsePrefix("10.0.0.0/24"), Wire: netip.MustParsePrefix("100.100.7.0/24")}}}}}}
	err = cfg.ResolveAuto(certifiedWire(leaf))
	if got := cfg.Sites[0].Exports[0].Wire(); got != netip.MustParsePrefix("100.100.7.0/24") {
		t.Errorf("wire %s, want the certificate's 100.100.7.0/24", got)
	}
	if err == nil || !strings.Contains(err.Error(), `gw.toml: site[0].export[1].mapped: "auto", and the certificate binds no wire prefix for 10.9.0.0/24 to project alpha: sign it again`) {
		t.Errorf("error %v", err)
	}
}
