package mesh

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/vpcmesh/vpcmesh/mesh/names"
)

// fakeSite answers every A question under corp.internal with 10.0.0.20
// (TTL 60) on a loopback port: a site's resolver.
func fakeSite(tb testing.TB) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 10.0.0.20")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	tb.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// forwarderOn starts the member side on loopback, for 127.0.0.1 as a
// member of alpha, whose zone corp.internal the fake site answers; other
// names go to upstream, if any.
func forwarderOn(tb testing.TB, site netip.AddrPort, upstream ...string) string {
	return forwarderFor(tb, site, netip.MustParsePrefix("127.0.0.1/32"), upstream...).PacketConn.LocalAddr().String()
}

// forwarderFor starts the member side for member; it returns the UDP
// server (the TCP one follows it in s.servers).
func forwarderFor(tb testing.TB, site netip.AddrPort, member netip.Prefix, upstream ...string) *dns.Server {
	s := &dnsServers{log: slog.New(slog.NewTextHandler(io.Discard, nil)), inFlight: make(chan struct{}, dnsInFlight),
		cache: names.NewCache(10000)}
	table, _ := names.NewTable([]names.Export{{Gateway: "gw-a", Server: site, Project: "alpha",
		Real: netip.MustParsePrefix("10.0.0.0/24"), Wire: netip.MustParsePrefix("100.100.1.0/24"), Zones: []string{"corp.internal"}}})
	s.set(&namesState{table: table, members: []memberSource{{src: member, project: "alpha"}}, upstream: upstream})
	if err := s.serve("127.0.0.1:0", nil, dns.HandlerFunc(s.serveMember)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	tcpOf[s.servers[0]] = s.servers[1].Listener.Addr().String()
	return s.servers[0]
}

// tcpOf is the TCP address of a forwarder started by forwarderFor.
var tcpOf = map[*dns.Server]string{}

// The forwarder rewrites into the wire prefix and answers from its cache
// the second time.
func TestForwarderRewritesAndCaches(t *testing.T) {
	fwd := forwarderOn(t, fakeSite(t))
	c := new(dns.Client)
	for i := range 2 {
		m := new(dns.Msg)
		m.SetQuestion("db.corp.internal.", dns.TypeA)
		r, _, err := c.Exchange(m, fwd)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "100.100.1.20" {
			t.Fatalf("question %d: %v", i, r)
		}
	}
}

// Other names go to the upstream resolver, unchanged; without one, and
// for anybody who is no member, they are refused.
func TestForwarderUpstreamAndRefusals(t *testing.T) {
	site := fakeSite(t)
	ask := func(fwd, name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := new(dns.Client).Exchange(m, fwd)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	withUpstream := forwarderOn(t, site, site.String())
	if r := ask(withUpstream, "www.example.com."); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.20" {
		t.Errorf("www.example.com through the upstream: %v, want 10.0.0.20 unchanged", r)
	}
	if r := ask(forwarderOn(t, site), "www.example.com."); r.Rcode != dns.RcodeRefused {
		t.Errorf("www.example.com without an upstream: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	stranger := forwarderFor(t, site, netip.MustParsePrefix("192.0.2.1/32"), site.String()).PacketConn.LocalAddr().String()
	for _, name := range []string{"db.corp.internal.", "www.example.com."} {
		if r := ask(stranger, name); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("%s from a non-member: %v, want REFUSED", name, r)
		}
	}
}

var coldRuns atomic.Int64

// Questions per second through the forwarder, cold (every name new: asked
// of the site) and warm (answered from the cache), over loopback UDP, one
// asker at a time.
func BenchmarkForwarder(b *testing.B) {
	fwd := forwarderOn(b, fakeSite(b))
	for _, warm := range []bool{false, true} {
		b.Run(map[bool]string{false: "cold", true: "warm"}[warm], func(b *testing.B) {
			c := new(dns.Client)
			m := new(dns.Msg)
			run := coldRuns.Add(1) // names never asked before, whatever -count
			for i := 0; b.Loop(); i++ {
				name := "db.corp.internal."
				if !warm {
					name = fmt.Sprintf("h%d-%d.corp.internal.", run, i)
				}
				m.SetQuestion(name, dns.TypeA)
				if r, _, err := c.Exchange(m, fwd); err != nil || len(r.Answer) != 1 {
					b.Fatalf("%v %v", r, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "questions/s")
		})
	}
}

// A gateway answers from its site only the names of its exports, and
// only to gateways of the export's project.
func TestSiteAnswersItsProjectsOnly(t *testing.T) {
	st := &namesState{local: []localZones{{project: "alpha", real: netip.MustParsePrefix("10.0.0.0/24"),
		zones: []string{"corp.internal."}, resolver: "10.0.0.2:53"}}}
	for _, c := range []struct {
		name     string
		qtype    uint16
		projects []string
		want     bool
	}{
		{"db.corp.internal.", dns.TypeA, []string{"alpha"}, true},
		{"DB.Corp.Internal.", dns.TypeA, []string{"beta", "alpha"}, true},
		{"corp.internal.", dns.TypeSOA, []string{"alpha"}, true},
		{"db.corp.internal.", dns.TypeA, []string{"beta"}, false},
		{"db.corp.internal.", dns.TypeA, nil, false},
		{"db.othercorp.internal.", dns.TypeA, []string{"alpha"}, false},
		{"20.0.0.10.in-addr.arpa.", dns.TypePTR, []string{"alpha"}, true},
		{"20.0.0.10.in-addr.arpa.", dns.TypePTR, []string{"beta"}, false},
		{"20.1.0.10.in-addr.arpa.", dns.TypePTR, []string{"alpha"}, false},
		{"0.10.in-addr.arpa.", dns.TypePTR, []string{"alpha"}, false},
	} {
		_, got := st.localFor(dns.Question{Name: c.name, Qtype: c.qtype, Qclass: dns.ClassINET}, c.projects)
		if got != c.want {
			t.Errorf("%s %s for a gateway in %v: answered %v, want %v", c.name, dns.TypeToString[c.qtype], c.projects, got, c.want)
		}
	}
}

// Who may ask: members and the hosts of exports, by project; transparent
// only for a member of one project alone.
func TestAskers(t *testing.T) {
	st := &namesState{members: []memberSource{
		{src: netip.MustParsePrefix("192.168.0.50/32"), project: "alpha"},
		{src: netip.MustParsePrefix("192.168.0.53/32"), project: "alpha", transparent: true},
		{src: netip.MustParsePrefix("192.168.0.0/28"), project: "beta", transparent: true},
		{src: netip.MustParsePrefix("10.0.0.0/24"), project: "alpha"},
	}}
	for _, c := range []struct {
		src         string
		projects    []string
		transparent []string
	}{
		{"192.168.0.50", []string{"alpha"}, nil},
		{"192.168.0.53", []string{"alpha"}, []string{"alpha"}},
		{"192.168.0.5", []string{"beta"}, []string{"beta"}},
		{"10.0.0.9", []string{"alpha"}, nil},
		{"192.168.0.99", nil, nil},
	} {
		a, ok := st.asker(netip.MustParseAddr(c.src))
		if ok != (len(c.projects) > 0) || fmt.Sprint(a.Projects) != fmt.Sprint(c.projects) || fmt.Sprint(a.Transparent) != fmt.Sprint(c.transparent) {
			t.Errorf("%s: %+v %v, want projects %v transparent %v", c.src, a, ok, c.projects, c.transparent)
		}
	}
}

// recorder is a dns.ResponseWriter that keeps what was written.
type recorder struct {
	remote net.Addr
	msgs   []*dns.Msg
}

func (r *recorder) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr        { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error   { r.msgs = append(r.msgs, m); return nil }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

// Any question a member can send (the server has parsed it) gets exactly
// one answer and never a panic; the sites it routes to refuse at once
// (a closed loopback port), so a question costs no wait.
func FuzzServeMember(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"db.corp.internal.", dns.TypeA}, {"20.1.100.100.in-addr.arpa.", dns.TypePTR}, {"example.com.", dns.TypeMX}, {".", dns.TypeSOA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		f.Add(b, true)
		f.Add(b, false)
	}
	table, _ := names.NewTable([]names.Export{{Gateway: "gw-a", Server: netip.MustParseAddrPort("127.0.0.1:1"), Project: "alpha",
		Real: netip.MustParsePrefix("10.0.0.0/24"), Wire: netip.MustParsePrefix("100.100.1.0/24"), Zones: []string{"corp.internal"}}})
	s := &dnsServers{log: slog.New(slog.NewTextHandler(io.Discard, nil)), inFlight: make(chan struct{}, dnsInFlight), cache: names.NewCache(100)}
	s.set(&namesState{table: table, members: []memberSource{{src: netip.MustParsePrefix("127.0.0.1/32"), project: "alpha"}},
		local: []localZones{{project: "alpha", real: netip.MustParsePrefix("10.0.0.0/24"), zones: []string{"corp.internal."}, resolver: "127.0.0.1:1"}},
		peers: map[netip.Addr][]string{netip.MustParseAddr("127.0.0.1"): {"alpha"}}})
	f.Fuzz(func(t *testing.T, b []byte, member bool) {
		r := new(dns.Msg)
		if r.Unpack(b) != nil {
			return
		}
		w := &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
		if member {
			s.serveMember(w, r)
		} else {
			s.serveSite(w, r)
		}
		if len(w.msgs) != 1 {
			t.Fatalf("%d answers to %v", len(w.msgs), r)
		}
		if _, err := w.msgs[0].Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
	})
}

// Over UDP an answer is no larger than the asker offered, and 4096 bytes
// at most whatever it offers; over TCP it is whole.
func TestForwarderTruncates(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for i := range 300 { // about 4,800 bytes
			rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN A 10.0.%d.%d", r.Question[0].Name, i/250, i%250))
			m.Answer = append(m.Answer, rr)
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			size := dns.MinMsgSize
			if opt := r.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size) // as a real server does
		}
		w.WriteMsg(m)
	}), Net: "udp"}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	tsrv := &dns.Server{Listener: ln, Handler: srv.Handler}
	go srv.ActivateAndServe()
	go tsrv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown(); tsrv.Shutdown() })
	fs := forwarderFor(t, pc.LocalAddr().(*net.UDPAddr).AddrPort(), netip.MustParsePrefix("127.0.0.1/32"))
	for _, c := range []struct {
		name    string
		net     string
		edns    uint16
		maxSize int
		whole   bool
	}{{"UDP without EDNS", "udp", 0, 512, false}, {"UDP offering 65000", "udp", 65000, 4096, false}, {"TCP", "tcp", 0, 65535, true}} {
		m := new(dns.Msg)
		m.SetQuestion("big.corp.internal.", dns.TypeA)
		if c.edns > 0 {
			m.SetEdns0(c.edns, false)
		}
		fwd := fs.PacketConn.LocalAddr().String()
		if c.net == "tcp" {
			fwd = tcpOf[fs]
		}
		cl := &dns.Client{Net: c.net, UDPSize: 65000}
		r, _, err := cl.Exchange(m, fwd)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r.Compress = true // as it came: the size on the wire
		b, _ := r.Pack()
		if len(b) > c.maxSize || r.Truncated == c.whole || (c.whole && len(r.Answer) != 300) {
			t.Errorf("%s: %d bytes, %d answers, truncated %v; want at most %d bytes, whole %v", c.name, len(b), len(r.Answer), r.Truncated, c.maxSize, c.whole)
		}
	}
}
