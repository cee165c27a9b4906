package names

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// reply is the site's reply to ask, records given in zone-file syntax;
// extra records follow a "--" entry.
func reply(t testing.TB, ask dns.Question, records ...string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(ask.Name, ask.Qtype)
	m.Response, m.RecursionAvailable = true, true
	extra := false
	for _, s := range records {
		if s == "--" {
			extra = true
			continue
		}
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("NewRR(%q): %v", s, err)
		}
		if extra {
			m.Extra = append(m.Extra, rr)
		} else {
			m.Answer = append(m.Answer, rr)
		}
	}
	return m
}

// routeFor routes q for asker in the two-project table.
func routeFor(t testing.TB, asker Asker, q dns.Question) Route {
	t.Helper()
	table, _ := twoProjects(t)
	r, ok := table.Route(asker, q)
	if !ok {
		t.Fatalf("no route for %v", q)
	}
	return r
}

// records renders a section as zone-file lines, for comparing what a user
// would see.
func records(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func checkRecords(t *testing.T, section string, got []dns.RR, want ...string) {
	t.Helper()
	g := records(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s section:\n%s\nwant:\n%s", section, strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// checkPacks makes sure the rewritten reply still goes on the wire and reads
// back the same.
func checkPacks(t *testing.T, m *dns.Msg) {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	back := new(dns.Msg)
	if err := back.Unpack(wire); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if back.String() != m.String() {
		t.Errorf("packed and read back:\n%s\nwant:\n%s", back, m)
	}
}

func TestAnswerRewritesA(t *testing.T) {
	q := question("db.corp.internal.", dns.TypeA)
	r := routeFor(t, alphaOnly, q)
	m := reply(t, r.Ask,
		"db.corp.internal. 300 IN A 10.0.0.20",
		"db.corp.internal. 300 IN A 192.168.1.5", // outside the export's real CIDR
		"db.corp.internal. 300 IN A 10.0.1.20",   // just outside 10.0.0.0/24
	)
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer = %d, want 1", n)
	}
	checkRecords(t, "answer", m.Answer,
		"db.corp.internal. 300 IN A 100.100.1.20",
		"db.corp.internal. 300 IN A 192.168.1.5",
		"db.corp.internal. 300 IN A 10.0.1.20")
	if len(m.Question) != 1 || m.Question[0] != q {
		t.Errorf("question = %v, want %v", m.Question, q)
	}
	checkPacks(t, m)
}

func TestAnswerBetaRewritesIntoItsOwnWire(t *testing.T) {
	q := question("db.corp.internal.", dns.TypeA)
	r := routeFor(t, betaOnly, q)
	m := reply(t, r.Ask,
		"db.corp.internal. 60 IN A 10.0.0.20",
		"db.corp.internal. 60 IN A 10.0.0.200") // in alpha's /24, not beta's /25
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer = %d, want 1", n)
	}
	checkRecords(t, "answer", m.Answer,
		"db.corp.internal. 60 IN A 100.100.2.20",
		"db.corp.internal. 60 IN A 10.0.0.200")
}

func TestAnswerCNAMEChain(t *testing.T) {
	q := question("www.corp.internal.", dns.TypeA)
	r := routeFor(t, alphaOnly, q)
	m := reply(t, r.Ask,
		"www.corp.internal. 600 IN CNAME db.corp.internal.",
		"db.corp.internal. 120 IN A 10.0.0.20")
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer = %d, want 1", n)
	}
	checkRecords(t, "answer", m.Answer,
		"www.corp.internal. 600 IN CNAME db.corp.internal.",
		"db.corp.internal. 120 IN A 100.100.1.20")
}

func TestAnswerAdditionalSection(t *testing.T) {
	q := question("corp.internal.", dns.TypeMX)
	r := routeFor(t, alphaOnly, q)
	m := reply(t, r.Ask,
		"corp.internal. 300 IN MX 10 mail.corp.internal.",
		"--",
		"mail.corp.internal. 300 IN A 10.0.0.25",
		"mail.corp.internal. 300 IN AAAA fd00::25")
	ns, _ := dns.NewRR("ns.corp.internal. 300 IN A 10.0.0.2") // authority: not rewritten
	m.Ns = []dns.RR{ns}
	m.SetEdns0(1232, false)
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer = %d, want 1", n)
	}
	checkRecords(t, "answer", m.Answer, "corp.internal. 300 IN MX 10 mail.corp.internal.")
	checkRecords(t, "authority", m.Ns, "ns.corp.internal. 300 IN A 10.0.0.2")
	if len(m.Extra) != 3 || m.IsEdns0() == nil {
		t.Fatalf("additional section = %v, want A, AAAA and OPT", m.Extra)
	}
	checkRecords(t, "additional", m.Extra[:2],
		"mail.corp.internal. 300 IN A 100.100.1.25",
		"mail.corp.internal. 300 IN AAAA fd00::25")
	checkPacks(t, m)
}

