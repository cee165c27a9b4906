package mesh

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Gossip mode (mesh.root_file set): admission on the WireGuard port, then
// memberlist through the tunnels (docs/ARCHITECTURE.md, A membership event's
// way). The Run loop owns admission; memberlist's goroutines only signal
// changes.

const (
	// rejoinEvery is how often unreachable join targets and known peers
	// are contacted again: the bound on healing after a partition.
	rejoinEvery = 2 * time.Second
	// rejoinAlone is the faster pace while no other gateway is live: a
	// join target started a moment later is found at once.
	rejoinAlone = 500 * time.Millisecond
	// admittedFor is how long a gateway admitted by a control packet counts
	// as a member before gossip confirms it.
	admittedFor = 30 * time.Second
	// staleHandshake is WireGuard's reject-after-time: a session older than
	// this carries nothing.
	staleHandshake = 180 * time.Second
	knownPeersFile = "known-peers.json"
)

// membership is the gateway's gossip side.
type membership struct {
	id      *discovery.Identity
	root    cert.Root
	gossip  *discovery.Gossip
	gate    *discovery.Gate     // screens control packets before any work
	control chan controlPacket  // admission messages that passed the gate
	pongs   chan pongIn         // Pongs that answered a Ping of ours
	changes chan struct{}       // from memberlist's goroutines
	punch   chan struct{}       // a record or this gateway's own address changed: punch now
	pinged  chan netip.AddrPort // where Pings we answered came from, for pingBack

	lastRejoin     time.Time // Run loop only
	lastRefusalLog time.Time // Run loop only

	mu        sync.Mutex
	admitted  map[string]admitted          // by node name
	reflexive netip.AddrPort               // this gateway as others see it
	observed  map[string]observation       // by the public gateway that saw it: NAT behaviour
	public    bool                         // node.public_endpoint is set
	joinSent  map[netip.AddrPort]time.Time // when the last Join to each target went out
	joining   map[string]bool              // gateways a memberlist join is under way to
}

// joinOnce runs join for gateway name in its own goroutine unless one is
// still under way: a restarted gateway's Join reaches each member by every
// endpoint, and each Welcome would otherwise start the same memberlist
// join (a TCP push/pull through the tunnel) again. It reports whether it
// started one.
func (m *membership) joinOnce(name string, join func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.joining[name] {
		return false
	}
	m.joining[name] = true
	go func() {
		join()
		m.mu.Lock()
		delete(m.joining, name)
		m.mu.Unlock()
	}()
	return true
}

// signal asks the Run loop to reconcile, and the path loop to punch with
// what may be new candidates; it never blocks.
func (m *membership) signal() {
	m.reconcile()
	m.punchNow()
}

// reconcile asks the Run loop alone to reconcile.
func (m *membership) reconcile() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// punchNow asks the path loop for a round at once.
func (m *membership) punchNow() {
	select {
	case m.punch <- struct{}{}:
	default:
	}
}

// pingedBy hands the path loop the source of a Ping just answered, for a
// Ping back (paths.pingBack); it never blocks. A public gateway punches
// for nobody.
func (m *membership) pingedBy(from netip.AddrPort) {
	if m.public {
		return
	}
	select {
	case m.pinged <- from:
	default: // a flood: the next round pings anyway
	}
}

// observation is where a public gateway last saw this one.
type observation struct {
	addr netip.AddrPort
	at   time.Time
}

// observedFor is how long an observation counts: a NATed gateway pings
// the public ones every publicPingTicks seconds, so a live observer renews
// it several times over; a stopped one's view, and the NAT mapping it
// saw, go.
const observedFor = 4 * publicPingTicks * pingEvery

type controlPacket struct {
	pkt  []byte
	from netip.AddrPort
}

type admitted struct {
	node      *discovery.Node
	from      netip.AddrPort
	at        time.Time
	confirmed bool // seen live in gossip since
}

