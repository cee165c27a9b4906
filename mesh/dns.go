package mesh

// Names for members (docs/guides/names.md). A gateway with dns.listen
// answers its members' questions: a name in one of their projects' zones is
// asked, through the tunnel, of the gateway that carries the export, which
// asks its site's resolver; the answer comes back rewritten into the wire
// prefix (mesh/names). Other names go to dns.upstream or are refused, and
// so is anybody who is no member. A gateway whose exports have dns_zones
// answers such questions on its overlay address, port 53, bound to the
// tunnel: only gateways of the export's project get an answer.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/mesh/names"
)

// Bounds of the DNS servers: questions in flight (beyond them, refused at
// once rather than queued) and the wait for an answer.
const (
	dnsInFlight = 256
	dnsTimeout  = 2 * time.Second
	// dnsSiteUDP is the UDP size gateways ask each other with: an answer
	// that does not fit comes over TCP.
	dnsSiteUDP = 4096
)

// DNSStatus is what status shows of the names.
type DNSStatus struct {
	Listen         []string `json:"listen,omitempty"` // where members ask
	Queries        uint64   `json:"queries"`          // from members
	Rewritten      uint64   `json:"rewritten"`        // A records rewritten into wire prefixes
	Refused        uint64   `json:"refused"`          // non-members, names of no project with no upstream, questions over the bound
	UpstreamErrors uint64   `json:"upstream_errors"`  // answered SERVFAIL: the site, its gateway or the upstream did not answer
	Malformed      uint64   `json:"malformed"`        // answered FORMERR
	CacheHits      uint64   `json:"cache_hits"`
	CacheEntries   int      `json:"cache_entries"`
	SiteQueries    uint64   `json:"site_queries"` // asked of this gateway's sites for other gateways
	Zones          []string `json:"zones,omitempty"`
	Conflicts      []string `json:"conflicts,omitempty"`
}

// namesState is what the servers answer from, replaced whole at each sync.
type namesState struct {
	table     *names.Table
	zones     []string // for status: "zone (project via gateway)"
	conflicts []string
	members   []memberSource
	upstream  []string
	peers     map[netip.Addr][]string // a gateway's overlay address → the projects it takes part in
	local     []localZones
}

// memberSource is a source that may ask: a member, or a host of an export.
type memberSource struct {
	src         netip.Prefix
	project     string
	transparent bool
}

// localZones are the zones of one of this gateway's exports.
type localZones struct {
	project  string
	real     netip.Prefix
	zones    []string // fully qualified, lowercase
	resolver string
}

type dnsServers struct {
	log      *slog.Logger
	overlay  netip.Addr
	servers  []*dns.Server
	inFlight chan struct{}
	state    atomic.Pointer[namesState]
	cache    *names.Cache // safe for concurrent use

	queries, rewritten, refused, upstreamErrs, malformed, hits, siteQueries atomic.Uint64
}

// startDNS starts the member servers on cfg.DNS.Listen and the site server
// on the overlay address (bound to the tunnel device dev). Nothing starts
// when neither is configured.
func startDNS(cfg *configs.Config, dev string, log *slog.Logger) (*dnsServers, error) {
	site := len(zonesOf(cfg)) > 0
	if len(cfg.DNS.Listen) == 0 && !site {
		return nil, nil
	}
	s := &dnsServers{log: log, overlay: cfg.Node.OverlayAddress, inFlight: make(chan struct{}, dnsInFlight),
		cache: names.NewCache(cfg.DNS.CacheEntries)}
	s.state.Store(&namesState{table: mustTable(nil)})
	for _, l := range cfg.DNS.Listen {
		if err := s.serve(l, nil, dns.HandlerFunc(s.serveMember)); err != nil {
			s.stop()
			return nil, fmt.Errorf("dns.listen %s: %w", l, err)
		}
	}
	if site {
		addr := netip.AddrPortFrom(cfg.Node.OverlayAddress, 53).String()
		if err := s.serve(addr, discovery.BindToDevice(dev), dns.HandlerFunc(s.serveSite)); err != nil {
			s.stop()
			return nil, fmt.Errorf("DNS for other gateways on %s: %w", addr, err)
		}
	}
	return s, nil
}

