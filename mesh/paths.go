package mesh

import (
	"crypto/rand"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Paths (docs/ARCHITECTURE.md, Paths: hole punching and relays). A pair of
// gateways both behind NAT punches holes: each pings the other's endpoint
// candidates every second from the WireGuard socket, so each NAT opens the
// mapping the tunnel uses; a Pong coming back proves the direct path both
// ways. Without one for punchFor, the pair's tunnel goes through a relay; the
// pings go on, and the pair moves back to direct at the first Pong, without
// dropping the flow (WireGuard keeps its session when only the endpoint
// changes). A pair with a public side needs none of this: the NATed side
// dials and WireGuard follows its address.
const (
	pingEvery = time.Second
	punchFor  = 3 * time.Second // pings without a Pong before relaying
	directFor = 5 * time.Second // a direct path stands this long after its last Pong
	// publicPingTicks paces a NATed gateway's pings to public gateways:
	// their Pongs keep its reflexive address and NAT behaviour current.
	publicPingTicks = 5
)

// Path kinds, as status shows them.
const (
	PathDirect  = "direct"
	PathRelayed = "relayed"
)

// path is how the tunnel to one gateway goes.
type path struct {
	kind     string
	via      string         // the relay, when relayed
	endpoint netip.AddrPort // given to WireGuard; invalid: the peer's first candidate
	changed  time.Time
}

type pathState struct {
	first   time.Time // first ping
	pongs   map[netip.AddrPort]pongSeen
	cur     path
	overlay netip.Addr
	// pingedBack is when a Ping from this gateway was last answered with
	// one of ours (pingBack).
	pingedBack time.Time
}

// pongSeen is the last Pong from one address of a peer.
type pongSeen struct {
	at  time.Time
	rtt time.Duration
}

type pendingPing struct {
	peer string
	at   time.Time
}

// paths is the path state of the pairs this gateway punches for.
type paths struct {
	log *slog.Logger

	mu      sync.Mutex
	peers   map[string]*pathState // by gateway name; NATed pairs only
	pending map[[12]byte]pendingPing
	// byCandidate: the punched gateways by candidate address, as the last
	// round saw them, so that a Ping received is matched without a walk.
	byCandidate map[netip.AddrPort][]string
	ticks       int
}

func newPaths(log *slog.Logger) *paths {
	return &paths{log: log, peers: map[string]*pathState{}, pending: map[[12]byte]pendingPing{}, byCandidate: map[netip.AddrPort][]string{}}
}

// round is why a path round runs.
type round int

const (
	// roundTick: the clock's, every pingEvery: pings the punched pairs and
	// the public gateways.
	roundTick round = iota
	// roundKick: out of turn, because a record or this gateway's own
	// address changed: punches with what may be new candidates, but leaves
	// the public pings to the clock.
	roundKick
	// roundAnswer: out of turn, because a Pong came for a pair without a
	// direct path: decides with it at once rather than at the next tick,
	// and sends nothing.
	roundAnswer
)

// pathInput is what one round of path decisions looks at.
type pathInput struct {
	now      time.Time
	public   bool // this gateway has a public endpoint
	nodes    []*discovery.Node
	observed map[string]netip.AddrPort // where admission heard from each gateway
	down     map[string]bool           // by health probes
	round    round
}

// ping is one Ping to send.
type ping struct {
	to  netip.AddrPort
	msg []byte
}

// step sends the round's pings (returned) and decides every NATed pair's
// path; changed says whether any path changed.
func (ps *paths) step(in pathInput) (pings []ping, changed bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if in.round == roundTick {
		ps.ticks++
	}
	observers := publicObservers(in.nodes)
	for nonce, p := range ps.pending {
		if in.now.Sub(p.at) > directFor {
			delete(ps.pending, nonce)
		}
	}
	live := map[string]bool{}
	clear(ps.byCandidate)
	for _, n := range in.nodes {
		live[n.Name] = true
		punch := !in.public && n.NAT != discovery.NATPublic
		if !punch {
			// Two public gateways are asked every second where they see
			// this one, so that a changed NAT shows within a second; the
			// others now and then.
			if !in.public && in.round == roundTick && (slices.Contains(observers, n.Name) || ps.ticks%publicPingTicks == 1) {
				pings = append(pings, ps.pings(n, n.Endpoints, in.now)...)
			}
			continue
		}
		st := ps.peers[n.Name]
		if st == nil {
			st = &pathState{first: in.now, pongs: map[netip.AddrPort]pongSeen{}, cur: path{kind: PathDirect, changed: in.now}}
			ps.peers[n.Name] = st
		}
		st.overlay = n.Overlay
		cands := candidates(n, in.observed)
		for _, a := range cands {
			ps.byCandidate[a] = append(ps.byCandidate[a], n.Name)
		}
		if in.round != roundAnswer {
			pings = append(pings, ps.pings(n, cands, in.now)...)
		}
		want := decide(st, n, relayFor(n, in.nodes, in.down), in.now)
		if want.kind != st.cur.kind || want.via != st.cur.via || want.endpoint != st.cur.endpoint {
			want.changed = in.now
			ps.log.Info("path", "gateway", n.Name, "path", want.kind, "via", want.via, "endpoint", want.endpoint)
			st.cur, changed = want, true
		}
	}
	for name := range ps.peers {
		if !live[name] {
			delete(ps.peers, name)
		}
	}
	return pings, changed
}

// decide picks a NATed pair's path: direct while Pongs come — to the
// address in use while it answers, else to the one that answers fastest
// (a shared LAN before the way round through the NAT) — else through the
// relay once punching has had its time, else what it was.
func decide(st *pathState, n *discovery.Node, relay *discovery.Node, now time.Time) path {
	var best netip.AddrPort
	for a, p := range st.pongs {
		switch {
		case now.Sub(p.at) >= directFor:
			delete(st.pongs, a)
		case !best.IsValid() || p.rtt < st.pongs[best].rtt || p.rtt == st.pongs[best].rtt && a.Compare(best) < 0:
			best = a
		}
	}
	if _, ok := st.pongs[st.cur.endpoint]; ok && st.cur.kind == PathDirect {
		best = st.cur.endpoint
	}
	switch {
	case best.IsValid():
		return path{kind: PathDirect, endpoint: best}
	case relay != nil && now.Sub(st.first) >= punchFor:
		if ep, err := tunnel.RelayEndpoint(relayAddr(relay), n.Overlay); err == nil {
			return path{kind: PathRelayed, via: relay.Name, endpoint: ep}
		}
	case st.cur.kind == PathRelayed:
		// The relay is gone and there is no other: try direct again.
		return path{kind: PathDirect}
	}
	return st.cur
}

// relayFor is the relay for a pair with n: of the live public gateways
// that relay over IPv4, the first by name, the same on both sides of the
// pair.
func relayFor(n *discovery.Node, nodes []*discovery.Node, down map[string]bool) *discovery.Node {
	var best *discovery.Node
	for _, r := range nodes {
		if !r.Relay || r.NAT != discovery.NATPublic || !relayAddr(r).IsValid() || down[r.Name] || r.Name == n.Name {
			continue
		}
		if best == nil || r.Name < best.Name {
			best = r
		}
	}
	return best
}

// observersWanted is how many public gateways a NATed gateway asks every
// second: two tell its NAT's behaviour.
const observersWanted = 2

// publicObservers are the public gateways asked every second: the first
// by name.
func publicObservers(nodes []*discovery.Node) []string {
	var out []string
	for _, n := range nodes {
		if n.NAT == discovery.NATPublic && len(n.Endpoints) > 0 {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), observersWanted)]
}