// loadIdentity reads the certificate chain, signing key and mesh root, and
// checks that the certificate is this gateway's.
func loadIdentity(cfg *configs.Config, wgKey tunnel.Key) (*discovery.Identity, cert.Root, error) {
	rootKey, err := cert.ReadPublicKeyFile(cfg.Mesh.RootFile)
	if err != nil {
		return nil, cert.Root{}, fmt.Errorf("mesh.root_file: %w", err)
	}
	chain, err := cert.ReadChainFile(cfg.Node.CertificateFile)
	if err != nil {
		return nil, cert.Root{}, fmt.Errorf("node.certificate_file: %w", err)
	}
	key, err := cert.ReadPrivateKeyFile(cfg.Node.SigningKeyFile)
	if err != nil {
		return nil, cert.Root{}, fmt.Errorf("node.signing_key_file: %w", err)
	}
	root := cert.Root{Key: rootKey}
	leaf, err := root.Verify(chain, time.Now())
	if err != nil {
		return nil, root, fmt.Errorf("node.certificate_file %s: %w", cfg.Node.CertificateFile, err)
	}
	b := leaf.Body
	switch {
	case b.Mesh != cfg.Mesh.Name:
		return nil, root, fmt.Errorf("node.certificate_file %s is for mesh %q, not mesh.name %q", cfg.Node.CertificateFile, b.Mesh, cfg.Mesh.Name)
	case b.Name != cfg.Node.Name:
		return nil, root, fmt.Errorf("node.certificate_file %s is for %q, not node.name %q", cfg.Node.CertificateFile, b.Name, cfg.Node.Name)
	case b.Overlay != cfg.Node.OverlayAddress:
		return nil, root, fmt.Errorf("node.certificate_file %s binds overlay address %s, not node.overlay_address %s", cfg.Node.CertificateFile, b.Overlay, cfg.Node.OverlayAddress)
	case b.WireGuardKey != wgKey.String():
		return nil, root, fmt.Errorf("node.certificate_file %s binds another WireGuard key than node.private_key_file's", cfg.Node.CertificateFile)
	case !slices.Equal(b.SigningKey, key.Public().(ed25519.PublicKey)):
		return nil, root, fmt.Errorf("node.certificate_file %s binds another signing key than node.signing_key_file's", cfg.Node.CertificateFile)
	}
	if err := checkRevocationsFile(cfg, root); err != nil {
		return nil, root, err
	}
	if err := cfg.ResolveAuto(certifiedWire(leaf)); err != nil {
		return nil, root, err
	}
	return &discovery.Identity{Chain: chain, Key: key}, root, nil
}

// certifiedWire finds the wire prefix the certificate binds for an export.
func certifiedWire(leaf *cert.Cert) func(site, project string, cidr netip.Prefix) (netip.Prefix, bool) {
	return func(site, project string, cidr netip.Prefix) (netip.Prefix, bool) {
		for _, s := range leaf.Body.Sites {
			for _, e := range s.Exports {
				if s.Name == site && e.Project == project && e.CIDR == cidr {
					return e.Wire, true
				}
			}
		}
		return netip.Prefix{}, false
	}
}

// checkRevocationsFile verifies every list of mesh.revocations_file: one
// that does not verify stops a start or a reload before any change.
func checkRevocationsFile(cfg *configs.Config, root cert.Root) error {
	if cfg.Mesh.RevocationsFile == "" {
		return nil
	}
	lists, err := cert.ReadRevocationsFiles(cfg.Mesh.RevocationsFile)
	for i := 0; err == nil && i < len(lists); i++ {
		err = root.VerifyRevocations(lists[i], cfg.Mesh.Name)
	}
	if err != nil {
		return fmt.Errorf("mesh.revocations_file: %w", err)
	}
	return nil
}

// State files of gossip mode, in node.state_dir.
const (
	revocationsFile   = "revocations.pem"
	recordVersionFile = "record-version"
)

