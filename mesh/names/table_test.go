package names

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Two VPCs from one template: both answer corp.internal, their real CIDRs
// overlap, each is mapped to its own wire prefix.
func alphaExport() Export {
	return Export{
		Gateway: "gw-alpha", Server: netip.MustParseAddrPort("100.64.0.1:53"), Project: "alpha",
		Real: netip.MustParsePrefix("10.0.0.0/24"), Wire: netip.MustParsePrefix("100.100.1.0/24"),
		Zones: []string{"corp.internal"},
	}
}

func betaExport() Export {
	return Export{
		Gateway: "gw-beta", Server: netip.MustParseAddrPort("100.64.0.2:53"), Project: "beta",
		Real: netip.MustParsePrefix("10.0.0.0/25"), Wire: netip.MustParsePrefix("100.100.2.0/25"),
		Zones: []string{"Corp.Internal."},
	}
}

var (
	alphaOnly        = Asker{Projects: []string{"alpha"}}
	betaOnly         = Asker{Projects: []string{"beta"}}
	alphaAndBeta     = Asker{Projects: []string{"beta", "alpha"}}
	alphaTransparent = Asker{Projects: []string{"alpha"}, Transparent: []string{"alpha"}}
	nobody           = Asker{}
)

func question(name string, qtype uint16) dns.Question {
	return dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
}

// twoProjects is the table of alpha and beta, beta given first so that the
// order of the records is seen not to matter.
func twoProjects(t testing.TB) (*Table, []string) {
	t.Helper()
	return NewTable([]Export{betaExport(), alphaExport()})
}

func TestRouteSameZoneTwoProjects(t *testing.T) {
	table, notes := twoProjects(t)
	want := "zone corp.internal. is answered by projects alpha and beta; members of both get alpha's"
	if !slices.Equal(notes, []string{want}) {
		t.Errorf("notes = %q, want [%q]", notes, want)
	}

	q := question("db.corp.internal.", dns.TypeA)
	for _, tc := range []struct {
		name        string
		asker       Asker
		wantGateway string // "" for no route
		wantRewrite bool
	}{
		{"alpha member", alphaOnly, "gw-alpha", true},
		{"beta member", betaOnly, "gw-beta", true},
		{"member of both gets alpha", alphaAndBeta, "gw-alpha", true},
		{"transparent alpha member", alphaTransparent, "gw-alpha", false},
		{"member of no project", nobody, "", false},
		{"member of another project", Asker{Projects: []string{"gamma"}}, "", false},
		{"transparent but no member", Asker{Transparent: []string{"alpha"}}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := table.Route(tc.asker, q)
			if tc.wantGateway == "" {
				if ok {
					t.Fatalf("routed to %s, want no route", r.Export.Gateway)
				}
				return
			}
			if !ok {
				t.Fatalf("no route, want %s", tc.wantGateway)
			}
			if r.Export.Gateway != tc.wantGateway || r.Rewrite != tc.wantRewrite || r.Ask != q {
				t.Errorf("route = %s rewrite %v ask %v, want %s rewrite %v ask %v",
					r.Export.Gateway, r.Rewrite, r.Ask, tc.wantGateway, tc.wantRewrite, q)
			}
		})
	}
}

func TestRouteReturnsNormalisedExport(t *testing.T) {
	exports := []Export{alphaExport()}
	exports[0].Zones = []string{"Corp.Internal", "corp.internal."}
	table, _ := NewTable(exports)
	exports[0].Gateway = "changed after NewTable"
	r, ok := table.Route(alphaOnly, question("db.corp.internal.", dns.TypeA))
	if !ok || r.Export.Gateway != "gw-alpha" || !slices.Equal(r.Export.Zones, []string{"corp.internal."}) {
		t.Fatalf("route = %+v %v, want gw-alpha with zones [corp.internal.]", r.Export, ok)
	}
}