func mustTable(exports []names.Export) *names.Table {
	t, _ := names.NewTable(exports)
	return t
}

// serve listens on addr over UDP and TCP; control, when set, binds the
// sockets (to the tunnel device).
func (s *dnsServers) serve(addr string, control func(string, string, syscall.RawConn) error, h dns.Handler) error {
	lc := net.ListenConfig{Control: control}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return err
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		pc.Close()
		return err
	}
	accept := func(dh dns.Header) dns.MsgAcceptAction {
		a := dns.DefaultMsgAcceptFunc(dh)
		if a != dns.MsgAccept {
			s.malformed.Add(1)
		}
		return a
	}
	// Short and unparsable messages are dropped: any reply could amplify.
	invalid := func([]byte, error) { s.malformed.Add(1) }
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: h, MsgAcceptFunc: accept, MsgInvalidFunc: invalid},
		{Listener: ln, Handler: h, MsgAcceptFunc: accept, MsgInvalidFunc: invalid, ReadTimeout: dnsTimeout, WriteTimeout: dnsTimeout,
			IdleTimeout: func() time.Duration { return dnsTimeout }},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("DNS server stopped", "addr", addr, "err", err)
			}
		}()
		<-started
		s.servers = append(s.servers, srv)
	}
	s.log.Info("DNS listening", "addr", addr, "for", map[bool]string{true: "other gateways", false: "members"}[control != nil])
	return nil
}

func (s *dnsServers) stop() {
	if s == nil {
		return
	}
	for _, srv := range s.servers {
		srv.Shutdown()
	}
}

// set makes st what the servers answer from.
func (s *dnsServers) set(st *namesState) { s.state.Store(st) }

// serveMember answers a member.
func (s *dnsServers) serveMember(w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)
	st := s.state.Load()
	asker, ok := st.asker(addrOf(w.RemoteAddr()))
	switch {
	case !ok:
		s.reply(w, r, dns.RcodeRefused)
		return
	case len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery:
		s.reply(w, r, dns.RcodeFormatError)
		return
	}
	if !s.admit() {
		s.reply(w, r, dns.RcodeRefused)
		return
	}
	defer s.leave()
	q := r.Question[0]
	var resp *dns.Msg
	var err error
	if route, ok := st.table.Route(asker, q); ok {
		if resp, err = s.ask(route.Export.Server.String(), route.Ask, true); err == nil {
			s.rewritten.Add(uint64(names.Answer(resp, q, route)))
		}
	} else if len(st.upstream) > 0 {
		for _, u := range st.upstream {
			if resp, err = s.ask(u, q, false); err == nil {
				break
			}
		}
	} else {
		s.reply(w, r, dns.RcodeRefused)
		return
	}
	if err != nil {
		s.upstreamErrs.Add(1)
		s.log.Debug("DNS question not answered", "name", q.Name, "err", err)
		s.reply(w, r, dns.RcodeServerFailure)
		return
	}
	s.write(w, r, resp)
}

// admit takes a place among the questions in flight: false when all are
// taken, and the question is refused at once rather than queued.
func (s *dnsServers) admit() bool {
	select {
	case s.inFlight <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *dnsServers) leave() { <-s.inFlight }

// serveSite answers another gateway from this gateway's sites.
func (s *dnsServers) serveSite(w dns.ResponseWriter, r *dns.Msg) {
	st := s.state.Load()
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		s.reply(w, r, dns.RcodeFormatError)
		return
	}
	lz, ok := st.localFor(r.Question[0], st.peers[addrOf(w.RemoteAddr())])
	if !ok {
		s.reply(w, r, dns.RcodeRefused)
		return
	}
	if !s.admit() {
		s.reply(w, r, dns.RcodeRefused)
		return
	}
	defer s.leave()
	s.siteQueries.Add(1)
	resp, err := s.exchange(lz.resolver, r.Question[0], false)
	if err != nil {
		s.log.Debug("site resolver did not answer", "resolver", lz.resolver, "err", err)
		s.reply(w, r, dns.RcodeServerFailure)
		return
	}
	s.write(w, r, resp)
}