// loadRevocations hands gossip the revocation lists known here: those
// gossip brought before the last stop (state_dir/revocations.pem), then
// mesh.revocations_file. The saved file is only this gateway's memory: when
// it is broken, or holds a list that no longer verifies (an expired
// authority, a bad signature), it is set aside and its lists that verify
// are kept. Nothing in it stops the config's lists, which are all applied;
// one of those that does not verify is an error.
func (g *Gateway) loadRevocations(cfg *configs.Config) error {
	saved := filepath.Join(cfg.Node.StateDir, revocationsFile)
	lists, err := verifiedRevocations(saved, g.members.root, cfg.Mesh.Name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		configs.SetAsideStateFile(g.log, saved, err)
	}
	var errs []error
	if cfg.Mesh.RevocationsFile != "" {
		more, err := verifiedRevocations(cfg.Mesh.RevocationsFile, g.members.root, cfg.Mesh.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("mesh.revocations_file %s: %w", cfg.Mesh.RevocationsFile, err))
		}
		lists = append(lists, more...)
	}
	for _, r := range lists {
		if _, err := g.members.gossip.SetRevocations(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// verifiedRevocations reads a file of revocation lists and returns those
// that verify against root for mesh, and why any did not or the file did
// not read.
func verifiedRevocations(path string, root cert.Root, mesh string) ([]*cert.Revocations, error) {
	lists, err := cert.ReadRevocationsFiles(path)
	if err != nil {
		return nil, err
	}
	var ok []*cert.Revocations
	var errs []error
	for i, r := range lists {
		if err := root.VerifyRevocations(r, mesh); err != nil {
			errs = append(errs, fmt.Errorf("list %d: %w", i+1, err))
			continue
		}
		ok = append(ok, r)
	}
	return ok, errors.Join(errs...)
}

// keepRevocations saves the lists held when gossip took a newer one, so a
// restart keeps them.
func (g *Gateway) keepRevocations(r *cert.Revocations) {
	by := "the mesh root"
	if a, err := r.AuthorityCert(); err == nil && a != nil {
		by = "authority " + a.Body.Name
	}
	g.log.Info("revocation list taken", "by", by, "serial", r.Body.Serial, "revoked", len(r.Body.Revoked))
	if g.members == nil {
		return
	}
	path := filepath.Join(g.config().Node.StateDir, revocationsFile)
	if err := configs.WriteStateFile(path, cert.EncodeRevocationsPEM(g.members.gossip.Revocations())); err != nil {
		g.log.Warn("revocation list not saved", "err", err)
	}
}

// startGossip brings up admission and memberlist. Called once the device,
// the overlay address and the static state are up.
func (g *Gateway) startGossip(id *discovery.Identity, root cert.Root) error {
	var err error
	m := &membership{id: id, root: root, admitted: map[string]admitted{}, observed: map[string]observation{}, joinSent: map[netip.AddrPort]time.Time{},
		joining: map[string]bool{},
		public:  g.cfg.Node.PublicEndpoint != "",
		gate:    discovery.NewGate(discovery.GateConfig{Overlay: g.cfg.Node.OverlayAddress}),
		control: make(chan controlPacket, 64), pongs: make(chan pongIn, 64), changes: make(chan struct{}, 1),
		punch: make(chan struct{}, 1), pinged: make(chan netip.AddrPort, 16)}
	g.dev.HandleControl(&controlIn{g: g, m: m})
	m.gossip, err = discovery.StartGossip(discovery.GossipConfig{
		Identity:      id,
		Root:          root,
		Overlay:       g.cfg.Node.OverlayAddress,
		Interface:     g.dev.Name(),
		OnChange:      m.signal,
		OnRevocations: g.keepRevocations,
		Log:           g.log.With("subsystem", "gossip"),
		VersionFile:   filepath.Join(g.cfg.Node.StateDir, recordVersionFile),
	}, g.record(m, false))
	if err != nil {
		g.dev.HandleControl(nil)
		return err
	}
	g.members = m
	if g.cfg.Node.Relay && !relayAddr(&discovery.Node{Record: discovery.Record{Endpoints: g.endpoints(m)}}).IsValid() {
		g.log.Warn("node.relay is set but node.public_endpoint has no IPv4 address: relaying works over IPv4 only, so no gateway will relay through this one")
	}
	if err := g.loadRevocations(g.cfg); err != nil {
		g.log.Error("revocations", "err", err)
	}
	return nil
}

// endpoints are this gateway's candidates: the configured public endpoint,
// then the address others saw it at.
func (g *Gateway) endpoints(m *membership) []netip.AddrPort {
	var eps []netip.AddrPort
	if g.cfg.Node.PublicEndpoint != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if ep, err := g.resolve(ctx, g.cfg.Node.PublicEndpoint); err == nil {
			eps = append(eps, ep)
		}
	}
	m.mu.Lock()
	if r := m.reflexive; r.IsValid() && !slices.Contains(eps, r) {
		eps = append(eps, r)
	}
	m.mu.Unlock()
	return eps
}

// records are the member records this gateway publishes: its sites'
// member sources, by wire address.
func memberClaims(cfg *configs.Config, users []userMember) []discovery.Member {
	var out []discovery.Member
	add := func(m discovery.Member) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for _, s := range cfg.Sites {
		for _, m := range s.Members {
			for _, src := range m.Sources {
				add(discovery.Member{Site: s.Name, Project: m.Project, Wire: wireOf(s, src)})
			}
		}
		for _, u := range users {
			if u.site == s.Name {
				add(discovery.Member{Site: s.Name, Project: u.project, Wire: wireOf(s, netip.PrefixFrom(u.addr, 32))})
			}
		}
	}
	return out
}

// memberUsers are the member users as the last apply resolved them.
func (g *Gateway) memberUsers() []userMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.users
}

