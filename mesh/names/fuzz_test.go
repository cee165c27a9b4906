package names

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// seedReplies are real replies a site sends, packed.
func seedReplies(t testing.TB) [][]byte {
	var seeds [][]byte
	add := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	a := reply(t, question("www.corp.internal.", dns.TypeA),
		"www.corp.internal. 600 IN CNAME db.corp.internal.",
		rrsig("www.corp.internal.", "CNAME"),
		"db.corp.internal. 300 IN A 10.0.0.20",
		rrsig("db.corp.internal.", "A"),
		"--",
		"ns.corp.internal. 300 IN A 10.0.0.2")
	a.AuthenticatedData = true
	a.SetEdns0(1232, true)
	add(a)
	add(reply(t, question("20.0.0.10.in-addr.arpa.", dns.TypePTR), "20.0.0.10.in-addr.arpa. 300 IN PTR db.corp.internal."))
	_, nx := negative(t, "nope.corp.internal.", dns.RcodeNameError,
		"corp.internal. 3600 IN SOA ns.corp.internal. admin.corp.internal. 1 7200 900 1209600 30")
	add(nx)
	add(reply(t, question("corp.internal.", dns.TypeMX), "corp.internal. 300 IN MX 10 mail.corp.internal.",
		"--", "mail.corp.internal. 300 IN A 10.0.0.25", "mail.corp.internal. 300 IN AAAA fd00::25"))
	return seeds
}

// FuzzAnswer feeds Answer whatever a site could send: it must not panic, a
// reply that packed before must pack after, and no rewritable address may be
// left behind.
func FuzzAnswer(f *testing.F) {
	for _, s := range seedReplies(f) {
		f.Add(s, false)
		f.Add(s, true)
	}
	table, _ := twoProjects(f)
	forwardQ := question("www.corp.internal.", dns.TypeA)
	forward, _ := table.Route(alphaOnly, forwardQ)
	ptrQ := question("20.1.100.100.in-addr.arpa.", dns.TypePTR)
	ptr, _ := table.Route(alphaOnly, ptrQ)

	f.Fuzz(func(t *testing.T, b []byte, asPTR bool) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		if _, err := m.Copy().Pack(); err != nil {
			return // not ours to fix
		}
		q, r := forwardQ, forward
		if asPTR {
			q, r = ptrQ, ptr
		}
		Answer(m, q, r)
		if _, err := m.Pack(); err != nil {
			t.Fatalf("Pack after Answer: %v\n%v", err, m)
		}
		if len(m.Question) != 1 || m.Question[0] != q {
			t.Fatalf("question = %v, want %v", m.Question, q)
		}
		for _, rr := range append(m.Answer, m.Extra...) {
			if a, ok := rr.(*dns.A); ok {
				if addr, ok := netip.AddrFromSlice(a.A); ok && r.Export.Real.Contains(addr.Unmap()) {
					t.Fatalf("%v left inside the real prefix", a)
				}
			}
		}
	})
}

// FuzzRoute asks any name of any type: Route must not panic, and a route it
// gives must be to one of the asker's projects.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"db.corp.internal.", "DB.Corp.Internal", "20.1.100.100.in-addr.arpa.",
		"20.0.0.10.in-addr.arpa", "1.100.100.in-addr.arpa.", "300.1.100.100.in-addr.arpa.", "", ".", "..", "\\.", "a\\.corp.internal."} {
		f.Add(s, dns.TypePTR)
		f.Add(s, dns.TypeA)
	}
	table, _ := twoProjects(f)
	askers := []Asker{alphaOnly, betaOnly, alphaAndBeta, alphaTransparent, nobody}
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		q := dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
		for _, a := range askers {
			r, ok := table.Route(a, q)
			if !ok {
				continue
			}
			if r.Export == nil || !slices.Contains(a.Projects, r.Export.Project) {
				t.Fatalf("%v routed to %+v for an asker in %v", q, r.Export, a.Projects)
			}
			if r.Ask.Qtype != q.Qtype || r.Ask.Qclass != q.Qclass {
				t.Fatalf("asked %v for %v", r.Ask, q)
			}
		}
	})
}