// ask answers q from the cache, else from server (through the tunnel when
// overlay), caching the answer.
func (s *dnsServers) ask(server string, q dns.Question, overlay bool) (*dns.Msg, error) {
	ap, _ := netip.ParseAddrPort(server)
	key := names.KeyFor(ap, q)
	m := s.cache.Get(key, time.Now())
	if m != nil {
		s.hits.Add(1)
		return m, nil
	}
	m, err := s.exchange(server, q, overlay)
	if err != nil {
		return nil, err
	}
	s.cache.Put(key, m, time.Now())
	return m, nil
}

// exchange asks server q over UDP, and over TCP when the answer was
// truncated; through the tunnel, from the overlay address, when overlay.
func (s *dnsServers) exchange(server string, q dns.Question, overlay bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.Id = dns.Id()
	m.RecursionDesired = true
	m.Question = []dns.Question{q}
	m.SetEdns0(dnsSiteUDP, false)
	var resp *dns.Msg
	var err error
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: dnsTimeout, UDPSize: dnsSiteUDP}
		if overlay {
			c.Dialer = &net.Dialer{LocalAddr: localAddr(network, s.overlay)}
		}
		resp, _, err = c.Exchange(m, server)
		var ne net.Error
		if err == nil && !resp.Truncated || errors.As(err, &ne) && ne.Timeout() {
			break // answered, or nobody there: no point asking over TCP
		}
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, q.Name) || resp.Question[0].Qtype != q.Qtype {
		return nil, fmt.Errorf("%s answered another question", server)
	}
	return resp, nil
}