// wireOf is a local source prefix as it appears on the wire: translated
// when it lies in a mapped export.
func wireOf(s configs.Site, src netip.Prefix) netip.Prefix {
	for _, e := range s.Exports {
		if e.Wire() != e.CIDR && e.CIDR.Bits() <= src.Bits() && e.CIDR.Contains(src.Addr()) {
			a := e.Wire().Addr().As4()
			h := src.Addr().As4()
			bits := e.CIDR.Bits()
			for i := range 4 {
				keep := byte(0)
				if n := bits - 8*i; n >= 8 {
					keep = 0xff
				} else if n > 0 {
					keep = ^byte(0xff >> n)
				}
				a[i] = a[i]&keep | h[i]&^keep
			}
			return netip.PrefixFrom(netip.AddrFrom4(a), src.Bits())
		}
	}
	return src
}

// view is the gossip input of Compute. Called with g.mu held.
func (g *Gateway) view() View {
	m := g.members
	if m == nil {
		return View{}
	}
	v := View{Observed: map[string]netip.AddrPort{}}
	nodes := m.gossip.Nodes()
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Name] = true
	}
	now := time.Now()
	m.mu.Lock()
	for name, a := range m.admitted {
		v.Observed[name] = a.from
		switch {
		case live[name]:
			// Gossip has it now: from here on its leaving or death
			// removes it, not the admission's grace period.
			a.confirmed = true
			m.admitted[name] = a
		case now.Sub(a.at) > admittedFor || m.gossip.LeftSince(name, a.at):
			// Its grace is over, or gossip has given it up since:
			// an admission must not outlive the gateway.
			delete(m.admitted, name)
		case !a.confirmed && !m.gossip.Revoked(a.node):
			nodes = append(nodes, a.node)
		}
	}
	m.mu.Unlock()
	for _, n := range m.gossip.Standby() {
		switch {
		case slices.ContainsFunc(nodes, func(o *discovery.Node) bool { return o.Name == n.Name }):
		case g.health != nil && g.health.answering(n.Overlay):
			// memberlist's verdict, which any member can forge, is not
			// enough: while its probes are answered it keeps its routes.
			nodes = append(nodes, n)
		default:
			v.Standby = append(v.Standby, n)
		}
	}
	v.Nodes = nodes
	v.Known = m.gossip.Known()
	if g.paths != nil {
		v.Paths = g.paths.endpoints()
	}
	if g.health != nil {
		g.health.setTargets(probeTargets(g.cfg, nodes))
		v.Down, v.Awaited = g.health.down(), g.health.awaited()
	}
	return v
}