// relayAddr is where a relay takes relayed packets: its first IPv4
// endpoint. Relaying works over IPv4 only (`vpcmesh check` refuses a relay
// with an IPv6 public endpoint); a relay without one is not used.
func relayAddr(r *discovery.Node) netip.AddrPort {
	for _, ep := range r.Endpoints {
		if ep.Addr().Unmap().Is4() {
			return netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
		}
	}
	return netip.AddrPort{}
}

// relaySources are the relays this gateway may get relayed packets from,
// and the gateways that may be behind them: a relayed packet from anywhere
// else is dropped before the bind keeps anything for it.
func relaySources(nodes []*discovery.Node) (relays []netip.AddrPort, peers []netip.Addr) {
	for _, n := range nodes {
		peers = append(peers, n.Overlay)
		if a := relayAddr(n); n.Relay && a.IsValid() {
			relays = append(relays, a)
		}
	}
	return relays, peers
}

// candidates are the addresses a gateway may be reached at directly.
func candidates(n *discovery.Node, observed map[string]netip.AddrPort) []netip.AddrPort {
	out := slices.Concat(n.Endpoints, n.Local)
	if a, ok := observed[n.Name]; ok && a.IsValid() {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out)
}

func (ps *paths) pings(n *discovery.Node, to []netip.AddrPort, now time.Time) []ping {
	var out []ping
	for _, a := range to {
		out = append(out, ps.ping(n.Name, n.Overlay, a, now))
	}
	return out
}