func TestAnswerLeavesAAAAAlone(t *testing.T) {
	q := question("db.corp.internal.", dns.TypeAAAA)
	r := routeFor(t, alphaOnly, q)
	m := reply(t, r.Ask, "db.corp.internal. 300 IN AAAA ::ffff:10.0.0.20") // even one that maps 10.0.0.20
	m.AuthenticatedData = true
	if n := Answer(m, q, r); n != 0 {
		t.Errorf("Answer = %d, want 0", n)
	}
	checkRecords(t, "answer", m.Answer, "db.corp.internal. 300 IN AAAA ::ffff:10.0.0.20")
	if !m.AuthenticatedData {
		t.Error("AD cleared though nothing changed")
	}
}

func TestAnswerPTR(t *testing.T) {
	q := question("20.1.100.100.in-addr.arpa.", dns.TypePTR)
	r := routeFor(t, alphaOnly, q)
	m := reply(t, r.Ask, "20.0.0.10.in-addr.arpa. 3600 IN PTR db.corp.internal.")
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer = %d, want 1", n)
	}
	checkRecords(t, "answer", m.Answer, "20.1.100.100.in-addr.arpa. 3600 IN PTR db.corp.internal.")
	if m.Question[0] != q {
		t.Errorf("question = %v, want %v", m.Question[0], q)
	}
	checkPacks(t, m)
}

// The site may answer in another case than asked (0x20 or not): it is still
// the asked name.
func TestAnswerPTROwnerCaseInsensitive(t *testing.T) {
	q := question("20.1.100.100.in-addr.arpa.", dns.TypePTR)
	r := routeFor(t, alphaOnly, q)
	m := reply(t, r.Ask, "20.0.0.10.IN-ADDR.ARPA. 3600 IN PTR db.corp.internal.")
	Answer(m, q, r)
	checkRecords(t, "answer", m.Answer, "20.1.100.100.in-addr.arpa. 3600 IN PTR db.corp.internal.")
}

const sig = "RRSIG %s 13 3 300 20300101000000 20200101000000 12345 corp.internal. AAAA"

func rrsig(owner, covered string) string {
	return owner + " 300 IN " + strings.Replace(sig, "%s", covered, 1)
}

func TestAnswerDNSSEC(t *testing.T) {
	q := question("www.corp.internal.", dns.TypeA)
	r := routeFor(t, alphaOnly, q)

	t.Run("changed RRset loses its signature and AD", func(t *testing.T) {
		m := reply(t, r.Ask,
			"www.corp.internal. 300 IN CNAME db.corp.internal.",
			rrsig("www.corp.internal.", "CNAME"),
			"db.corp.internal. 300 IN A 10.0.0.20",
			rrsig("DB.corp.internal.", "A"))
		m.AuthenticatedData = true
		if n := Answer(m, q, r); n != 1 {
			t.Errorf("Answer = %d, want 1", n)
		}
		if m.AuthenticatedData {
			t.Error("AD still set on a rewritten answer")
		}
		checkRecords(t, "answer", m.Answer,
			"www.corp.internal. 300 IN CNAME db.corp.internal.",
			rrsig("www.corp.internal.", "CNAME"), // the CNAME is as signed
			"db.corp.internal. 300 IN A 100.100.1.20")
	})

	t.Run("unchanged answer keeps signature and AD", func(t *testing.T) {
		m := reply(t, r.Ask,
			"www.corp.internal. 300 IN A 192.168.1.5",
			rrsig("www.corp.internal.", "A"))
		m.AuthenticatedData = true
		if n := Answer(m, q, r); n != 0 {
			t.Errorf("Answer = %d, want 0", n)
		}
		if !m.AuthenticatedData {
			t.Error("AD cleared though nothing changed")
		}
		checkRecords(t, "answer", m.Answer,
			"www.corp.internal. 300 IN A 192.168.1.5",
			rrsig("www.corp.internal.", "A"))
	})

	t.Run("renamed PTR loses its signature and AD", func(t *testing.T) {
		q := question("20.1.100.100.in-addr.arpa.", dns.TypePTR)
		r := routeFor(t, alphaOnly, q)
		m := reply(t, r.Ask,
			"20.0.0.10.in-addr.arpa. 300 IN PTR db.corp.internal.",
			rrsig("20.0.0.10.in-addr.arpa.", "PTR"),
			rrsig("20.0.0.10.in-addr.arpa.", "TXT")) // its RRset absent: still not for the new name
		m.AuthenticatedData = true
		Answer(m, q, r)
		if m.AuthenticatedData {
			t.Error("AD still set on a renamed answer")
		}
		checkRecords(t, "answer", m.Answer, "20.1.100.100.in-addr.arpa. 300 IN PTR db.corp.internal.")
	})
}