// probeTargets are the gateways to probe: fast those an HA decision here
// depends on, slowly the others. A member of an HA group (a site more than
// one gateway serves) counts when its site is one of this gateway's own
// (its partner) or shares a project with one of them (this gateway routes
// to it); an HA group of other projects is none of its business. Relays
// count too.
func probeTargets(cfg *configs.Config, nodes []*discovery.Node) map[netip.Addr]probeTarget {
	servers := map[string]int{}
	own, mine := map[string]bool{}, map[string]bool{}
	for _, s := range cfg.Sites {
		servers[s.Name]++
		own[s.Name] = true
		for _, e := range s.Exports {
			mine[e.Project] = true
		}
		for _, m := range s.Members {
			mine[m.Project] = true
		}
	}
	for _, n := range nodes {
		for _, s := range n.Sites {
			servers[s.Name]++
		}
	}
	relevant := func(s cert.Site) bool {
		if servers[s.Name] < 2 {
			return false
		}
		return own[s.Name] || slices.ContainsFunc(s.Exports, func(e cert.Export) bool { return mine[e.Project] }) ||
			slices.ContainsFunc(s.Members, func(p string) bool { return mine[p] })
	}
	targets := map[netip.Addr]probeTarget{}
	for _, n := range nodes {
		// A relay's health decides which relayed paths move: fast too.
		targets[n.Overlay] = probeTarget{name: n.Name, fast: n.Relay || slices.ContainsFunc(n.Sites, relevant)}
	}
	return targets
}

// tunnelRx is the byte count received through each gateway's tunnel, by
// overlay address: data that proves a gateway alive when its probes are
// lost on a saturated path.
func (g *Gateway) tunnelRx() map[netip.Addr]uint64 {
	peers, err := g.dev.Status()
	if err != nil {
		return nil
	}
	rx := make(map[tunnel.Key]uint64, len(peers))
	for _, p := range peers {
		rx[p.PublicKey] = p.RxBytes
	}
	out := make(map[netip.Addr]uint64, len(peers))
	for _, n := range g.members.gossip.Nodes() {
		if k, err := tunnel.ParseKey(n.WireGuardKey); err == nil {
			out[n.Overlay] = rx[k]
		}
	}
	return out
}

// kickIfDown restarts the handshake with a gateway that has just admitted
// us when the tunnel to it is not up: our earlier initiations reached it
// before it knew us and were dropped. joined is when the Join it answered
// was sent: initiations since then went to an end that knew us.
func (g *Gateway) kickIfDown(n *discovery.Node, joined time.Time) {
	key, err := tunnel.ParseKey(n.WireGuardKey)
	if err != nil {
		return
	}
	peers, err := g.dev.Status()
	if err != nil {
		return
	}
	for _, p := range peers {
		if p.PublicKey == key && (p.LastHandshake.IsZero() || time.Since(p.LastHandshake) > staleHandshake) {
			if err := g.dev.Rehandshake(key, joined); err != nil {
				g.log.Warn("handshake restart", "gateway", n.Name, "err", err)
			}
			return
		}
	}
}

// learnReflexive notes where gateway by saw this one, and republishes the
// record when the address or the NAT behaviour it shows changed.
func (g *Gateway) learnReflexive(by string, a netip.AddrPort) {
	if a.IsValid() {
		g.observe(func(observed map[string]observation) { observed[by] = observation{a, time.Now()} })
	}
}

// forgetObservations drops the observations not renewed lately: an
// observer that stopped would otherwise keep a NAT mapping long replaced,
// and the NAT behaviour it implied, in this gateway's record for good.
func (g *Gateway) forgetObservations(now time.Time) {
	g.observe(func(observed map[string]observation) {
		for by, o := range observed {
			if now.Sub(o.at) > observedFor {
				delete(observed, by)
			}
		}
	})
}

// observe edits the observations of this gateway's address and
// republishes the record when the address or the NAT behaviour it shows
// changed.
func (g *Gateway) observe(edit func(map[string]observation)) {
	m := g.members
	m.mu.Lock()
	before := natBehaviour(m)
	edit(m.observed)
	reflexive := reflexiveOf(m.observed, time.Now())
	changed := reflexive != m.reflexive || natBehaviour(m) != before
	m.reflexive = reflexive
	m.mu.Unlock()
	if changed {
		g.publish(false)
		m.punchNow() // the NAT may have changed: the holes too
	}
}