// ping makes one Ping to the gateway name at addr. Called with ps.mu held.
func (ps *paths) ping(name string, overlay netip.Addr, addr netip.AddrPort, now time.Time) ping {
	p := discovery.Probe{Type: discovery.MsgPing, To: overlay}
	rand.Read(p.Nonce[:])
	ps.pending[p.Nonce] = pendingPing{peer: name, at: now}
	return ping{addr, p.Encode()}
}

// pingBack answers a Ping received from addr with one of ours, at once,
// when addr is a candidate of a punched gateway that has not answered us
// there. Such a Ping says that gateway's NAT has just opened its side of
// the hole towards us: our next round's Ping, up to a second away, would
// get through now, and its Pong is what makes the path direct on this
// side. At most one per gateway per kickGap, and none for a Ping from
// anywhere else, so a flood of Pings makes no flood of ours.
func (ps *paths) pingBack(addr netip.AddrPort, now time.Time) []ping {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []ping
	for _, name := range ps.byCandidate[addr] {
		st := ps.peers[name]
		if st == nil || now.Sub(st.pingedBack) < kickGap {
			continue
		}
		if p, ok := st.pongs[addr]; ok && now.Sub(p.at) < directFor {
			continue // the path there works: its own rounds keep it
		}
		st.pingedBack = now
		out = append(out, ps.ping(name, st.overlay, addr, now))
	}
	return out
}

// undecided says whether a punched gateway's path is not direct at an
// address that answers: a Pong from it may change the path.
func (ps *paths) undecided(name string, now time.Time) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	st := ps.peers[name]
	if st == nil {
		return false
	}
	p, ok := st.pongs[st.cur.endpoint]
	return st.cur.kind != PathDirect || !ok || now.Sub(p.at) >= directFor
}

// pong notes a Pong from addr and returns the gateway that sent it ("" for
// none pinged).
func (ps *paths) pong(p discovery.Probe, from netip.AddrPort, now time.Time) string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, ok := ps.pending[p.Nonce]
	if !ok {
		return ""
	}
	delete(ps.pending, p.Nonce)
	if st := ps.peers[pp.peer]; st != nil {
		st.pongs[from] = pongSeen{at: now, rtt: now.Sub(pp.at)}
	}
	return pp.peer
}

// endpoints are the endpoints the paths chose, by gateway, for the
// reconciler.
func (ps *paths) endpoints() map[string]netip.AddrPort {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := map[string]netip.AddrPort{}
	for name, st := range ps.peers {
		if st.cur.endpoint.IsValid() {
			out[name] = st.cur.endpoint
		}
	}
	return out
}

// changedAt is when the path to a gateway last changed; zero for a pair
// that never punched.
func (ps *paths) changedAt(name string) time.Time {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if st := ps.peers[name]; st != nil {
		return st.cur.changed
	}
	return time.Time{}
}