func TestAnswerTransparentChangesOnlyTheQuestion(t *testing.T) {
	q := question("db.corp.internal.", dns.TypeA)
	r := routeFor(t, alphaTransparent, q)
	m := reply(t, r.Ask,
		"db.corp.internal. 300 IN A 10.0.0.20",
		rrsig("db.corp.internal.", "A"),
		"--",
		"db.corp.internal. 300 IN A 10.0.0.21")
	m.AuthenticatedData = true
	m.Question[0].Name = "DB.CORP.INTERNAL." // what a site might echo
	before := records(append(append([]dns.RR{}, m.Answer...), m.Extra...))
	if n := Answer(m, q, r); n != 0 {
		t.Errorf("Answer = %d, want 0", n)
	}
	after := records(append(append([]dns.RR{}, m.Answer...), m.Extra...))
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("records changed:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if !m.AuthenticatedData || m.Question[0] != q {
		t.Errorf("AD %v question %v, want AD kept and %v", m.AuthenticatedData, m.Question[0], q)
	}
}

// A transparent member asking the PTR of a wire address still gets the
// answer under the name it asked.
func TestAnswerTransparentPTRStillRenamed(t *testing.T) {
	q := question("20.1.100.100.in-addr.arpa.", dns.TypePTR)
	r := routeFor(t, alphaTransparent, q)
	m := reply(t, r.Ask, "20.0.0.10.in-addr.arpa. 300 IN PTR db.corp.internal.")
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer = %d, want 1", n)
	}
	checkRecords(t, "answer", m.Answer, "20.1.100.100.in-addr.arpa. 300 IN PTR db.corp.internal.")
}

func TestAnswerOddInput(t *testing.T) {
	q := question("db.corp.internal.", dns.TypeA)
	r := routeFor(t, alphaOnly, q)
	if n := Answer(nil, q, r); n != 0 {
		t.Errorf("Answer(nil) = %d", n)
	}
	m := reply(t, r.Ask, "db.corp.internal. 300 IN A 10.0.0.20")
	m.Answer = append(m.Answer, nil, &dns.A{Hdr: dns.RR_Header{Name: "db.corp.internal.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IP{1, 2}})
	if n := Answer(m, q, r); n != 1 {
		t.Errorf("Answer with a nil and a short record = %d, want 1", n)
	}
	m = reply(t, r.Ask, "db.corp.internal. 300 IN A 10.0.0.20")
	if n := Answer(m, q, Route{Ask: q, Rewrite: true}); n != 0 { // no export to rewrite into
		t.Errorf("Answer without export = %d, want 0", n)
	}
	bad := Route{Export: &Export{Real: r.Export.Real}, Ask: q, Rewrite: true} // no wire prefix
	if n := Answer(m, q, bad); n != 0 {
		t.Errorf("Answer with no wire prefix = %d, want 0", n)
	}
}

// An export that is not mapped (wire = real) needs no rewriting: its answers
// stay as the zone signed them.
func TestAnswerUnmappedExport(t *testing.T) {
	plain := Export{
		Gateway: "gw-gamma", Server: netip.MustParseAddrPort("100.64.0.3:53"), Project: "gamma",
		Real: netip.MustParsePrefix("192.168.5.0/24"), Wire: netip.MustParsePrefix("192.168.5.0/24"),
		Zones: []string{"gamma.internal"},
	}
	table, _ := NewTable([]Export{plain})
	gamma := Asker{Projects: []string{"gamma"}}

	q := question("db.gamma.internal.", dns.TypeA)
	r, ok := table.Route(gamma, q)
	if !ok || !r.Rewrite {
		t.Fatalf("Route = %+v %v", r, ok)
	}
	m := reply(t, r.Ask, "db.gamma.internal. 300 IN A 192.168.5.5", rrsig("db.gamma.internal.", "A"))
	m.AuthenticatedData = true
	if n := Answer(m, q, r); n != 0 || !m.AuthenticatedData || len(m.Answer) != 2 {
		t.Errorf("Answer = %d, AD %v, %d records; want 0, AD kept, 2 records", n, m.AuthenticatedData, len(m.Answer))
	}

	q = question("5.5.168.192.IN-ADDR.ARPA.", dns.TypePTR)
	r, ok = table.Route(gamma, q)
	if !ok || r.Ask != q {
		t.Fatalf("PTR route = %+v %v, want the question asked as is", r.Ask, ok)
	}
	m = reply(t, r.Ask, "5.5.168.192.in-addr.arpa. 300 IN PTR db.gamma.internal.", rrsig("5.5.168.192.in-addr.arpa.", "PTR"))
	m.AuthenticatedData = true
	if n := Answer(m, q, r); n != 0 || !m.AuthenticatedData || len(m.Answer) != 2 {
		t.Errorf("PTR Answer = %d, AD %v, %d records; want 0, AD kept, 2 records", n, m.AuthenticatedData, len(m.Answer))
	}

	// An asked name differing from the member's only in case is the same name.
	r.Ask.Name = "5.5.168.192.in-addr.arpa."
	m = reply(t, r.Ask, "5.5.168.192.in-addr.arpa. 300 IN PTR db.gamma.internal.")
	m.AuthenticatedData = true
	if n := Answer(m, q, r); n != 0 || !m.AuthenticatedData {
		t.Errorf("case-only difference: Answer = %d, AD %v; want 0, AD kept", n, m.AuthenticatedData)
	}
}