// reflexiveOf is the address this gateway is seen at: what the first
// observer by name saw, since behind a NAT that maps per destination each
// sees another and the record must not churn; but of the observers heard
// lately, when any is: a stopped observer's view of a NAT mapping since
// replaced must not hold the record back until it expires.
func reflexiveOf(observed map[string]observation, now time.Time) netip.AddrPort {
	var reflexive netip.AddrPort
	first, fresh := "", false
	for by, o := range observed {
		recent := now.Sub(o.at) <= freshObservation
		if first == "" || recent && !fresh || recent == fresh && by < first {
			first, reflexive, fresh = by, o.addr, recent
		}
	}
	return reflexive
}

// freshObservation is how old an observation may be to count as recent:
// the observers asked every second renew theirs well within it.
const freshObservation = 3 * pingEvery

// natBehaviour is what this gateway can tell of its NAT: public with a
// configured endpoint; else from where different gateways saw it: one
// address for all, or a port per peer. "" until two have answered.
func (g *Gateway) natBehaviour() string {
	g.members.mu.Lock()
	defer g.members.mu.Unlock()
	return natBehaviour(g.members)
}

// natBehaviour is called with m.mu held.
func natBehaviour(m *membership) string {
	if m.public {
		return discovery.NATPublic
	}
	if len(m.observed) < 2 {
		return ""
	}
	var first netip.AddrPort
	for _, o := range m.observed {
		if !first.IsValid() {
			first = o.addr
		} else if o.addr != first {
			return discovery.NATDependent
		}
	}
	return discovery.NATIndependent
}

func (g *Gateway) publish(leaving bool) {
	m := g.members
	if err := m.gossip.Publish(g.record(m, leaving)); err != nil {
		g.log.Error("publish record", "err", err)
	}
}

// record is this gateway's node record as it stands: the first one
// already says whether it is public and relays, or a relay would be
// unknown as one until something else changed.
func (g *Gateway) record(m *membership, leaving bool) discovery.Record {
	cfg := g.config()
	rec := discovery.Record{Endpoints: g.endpoints(m), Members: memberClaims(cfg, g.memberUsers()), Leaving: leaving, Relay: cfg.Node.Relay}
	if !m.public {
		rec.Local = localCandidates(g.dev.Name(), cfg.Node.ListenPort)
	}
	if c := g.cloud.Load(); c != nil {
		rec.ENI = c.client.Instance().ENI
	}
	rec.SitesDown = g.sites.down()
	rec.Zones = zonesOf(cfg)
	m.mu.Lock()
	rec.NAT = natBehaviour(m)
	m.mu.Unlock()
	return rec
}

// zonesOf lists the DNS zones of the config's exports, for the record.
func zonesOf(cfg *configs.Config) []discovery.Zones {
	var out []discovery.Zones
	for _, s := range cfg.Sites {
		for _, e := range s.Exports {
			if len(e.DNSZones) > 0 {
				out = append(out, discovery.Zones{Site: s.Name, Project: e.Project, Wire: e.Wire(), Names: e.DNSZones})
			}
		}
	}
	return out
}

// rejoinDue says whether the Run loop's tick at now should rejoin.
func (m *membership) rejoinDue(now time.Time) bool {
	every := rejoinEvery
	if len(m.gossip.Nodes()) == 0 {
		every = rejoinAlone
	}
	if now.Sub(m.lastRejoin) < every-rejoinAlone/2 {
		return false
	}
	m.lastRejoin = now
	return true
}