// localCandidates are this gateway's own IPv4 addresses with its
// WireGuard port, but for loopback, link-local and the tunnel's own.
func localCandidates(tun string, port int) []netip.AddrPort {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.AddrPort
	for _, ifc := range ifs {
		if ifc.Name == tun || ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if ip = ip.Unmap(); ok && ip.Is4() && !ip.IsLinkLocalUnicast() {
				out = append(out, netip.AddrPortFrom(ip, uint16(port)))
			}
		}
	}
	return out
}

// pathLoop runs the path rounds until the gateway closes: every pingEvery,
// and out of turn on the events that move a path on, so that a chain of
// them (an address changes, the record goes round, each side punches) is
// not a chain of waits for the clock: a changed record punches at once
// (roundKick); a Ping from a punched gateway is answered with one of ours
// (pingBack); a Pong for a pair without a direct path decides at once
// (roundAnswer). A relay also reads its peers' endpoints again, at most
// every relayRefresh, when a packet to relay comes from an address it does
// not know: a NATed peer's mapping moved, and waiting for the next round
// would cost its relayed flows up to a second.
func (g *Gateway) pathLoop() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	miss := make(chan struct{}, 1)
	g.dev.OnRelayMiss(func() {
		select {
		case miss <- struct{}{}:
		default:
		}
	})
	var refreshed, summarised, kicked time.Time
	undecided := false
	last := refusals{}
	// A kick out of turn waits for kickGap since the last one.
	later := time.NewTimer(time.Hour)
	later.Stop()
	for {
		select {
		case <-g.bg.Done():
			return
		case p := <-g.members.pongs:
			g.tookPong(p)
			// The Pongs of one round come together: one decision
			// after the last of them.
			undecided = undecided || g.paths.undecided(p.peer, time.Now())
			if undecided && len(g.members.pongs) == 0 {
				undecided = false
				g.pathRound(time.Now(), roundAnswer)
			}
		case from := <-g.members.pinged:
			g.sendPings(g.paths.pingBack(from, time.Now()))
		case now := <-t.C:
			g.pathRound(now, roundTick)
			if now.Sub(summarised) >= refusalsEvery {
				summarised, last = now, g.logRefusals(last)
			}
		case <-g.members.punch:
			if wait := kickGap - time.Since(kicked); wait > 0 {
				later.Reset(wait)
				continue
			}
			kicked = time.Now()
			g.pathRound(kicked, roundKick)
		case now := <-later.C:
			kicked = now
			g.pathRound(now, roundKick)
		case <-miss:
			if time.Since(refreshed) >= relayRefresh && g.config().Node.Relay {
				refreshed = time.Now()
				g.updateRelay(g.members.gossip.Nodes())
			}
		}
	}
}

// relayRefresh bounds how often a relay reads its peers' endpoints again
// on a miss; kickGap how often records that change punch out of turn, and
// how often one gateway's Pings are answered with ours (pingBack).
const (
	relayRefresh = 50 * time.Millisecond
	kickGap      = 250 * time.Millisecond
)

func (g *Gateway) pathRound(now time.Time, r round) {
	m := g.members
	in := pathInput{now: now, public: m.public, nodes: m.gossip.Nodes(), observed: map[string]netip.AddrPort{}, down: g.health.down(),
		round: r}
	m.mu.Lock()
	for name, a := range m.admitted {
		in.observed[name] = a.from
	}
	m.mu.Unlock()
	g.forgetObservations(now)
	g.dev.SetRelaySources(relaySources(in.nodes))
	pings, changed := g.paths.step(in)
	g.sendPings(pings)
	if changed {
		m.reconcile() // not a punch: this round just did
	}
	// One read of the device serves both.
	relay := g.config().Node.Relay
	chosen := g.paths.endpoints()
	g.dev.SetDirectPaths(directPaths(chosen, in.nodes))
	if len(chosen) == 0 && !relay {
		return
	}
	peers, names, err := g.peerStates()
	if err != nil {
		return
	}
	g.holdPaths(chosen, peers, names)
	if relay {
		g.setRelay(in.nodes, peers, names)
	}
}