func localAddr(network string, a netip.Addr) net.Addr {
	if network == "tcp" {
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
}

// write sends resp as the answer to r: r's ID, our own EDNS, and over UDP
// no larger than r allows, 4096 at most (truncated, so that the asker
// retries over TCP).
func (s *dnsServers) write(w dns.ResponseWriter, r, resp *dns.Msg) {
	resp.Id, resp.Response, resp.Opcode = r.Id, true, r.Opcode
	resp.RecursionDesired, resp.RecursionAvailable = r.RecursionDesired, true
	resp.Extra = slices.DeleteFunc(resp.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		resp.SetEdns0(dnsSiteUDP, opt.Do())
		// At most 4096 whatever it offers: a spoofed member source
		// must not draw large answers over UDP.
		size = min(max(dns.MinMsgSize, int(opt.UDPSize())), dnsSiteUDP)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		resp.Truncate(size)
	}
	w.WriteMsg(resp)
}

func (s *dnsServers) reply(w dns.ResponseWriter, r *dns.Msg, rcode int) {
	switch rcode {
	case dns.RcodeRefused:
		s.refused.Add(1)
	case dns.RcodeFormatError:
		s.malformed.Add(1)
	}
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	w.WriteMsg(m)
}

func (s *dnsServers) status(cfg *configs.Config) *DNSStatus {
	if s == nil {
		return nil
	}
	st := s.state.Load()
	n := s.cache.Len()
	return &DNSStatus{Listen: cfg.DNS.Listen, Queries: s.queries.Load(), Rewritten: s.rewritten.Load(), Refused: s.refused.Load(),
		UpstreamErrors: s.upstreamErrs.Load(), Malformed: s.malformed.Load(), CacheHits: s.hits.Load(), CacheEntries: n,
		SiteQueries: s.siteQueries.Load(), Zones: st.zones, Conflicts: st.conflicts}
}

// asker is who src is: the projects it may ask in.
func (st *namesState) asker(src netip.Addr) (names.Asker, bool) {
	var a names.Asker
	transparent := map[string]bool{}
	for _, m := range st.members {
		if m.src.Contains(src) {
			if !slices.Contains(a.Projects, m.project) {
				a.Projects = append(a.Projects, m.project)
			}
			transparent[m.project] = transparent[m.project] || m.transparent
		}
	}
	// Transparent mode holds for a member of one project alone.
	if len(a.Projects) == 1 && transparent[a.Projects[0]] {
		a.Transparent = a.Projects
	}
	return a, len(a.Projects) > 0
}

// localFor finds the export of this gateway that answers q for a gateway
// in projects: q under one of its zones, or a PTR in its real network.
func (st *namesState) localFor(q dns.Question, projects []string) (localZones, bool) {
	name := strings.ToLower(dns.Fqdn(q.Name))
	for _, lz := range st.local {
		if !slices.Contains(projects, lz.project) {
			continue
		}
		for _, z := range lz.zones {
			if dns.IsSubDomain(z, name) {
				return lz, true
			}
		}
		if a, ok := reverseAddr(name); ok && q.Qtype == dns.TypePTR && lz.real.Contains(a) {
			return lz, true
		}
	}
	return localZones{}, false
}

// reverseAddr is the IPv4 address of a full in-addr.arpa name.
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	l := strings.Split(rest, ".")
	if len(l) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
	return a, err == nil && a.Is4()
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// namesFrom computes what the DNS servers answer from: the exports with
// zones that this gateway routes to (the carrier of each, for an HA site),
// its member sources, the projects of every other gateway, and its own
// exports' zones.
func namesFrom(cfg *configs.Config, v View, d Desired) *namesState {
	st := &namesState{upstream: withPort53(cfg.DNS.Upstream), peers: map[netip.Addr][]string{}}
	carried := map[string][]netip.Prefix{} // gateway → the prefixes it carries here
	for _, p := range d.Peers {
		carried[d.Names[p.PublicKey]] = p.AllowedIPs
	}
	var exports []names.Export
	for _, n := range v.Nodes {
		st.peers[n.Overlay] = nodeProjects(n)
		for _, z := range n.Zones {
			if !slices.Contains(carried[n.Name], z.Wire) {
				continue // an HA standby's, or refused
			}
			real, ok := certifiedReal(n, z)
			if !ok {
				continue
			}
			exports = append(exports, names.Export{Gateway: n.Name, Server: netip.AddrPortFrom(n.Overlay, 53),
				Project: z.Project, Real: real, Wire: z.Wire, Zones: z.Names})
			for _, zone := range z.Names {
				st.zones = append(st.zones, fmt.Sprintf("%s (%s via %s)", dns.Fqdn(strings.ToLower(zone)), z.Project, n.Name))
			}
		}
	}
	st.table, st.conflicts = names.NewTable(exports)
	slices.Sort(st.zones)
	for _, s := range cfg.Sites {
		for _, m := range s.Members {
			for _, src := range m.Sources {
				st.members = append(st.members, memberSource{src, m.Project, m.Transparent})
			}
		}
		for _, e := range s.Exports {
			st.members = append(st.members, memberSource{src: e.CIDR, project: e.Project})
			if len(e.DNSZones) > 0 {
				lz := localZones{project: e.Project, real: e.CIDR, resolver: cfg.SiteResolver(s)}
				for _, z := range e.DNSZones {
					lz.zones = append(lz.zones, dns.Fqdn(strings.ToLower(z)))
				}
				st.local = append(st.local, lz)
			}
		}
	}
	return st
}

// nodeProjects are the projects a gateway takes part in: those its sites
// export to or have members in, by its certificate.
func nodeProjects(n *discovery.Node) []string {
	var out []string
	for _, s := range n.Sites {
		for _, e := range s.Exports {
			out = append(out, e.Project)
		}
		out = append(out, s.Members...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// certifiedReal is the real network of the export z names, by n's
// certificate.
func certifiedReal(n *discovery.Node, z discovery.Zones) (netip.Prefix, bool) {
	for _, s := range n.Sites {
		for _, e := range s.Exports {
			if s.Name == z.Site && e.Project == z.Project && e.Wire == z.Wire {
				return e.CIDR, true
			}
		}
	}
	return netip.Prefix{}, false
}

// withPort53 gives every resolver address a port.
func withPort53(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			a = netip.AddrPortFrom(ip, 53).String()
		}
		out = append(out, a)
	}
	return out
}