// rejoin sends a Join to every join target and known peer that is not a
// live member: at start, and periodically so that a partition heals.
func (g *Gateway) rejoin(ctx context.Context) {
	m := g.members
	g.mu.Lock()
	cfg := g.cfg
	g.mu.Unlock()
	// A live member whose tunnel never came up may not know this gateway:
	// its gossip about us was lost, so it has no peer for us and drops our
	// handshakes. A Join outside the tunnel admits us there directly.
	tunnelUp := map[string]bool{}
	if peers, err := g.dev.Status(); err == nil {
		for _, p := range peers {
			tunnelUp[p.PublicKey.String()] = !p.LastHandshake.IsZero() && time.Since(p.LastHandshake) < staleHandshake
		}
	}
	live := map[netip.AddrPort]bool{}
	for _, n := range m.gossip.Nodes() {
		if !tunnelUp[n.WireGuardKey] {
			continue
		}
		for _, ep := range n.Endpoints {
			live[ep] = true
		}
	}
	var targets []netip.AddrPort
	for _, j := range cfg.Mesh.Join {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ep, err := g.resolve(rctx, j)
		cancel()
		if err != nil {
			g.log.Debug("join target does not resolve", "target", j, "err", err)
			continue
		}
		targets = append(targets, ep)
	}
	for _, k := range g.readKnownPeers(cfg) {
		targets = append(targets, k.Endpoints...)
	}
	for _, n := range m.gossip.Nodes() {
		targets = append(targets, n.Endpoints...)
	}
	if c := g.cloud.Load(); c != nil {
		targets = append(targets, c.joinTargets(cfg.Node.ListenPort)...)
	}
	// Behind NAT, two public gateways' views tell the NAT's behaviour.
	var observers []netip.AddrPort
	m.mu.Lock()
	askMore := !m.public && len(m.observed) < 2
	for _, n := range m.gossip.Nodes() {
		if _, seen := m.observed[n.Name]; askMore && !seen && n.NAT == discovery.NATPublic && len(n.Endpoints) > 0 {
			observers = append(observers, n.Endpoints[0])
		}
	}
	m.mu.Unlock()
	if len(observers) > 2 {
		observers = observers[:2]
	}
	sent := map[netip.AddrPort]bool{}
	for i, t := range append(targets, observers...) {
		if (live[t] && i < len(targets)) || sent[t] || !t.IsValid() {
			continue
		}
		sent[t] = true
		g.sendJoin(t)
	}
}

// remember persists the live gateways for the next start.
func (g *Gateway) remember() {
	if err := g.saveKnownPeers(g.members.gossip.Nodes()); err != nil {
		g.log.Warn("known peers not saved", "err", err)
	}
}

// knownPeer is one persisted gateway: enough to find it again after a
// restart.
type knownPeer struct {
	Name      string           `json:"name"`
	Endpoints []netip.AddrPort `json:"endpoints"`
}

func knownPeersPath(cfg *configs.Config) string {
	return filepath.Join(cfg.Node.StateDir, knownPeersFile)
}

// readKnownPeers is what the state file holds; one that is not a list of
// known peers is set aside.
func (g *Gateway) readKnownPeers(cfg *configs.Config) []knownPeer {
	path := knownPeersPath(cfg)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var ks []knownPeer
	if err := json.Unmarshal(b, &ks); err != nil {
		configs.SetAsideStateFile(g.log, path, err)
		return nil
	}
	return ks
}

// saveKnownPeers persists the live gateways that can be dialled, merged
// with those already saved: a gateway that is down now is still worth
// trying after a restart.
func (g *Gateway) saveKnownPeers(nodes []*discovery.Node) error {
	byName := map[string]knownPeer{}
	for _, k := range g.readKnownPeers(g.cfg) {
		byName[k.Name] = k
	}
	for _, n := range nodes {
		if len(n.Endpoints) > 0 {
			byName[n.Name] = knownPeer{Name: n.Name, Endpoints: n.Endpoints}
		}
	}
	ks := make([]knownPeer, 0, len(byName))
	for _, k := range byName {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b knownPeer) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(knownPeersPath(g.cfg)); err == nil && string(old) == string(b) {
		return nil
	}
	return configs.WriteStateFile(knownPeersPath(g.cfg), b)
}

// stopGossip leaves the mesh cleanly: others remove this gateway at once
// instead of waiting for failure detection, and do not hold it on standby
// as they would a gateway that memberlist gave up on while its record said
// it was staying.
func (g *Gateway) stopGossip() {
	if g.members == nil {
		return
	}
	g.dev.HandleControl(nil)
	g.publish(true)
	if err := g.members.gossip.Leave(time.Second); err != nil {
		g.log.Debug("gossip leave", "err", err)
	}
}