func (g *Gateway) sendPings(pings []ping) {
	for _, p := range pings {
		if err := g.dev.SendControl(p.to, p.msg); err != nil {
			g.log.Debug("ping not sent", "to", p.to, "err", err)
		}
	}
}

// directPaths are the chosen endpoints that go direct, by overlay address:
// the device keeps WireGuard on them (tunnel.Device.SetDirectPaths).
func directPaths(chosen map[string]netip.AddrPort, nodes []*discovery.Node) map[netip.Addr]netip.AddrPort {
	out := map[netip.Addr]netip.AddrPort{}
	for _, n := range nodes {
		ep, ok := chosen[n.Name]
		if _, _, relayed := tunnel.ParseRelayEndpoint(ep); ok && !relayed {
			out[n.Overlay] = ep
		}
	}
	return out
}

// peerStates reads the device's peers, with the gateway each key is.
func (g *Gateway) peerStates() ([]tunnel.PeerStatus, map[tunnel.Key]string, error) {
	peers, err := g.dev.Status()
	if err != nil {
		return nil, nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return peers, g.desired.Names, nil
}

// holdPaths puts back the chosen endpoint of every punched pair where
// WireGuard roamed away from it. When a pair changes path, each side
// still gets a few packets the old way and roams back to it; the two can
// then keep each other there indefinitely. (From a direct path to a relay
// the device no longer roams at all: SetDirectPaths.)
func (g *Gateway) holdPaths(chosen map[string]netip.AddrPort, peers []tunnel.PeerStatus, names map[tunnel.Key]string) {
	for _, p := range peers {
		if ep, ok := chosen[names[p.PublicKey]]; ok && p.Endpoint != ep {
			if err := g.dev.SetEndpoint(p.PublicKey, ep); err != nil {
				g.log.Debug("endpoint not held", "gateway", names[p.PublicKey], "err", err)
				continue
			}
			// No session yet: WireGuard would try the new endpoint only
			// at its next handshake retry, up to 5 s away; start one now.
			if p.LastHandshake.IsZero() || time.Since(p.LastHandshake) > staleHandshake {
				if err := g.dev.Rehandshake(p.PublicKey, time.Now()); err != nil {
					g.log.Debug("handshake restart", "gateway", names[p.PublicKey], "err", err)
				}
			}
		}
	}
}

// updateRelay gives the relay its peers' current endpoints, as WireGuard
// has learned them: a NATed gateway's mapping may move at any time.
func (g *Gateway) updateRelay(nodes []*discovery.Node) {
	if peers, names, err := g.peerStates(); err == nil {
		g.setRelay(nodes, peers, names)
	}
}

func (g *Gateway) setRelay(nodes []*discovery.Node, peers []tunnel.PeerStatus, names map[tunnel.Key]string) {
	overlay := map[string]netip.Addr{}
	for _, n := range nodes {
		overlay[n.Name] = n.Overlay
	}
	table := tunnel.RelayPeers{}
	for _, p := range peers {
		if a, ok := overlay[names[p.PublicKey]]; ok && p.Endpoint.IsValid() {
			table[a] = p.Endpoint
		}
	}
	if err := g.dev.SetRelayPeers(table); err != nil {
		g.log.Warn("relay table", "err", err)
	}
}

// pathOf describes a peer's path for status from its live endpoint.
func (g *Gateway) pathOf(ps *PeerStatus, ep netip.AddrPort, nodes []*discovery.Node) {
	ps.Path = PathDirect
	relay, _, ok := tunnel.ParseRelayEndpoint(ep)
	if ok {
		ps.Path, ps.Endpoint = PathRelayed, relay.String()
		for _, n := range nodes {
			if slices.Contains(n.Endpoints, relay) {
				ps.Via = n.Name
			}
		}
		if ps.Via == "" {
			ps.Via = relay.String()
		}
	}
	if g.paths != nil {
		if t := g.paths.changedAt(ps.Name); !t.IsZero() {
			ps.PathChanged = &t
		}
	}
}