func TestRouteLongestSuffix(t *testing.T) {
	sub := alphaExport()
	sub.Gateway, sub.Zones = "gw-alpha-sub", []string{"a.corp.internal"}
	sub.Real, sub.Wire = netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("100.100.3.0/24")
	other := betaExport()
	other.Zones = []string{"b.corp.internal"} // beta's deeper zone must not capture alpha's askers
	table, _ := NewTable([]Export{alphaExport(), sub, other})

	for name, want := range map[string]string{
		"x.a.corp.internal.": "gw-alpha-sub",
		"a.corp.internal.":   "gw-alpha-sub",
		"x.corp.internal.":   "gw-alpha",
		"corp.internal.":     "gw-alpha",
		"x.b.corp.internal.": "gw-alpha", // b.corp.internal is beta's, not the asker's
		"xa.corp.internal.":  "gw-alpha", // label-wise, not string-wise
		"xcorp.internal.":    "",
		"internal.":          "",
		"corp.internal.com.": "",
		".":                  "",
		"":                   "",
	} {
		r, ok := table.Route(alphaOnly, question(name, dns.TypeA))
		got := ""
		if ok {
			got = r.Export.Gateway
		}
		if got != want {
			t.Errorf("Route(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestRouteCaseInsensitive(t *testing.T) {
	table, _ := twoProjects(t)
	for _, name := range []string{"DB.Corp.INTERNAL", "db.corp.internal", "Db.CORP.internal."} {
		q := question(name, dns.TypeA)
		r, ok := table.Route(alphaOnly, q)
		if !ok || r.Export.Gateway != "gw-alpha" {
			t.Errorf("Route(%q) = %v, want gw-alpha", name, ok)
			continue
		}
		if r.Ask != q { // the site gets the name as the member wrote it
			t.Errorf("Route(%q).Ask = %v, want the question as asked", name, r.Ask)
		}
	}
}

func TestRouteOtherQtypes(t *testing.T) {
	table, _ := twoProjects(t)
	for _, qtype := range []uint16{dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeSRV, dns.TypePTR, dns.TypeANY} {
		q := question("db.corp.internal.", qtype)
		r, ok := table.Route(betaOnly, q)
		if !ok || r.Export.Gateway != "gw-beta" || r.Ask != q {
			t.Errorf("Route(%s) = %+v %v, want gw-beta asked as is", dns.TypeToString[qtype], r, ok)
		}
	}
}

func TestRoutePTR(t *testing.T) {
	table, _ := twoProjects(t)
	alphaAndBetaTransparent := Asker{Projects: []string{"alpha", "beta"}, Transparent: []string{"alpha", "beta"}}
	for _, tc := range []struct {
		name        string
		asker       Asker
		qname       string
		wantGateway string // "" for no route
		wantAsk     string
		wantRewrite bool
	}{
		{"alpha wire address", alphaOnly, "20.1.100.100.in-addr.arpa.", "gw-alpha", "20.0.0.10.in-addr.arpa.", true},
		{"alpha wire address, upper case, unqualified", alphaOnly, "20.1.100.100.IN-ADDR.ARPA", "gw-alpha", "20.0.0.10.in-addr.arpa.", true},
		{"alpha wire address, last host", alphaOnly, "255.1.100.100.in-addr.arpa.", "gw-alpha", "255.0.0.10.in-addr.arpa.", true},
		{"beta wire address", betaOnly, "20.2.100.100.in-addr.arpa.", "gw-beta", "20.0.0.10.in-addr.arpa.", true},
		{"beta wire address for alpha asker", alphaOnly, "20.2.100.100.in-addr.arpa.", "", "", false},
		{"outside beta's /25", betaOnly, "200.2.100.100.in-addr.arpa.", "", "", false},
		{"no export there", alphaAndBeta, "20.3.100.100.in-addr.arpa.", "", "", false},
		{"real address, asker not transparent", alphaOnly, "20.0.0.10.in-addr.arpa.", "", "", false},
		{"real address, transparent asker", alphaTransparent, "20.0.0.10.in-addr.arpa.", "gw-alpha", "20.0.0.10.in-addr.arpa.", false},
		{"wire address, transparent asker", alphaTransparent, "20.1.100.100.in-addr.arpa.", "gw-alpha", "20.0.0.10.in-addr.arpa.", false},
		{"real address, transparent in both: longest prefix", alphaAndBetaTransparent, "20.0.0.10.in-addr.arpa.", "gw-beta", "20.0.0.10.in-addr.arpa.", false},
		{"real address, transparent in both: only alpha's /24", alphaAndBetaTransparent, "200.0.0.10.in-addr.arpa.", "gw-alpha", "200.0.0.10.in-addr.arpa.", false},
		{"member of no project", nobody, "20.1.100.100.in-addr.arpa.", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := question(tc.qname, dns.TypePTR)
			r, ok := table.Route(tc.asker, q)
			if tc.wantGateway == "" {
				if ok {
					t.Fatalf("routed to %s asking %s, want no route", r.Export.Gateway, r.Ask.Name)
				}
				return
			}
			if !ok {
				t.Fatalf("no route, want %s", tc.wantGateway)
			}
			wantAsk := dns.Question{Name: tc.wantAsk, Qtype: dns.TypePTR, Qclass: dns.ClassINET}
			if r.Export.Gateway != tc.wantGateway || r.Ask != wantAsk || r.Rewrite != tc.wantRewrite {
				t.Errorf("route = %s ask %v rewrite %v, want %s ask %v rewrite %v",
					r.Export.Gateway, r.Ask, r.Rewrite, tc.wantGateway, wantAsk, tc.wantRewrite)
			}
		})
	}
}

// A real address asked by a transparent member goes to the site exactly as
// asked, case included.
func TestRoutePTRRealAskedAsIs(t *testing.T) {
	table, _ := twoProjects(t)
	q := question("20.0.0.10.IN-ADDR.arpa.", dns.TypePTR)
	r, ok := table.Route(alphaTransparent, q)
	if !ok || r.Ask != q {
		t.Fatalf("Route = %+v %v, want the question as asked", r.Ask, ok)
	}
}

func TestRouteMalformedReverse(t *testing.T) {
	table, _ := twoProjects(t)
	everyone := Asker{Projects: []string{"alpha", "beta"}, Transparent: []string{"alpha", "beta"}}
	for _, name := range []string{
		"1.100.100.in-addr.arpa.",            // three octets
		"100.100.in-addr.arpa.",              // two
		"in-addr.arpa.",                      // none
		".in-addr.arpa.",                     // an empty label
		"300.1.100.100.in-addr.arpa.",        // not an octet
		"256.1.100.100.in-addr.arpa.",        // one past
		"x.1.100.100.in-addr.arpa.",          // not a number
		"-1.1.100.100.in-addr.arpa.",         // signed
		"020.1.100.100.in-addr.arpa.",        // leading zero
		"2 0.1.100.100.in-addr.arpa.",        // a space
		"5.20.1.100.100.in-addr.arpa.",       // extra label in front
		"20.1.100.100.x.in-addr.arpa.",       // extra label behind
		"20..1.100.100.in-addr.arpa.",        // empty label
		"20.1.100.100.in-addr.arpa.evil.",    // not under in-addr.arpa
		"20.1.100.100.ip6.arpa.",             // wrong tree
		"20\\.1.100.100.in-addr.arpa.",       // escaped dot
		"\\050\\048.1.100.100.in-addr.arpa.", // escaped digits: not read as numbers
	} {
		if r, ok := table.Route(everyone, question(name, dns.TypePTR)); ok {
			t.Errorf("Route(PTR %q) = %s asking %s, want no route", name, r.Export.Gateway, r.Ask.Name)
		}
	}
}

func TestNewTableSameProjectDuplicate(t *testing.T) {
	first := alphaExport() // gw-alpha, 100.100.1.0/24
	second := alphaExport()
	second.Gateway, second.Wire = "gw-alpha-2", netip.MustParsePrefix("100.99.3.0/24") // lowest wire, but gateway goes first
	sameGateway := alphaExport()
	sameGateway.Wire = netip.MustParsePrefix("100.100.0.0/24") // same gateway, lower wire: wins
	want := "zone corp.internal. is claimed by 3 exports of project alpha " +
		"(gateway gw-alpha wire 100.100.0.0/24, gateway gw-alpha wire 100.100.1.0/24, gateway gw-alpha-2 wire 100.99.3.0/24); " +
		"the one via gateway gw-alpha, wire 100.100.0.0/24, answers"

	for _, order := range [][]Export{{first, second, sameGateway}, {second, sameGateway, first}, {sameGateway, first, second}} {
		table, notes := NewTable(order)
		if !slices.Equal(notes, []string{want}) {
			t.Errorf("notes = %q\nwant [%q]", notes, want)
		}
		r, ok := table.Route(alphaOnly, question("db.corp.internal.", dns.TypeA))
		if !ok || r.Export.Gateway != "gw-alpha" || r.Export.Wire != sameGateway.Wire {
			t.Errorf("routed to %+v, want gw-alpha wire %s", r.Export, sameGateway.Wire)
		}
		// Each export still answers for its own addresses.
		r, ok = table.Route(alphaOnly, question("20.3.99.100.in-addr.arpa.", dns.TypePTR))
		if !ok || r.Export.Gateway != "gw-alpha-2" {
			t.Errorf("PTR of gw-alpha-2's wire address routed to %+v %v", r.Export, ok)
		}
	}
}

func TestNewTableThreeProjects(t *testing.T) {
	gamma := betaExport()
	gamma.Project, gamma.Gateway, gamma.Wire = "gamma", "gw-gamma", netip.MustParsePrefix("100.100.4.0/25")
	table, notes := NewTable([]Export{gamma, betaExport(), alphaExport()})
	want := "zone corp.internal. is answered by projects alpha, beta and gamma; a member of several gets the first of its projects in that order"
	if !slices.Equal(notes, []string{want}) {
		t.Errorf("notes = %q, want [%q]", notes, want)
	}
	r, ok := table.Route(Asker{Projects: []string{"gamma", "beta"}}, question("db.corp.internal.", dns.TypeA))
	if !ok || r.Export.Project != "beta" {
		t.Errorf("member of beta and gamma routed to %+v, want beta", r.Export)
	}
}

func TestNewTableLeavesOut(t *testing.T) {
	reverse := alphaExport()
	reverse.Zones = []string{"0.0.10.in-addr.arpa", "in-addr.arpa.", ".", "", "a..b", "corp.internal"}
	v6 := betaExport()
	v6.Real, v6.Wire = netip.MustParsePrefix("fd00::/64"), netip.MustParsePrefix("fd01::/64")
	lengths := betaExport()
	lengths.Project, lengths.Wire = "gamma", netip.MustParsePrefix("100.100.2.0/24")
	noServer := betaExport()
	noServer.Project, noServer.Server = "delta", netip.AddrPort{}

	table, notes := NewTable([]Export{reverse, v6, lengths, noServer})
	if len(notes) != 8 {
		t.Errorf("got %d notes, want 8 (5 zones, 3 exports):\n%s", len(notes), strings.Join(notes, "\n"))
	}
	for _, n := range notes {
		if !strings.Contains(n, "left out") {
			t.Errorf("note %q does not say what was left out", n)
		}
	}
	if _, ok := table.Route(alphaOnly, question("20.0.0.10.in-addr.arpa.", dns.TypePTR)); ok {
		t.Error("a reverse zone listed as a forward zone captured a real address")
	}
	if _, ok := table.Route(alphaOnly, question("db.corp.internal.", dns.TypeA)); !ok {
		t.Error("the export's good zone was lost with its bad ones")
	}
	for _, project := range []string{"beta", "gamma", "delta"} {
		if r, ok := table.Route(Asker{Projects: []string{project}}, question("db.corp.internal.", dns.TypeA)); ok {
			t.Errorf("left-out export of %s still routes: %+v", project, r.Export)
		}
	}
}

func TestRouteNilTable(t *testing.T) {
	var table *Table
	if _, ok := table.Route(alphaOnly, question("db.corp.internal.", dns.TypeA)); ok {
		t.Error("nil table routed")
	}
	empty, notes := NewTable(nil)
	if _, ok := empty.Route(alphaOnly, question("db.corp.internal.", dns.TypeA)); ok || len(notes) != 0 {
		t.Errorf("empty table routed or noted %q", notes)
	}
}
