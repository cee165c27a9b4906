package discovery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// GossipPort is memberlist's port on every gateway's overlay address.
const GossipPort = 7946

// GossipConfig configures a gateway's membership.
type GossipConfig struct {
	Identity *Identity
	Root     cert.Root
	Overlay  netip.Addr // memberlist binds here: gossip rides the tunnels
	Port     int        // 0: GossipPort
	// Interface is the tunnel device: memberlist's sockets are bound to
	// it as well as to Overlay, so they take only what came out of the
	// tunnel (see tunnelTransport). "": bound to Overlay alone.
	Interface string
	// Transport replaces the network, for in-process tests. With the real
	// network a member must gossip from the overlay address its
	// certificate names, which WireGuard's allowed IPs vouch for.
	Transport memberlist.Transport
	// OnChange is called, and must not block, whenever the set of live,
	// verified nodes may have changed.
	OnChange func()
	// OnRevocations is called, and must not block, with each newer
	// revocation list taken (from the config or from gossip), to keep it.
	OnRevocations func(*cert.Revocations)
	Log           *slog.Logger
	Now           func() time.Time // nil: time.Now
	// VersionFile keeps the last record version published across
	// restarts (node.state_dir/record-version): a gateway back with its
	// clock set back still publishes records newer than the one it left
	// with. "": versions come from the clock alone.
	VersionFile string
}

// Gossip is a gateway's view of the mesh: memberlist for liveness, signed
// node records (exchanged by push/pull and broadcasts, not in the 512-byte
// node meta) for everything else.
type Gossip struct {
	cfg   GossipConfig
	name  string
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue

	stop chan struct{}
	once sync.Once

	publishMu sync.Mutex // one Publish at a time: versions are made and saved in order
	published uint64     // the last version published, here or by the last run

	mu      sync.Mutex
	records map[string]*Node // newest verified record per node, own included
	revs    revocationLists  // newest verified list of each issuer
	refused map[string]uint64
	bytes   Traffic
	// What repair knows of members without a record: when first seen so,
	// how often and when last asked for.
	missingSince map[string]time.Time
	repairs      map[string]repairState

	// When memberlist said a member died or left, until it is back. Its
	// own lock: memberlist calls its events holding its node lock, and
	// g.mu can be held for a while (LocalState at 200 nodes).
	leftMu sync.Mutex
	leftAt map[string]time.Time
}

// Traffic counts what the record exchange moved, for the scale test.
type Traffic struct {
	BroadcastBytes, StateBytesOut, StateBytesIn uint64
	Repairs                                     uint64 // push/pulls started to fetch missing records
	Asked                                       uint64 // records asked for after digests
	RecordsIn                                   uint64 // record messages received: broadcasts and answers
}

// StartGossip starts memberlist and publishes this gateway's record (its
// Name and Version are filled in).
func StartGossip(cfg GossipConfig, rec Record) (*Gossip, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Port == 0 {
		cfg.Port = GossipPort
	}
	g := &Gossip{cfg: cfg, name: cfg.Identity.Leaf().Body.Name, records: map[string]*Node{}, refused: map[string]uint64{},
		missingSince: map[string]time.Time{}, repairs: map[string]repairState{}, leftAt: map[string]time.Time{}, stop: make(chan struct{})}
	g.queue = &memberlist.TransmitLimitedQueue{NumNodes: g.numNodes, RetransmitMult: 4}
	g.published = readVersion(cfg.VersionFile, cfg.Log)
	if err := g.Publish(rec); err != nil {
		return nil, err
	}
	mc, err := g.memberlistConfig()
	var ml *memberlist.Memberlist
	if err == nil {
		if ml, err = memberlist.Create(mc); err != nil && mc.Transport != g.cfg.Transport {
			mc.Transport.Shutdown()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", net.JoinHostPort(cfg.Overlay.String(), strconv.Itoa(cfg.Port)), err)
	}
	g.ml = ml
	go g.repairLoop()
	return g, nil
}

const (
	repairEvery    = time.Second
	repairAfter    = time.Second // broadcasts get this long first
	repairAttempts = 3           // quick attempts per member without a record
	// After the quick attempts, ask this seldom: the members asked may
	// have lacked the record too (a starved CPU, a late joiner), and
	// giving up for good left records missing until the next push/pull,
	// which can be minutes apart at 200 nodes.
	repairBackoff = 10 * time.Second
)

type repairState struct {
	n    int
	last time.Time
}

// memberlist's probe period and the wait for an ack. Variables only for
// the scale figures, whose thousand memberlists share two cores.
var (
	probeInterval = time.Second
	probeTimeout  = 500 * time.Millisecond
)

// Gossip messages (memberlist user messages) start with their kind.
const (
	msgRecord      = 'r' // a signed record
	msgWant        = 'w' // "send me these records": the asker's name, then names, NUL-separated
	msgRevocations = 'x' // a signed revocation list
	msgDigest      = 'd' // in push/pull state: the sender's name, then each record's name and version
)

// repairLoop fetches records that broadcasts missed. A member can be live
// in memberlist yet have no record here, or only the one it left with
// before it came back under its name: its record's few retransmissions
// all went elsewhere, and it cannot send it itself, since without the
// record there is no tunnel to it. So a member that does have a tunnel is
// asked for just the missing records: a few times quickly, then every
// repairBackoff. A member whose record was refused (another mesh's) is
// asked again at that pace too: nothing is kept of a refusal, since
// anybody can send a refused record under any name.
func (g *Gossip) repairLoop() {
	t := time.NewTicker(repairEvery)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		if to, want := g.repairRequest(); to != nil {
			g.mu.Lock()
			g.bytes.Repairs++
			g.mu.Unlock()
			msg := g.wantMessage(want)
			if err := g.ml.SendBestEffort(to, msg); err != nil {
				g.cfg.Log.Debug("record request not sent", "to", to.Name, "err", err)
			}
		}
	}
}

// repairRequest picks the records to ask for and a verified member to ask.
func (g *Gossip) repairRequest() (*memberlist.Node, []string) {
	now := g.cfg.Now()
	members := g.ml.Members()
	g.mu.Lock()
	var want []string
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.Name] = true
		if m.Name == g.name || m.State != memberlist.StateAlive || g.usable(m.Name) {
			continue
		}
		since, ok := g.missingSince[m.Name]
		if !ok {
			g.missingSince[m.Name] = now
			continue
		}
		r := g.repairs[m.Name]
		due := r.n < repairAttempts || now.Sub(r.last) >= repairBackoff
		if now.Sub(since) >= repairAfter && due && len(want) < wantsPerRequest {
			want = append(want, m.Name)
		}
	}
	for name := range g.missingSince {
		if !seen[name] || g.usable(name) {
			delete(g.missingSince, name)
			delete(g.repairs, name)
		}
	}
	g.mu.Unlock()
	// Nodes sorts and checks every member: only when something is missing,
	// not every second (at a thousand gateways that was a quarter of the
	// steady-state CPU).
	if len(want) == 0 {
		return nil, nil
	}
	nodes := g.Nodes()
	if len(nodes) == 0 {
		return nil, nil
	}
	g.mu.Lock()
	for _, name := range want {
		g.repairs[name] = repairState{n: g.repairs[name].n + 1, last: now}
	}
	g.mu.Unlock()
	ask := nodes[rand.IntN(len(nodes))].Name
	for _, m := range members {
		if m.Name == ask {
			return m, want
		}
	}
	return nil, nil
}

// usable says whether the record held for a member can stand for it: a
// live member whose record still says it is leaving has come back under
// its name, and the broadcasts of its new record missed us. Called with
// g.mu held.
func (g *Gossip) usable(name string) bool {
	n := g.records[name]
	return n != nil && !n.Leaving
}

// answerWant sends the asker the records it wants that are held here.
func (g *Gossip) answerWant(b []byte) {
	names := strings.Split(string(b), "\x00")
	if len(names) < 2 || len(names) > 1+wantsPerRequest {
		return
	}
	to := g.member(names[0])
	if to == nil {
		return
	}
	for _, name := range names[1:] {
		g.mu.Lock()
		n := g.records[name]
		g.mu.Unlock()
		if n != nil {
			g.ml.SendBestEffort(to, recordMessage(n))
		}
	}
}

// wantMessage asks for the named records (at most wantsPerRequest).
func (g *Gossip) wantMessage(names []string) []byte {
	return append([]byte{msgWant}, strings.Join(append([]string{g.name}, names...), "\x00")...)
}

func recordMessage(n *Node) []byte { return append([]byte{msgRecord}, n.Encoded...) }

// memberlistConfig tunes memberlist for a mesh of gateways over tunnels:
// probes every second, a dead node declared after a few seconds of
// suspicion rather than the LAN default's longer multiples. Given the
// tunnel device, its sockets are bound to it.
func (g *Gossip) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	c.Name = g.name
	c.BindAddr = g.cfg.Overlay.String()
	c.BindPort = g.cfg.Port
	c.AdvertiseAddr = g.cfg.Overlay.String()
	c.AdvertisePort = g.cfg.Port
	c.ProbeInterval = probeInterval
	c.ProbeTimeout = probeTimeout
	c.SuspicionMult = 3
	// A partition fails most probes of the gateways cut off; Lifeguard
	// then stretches their probe interval (up to 8x by default) and
	// suspicion timeouts (6x), and one gateway took over 30 s to give up
	// the other side in the lab. Bounded tighter, a dead gateway is
	// dropped within about 10 s everywhere.
	c.AwarenessMaxMultiplier = 2
	c.SuspicionMaxTimeoutMult = 3
	c.GossipInterval = 100 * time.Millisecond
	// A record fills most of a datagram, so a gossip round carries one
	// record to each of GossipNodes members. After many joins every queue
	// holds the records its join's push/pull brought, and a new record
	// waits behind them. With 6 rather than memberlist's 3, 200 gateways
	// started together held every record 3.4-6.7 s after the last join
	// rather than 18-21 s (e2e/gossip-figures.sh 200, this change alone;
	// docs/ARCHITECTURE.md has the figures with the rest). The same datagrams
	// go out, in half the time; with nothing queued, none.
	c.GossipNodes = 6
	c.PushPullInterval = 10 * time.Second
	c.TCPTimeout = 3 * time.Second
	c.DeadNodeReclaimTime = time.Second // a restarted gateway comes back under its name at once
	c.GossipToTheDeadTime = standbyFor
	c.UDPBufferSize = 1350 // one datagram inside the tunnel's MTU
	c.Delegate = (*delegate)(g)
	c.Events = (*events)(g)
	c.Logger = log.New(slogWriter{g.cfg.Log}, "", 0)
	switch {
	case g.cfg.Transport != nil:
		c.Transport = g.cfg.Transport
	case g.cfg.Interface != "":
		t, err := newTunnelTransport(g.cfg.Interface, netip.AddrPortFrom(g.cfg.Overlay, uint16(g.cfg.Port)), c.Logger)
		if err != nil {
			return nil, err
		}
		c.Transport = t
	}
	return c, nil
}

// Join contacts gateways by overlay address (reached through their
// tunnels) and returns how many answered.
func (g *Gossip) Join(overlays ...netip.Addr) (int, error) {
	addrs := make([]string, len(overlays))
	for i, a := range overlays {
		addrs[i] = net.JoinHostPort(a.String(), strconv.Itoa(g.cfg.Port))
	}
	return g.ml.Join(addrs)
}

// JoinAddrs is Join with memberlist addresses, for in-process transports.
func (g *Gossip) JoinAddrs(addrs ...string) (int, error) { return g.ml.Join(addrs) }

// Addr is this node's memberlist address.
func (g *Gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Publish signs and spreads a new version of this gateway's record; its
// Name and Version are filled in.
func (g *Gossip) Publish(rec Record) error {
	g.publishMu.Lock()
	defer g.publishMu.Unlock()
	// The clock orders this gateway's records across restarts, and the
	// saved version keeps that order when the clock went back: it is saved
	// before any record of that version can reach another gateway.
	g.published = max(uint64(g.cfg.Now().UnixNano()), g.published+1)
	if err := saveVersion(g.cfg.VersionFile, g.published); err != nil {
		g.cfg.Log.Warn("record version not saved: a restart with the clock set back could publish records older than this one", "err", err)
	}
	rec.Name, rec.Version = g.name, g.published
	data, err := g.cfg.Identity.Sign(rec)
	if err != nil {
		return err
	}
	n, err := Verify(g.cfg.Root, data, g.cfg.Now())
	if err != nil {
		return fmt.Errorf("own record does not verify against the mesh root: %w", err)
	}
	g.mu.Lock()
	g.records[g.name] = n
	g.mu.Unlock()
	g.queue.QueueBroadcast(newRecordBroadcast(n))
	return nil
}

// readVersion is the version saved in path, or 0 when there is none. A
// file that holds no version is set aside: the clock gives the version.
func readVersion(path string, log *slog.Logger) uint64 {
	if path == "" {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("record version not read: the clock gives it", "err", err)
		}
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		configs.SetAsideStateFile(log, path, fmt.Errorf("not a record version: %w", err))
		return 0
	}
	return v
}

func saveVersion(path string, v uint64) error {
	if path == "" {
		return nil
	}
	return configs.WriteStateFile(path, []byte(strconv.FormatUint(v, 10)+"\n"))
}

// Self is this gateway's own current record.
func (g *Gossip) Self() *Node {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.records[g.name]
}

// Nodes returns the other gateways that are alive (or only suspected) in
// memberlist and have a verified, unexpired record that is not leaving.
func (g *Gossip) Nodes() []*Node {
	now := g.cfg.Now()
	members := g.ml.Members()
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Node
	for _, m := range members {
		n := g.records[m.Name]
		switch {
		case m.Name == g.name || n == nil || n.Leaving || now.After(n.NotAfter) || g.revs.revoke(n.Fingerprints):
			continue
		case m.State != memberlist.StateAlive && m.State != memberlist.StateSuspect:
			continue
		case g.cfg.Transport == nil && !sameAddr(m.Addr, n.Overlay):
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Standby returns the gateways memberlist gave up for dead or gone in the
// last standbyFor whose record says they are not leaving: a gateway back
// under its name before every member took in that it had gone. Tunnels to
// them stay up, with no routes, so that gossip can still tell them they
// were given up and they can refute it; without a tunnel neither side
// could reach the other.
func (g *Gossip) Standby() []*Node {
	now := g.cfg.Now()
	var names []string
	g.leftMu.Lock()
	for name, at := range g.leftAt {
		if now.Sub(at) > standbyFor {
			delete(g.leftAt, name) // any admission before it has expired too
			continue
		}
		names = append(names, name)
	}
	g.leftMu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Node
	for _, name := range names {
		n := g.records[name]
		if n != nil && !n.Leaving && !now.After(n.NotAfter) && !g.revs.revoke(n.Fingerprints) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// standbyFor is memberlist's GossipToTheDeadTime: how long it still
// gossips to a member it declared dead.
const standbyFor = 30 * time.Second

// LeftSince says whether memberlist has declared the gateway dead or gone
// since t.
func (g *Gossip) LeftSince(name string, t time.Time) bool {
	g.leftMu.Lock()
	defer g.leftMu.Unlock()
	return g.leftAt[name].After(t)
}

// Offer takes a record heard outside gossip (an admission) as if gossip
// had brought it, and passes it on when it is newer than the one held: a
// gateway restarted under its name replaces its old record, which may say
// it left, without waiting for broadcasts.
func (g *Gossip) Offer(data []byte) {
	if n := g.accept(data); n != nil {
		g.queue.QueueBroadcast(newRecordBroadcast(n))
		g.changed()
	}
}

// Unverified names the live memberlist members of which no valid record
// is held: a gateway of another mesh, or one whose record has not arrived.
func (g *Gossip) Unverified() []string {
	now := g.cfg.Now()
	members := g.ml.Members()
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, m := range members {
		if n := g.records[m.Name]; m.Name != g.name && m.State == memberlist.StateAlive && (n == nil || now.After(n.NotAfter)) {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

func sameAddr(ip net.IP, a netip.Addr) bool {
	b, ok := netip.AddrFromSlice(ip)
	return ok && b.Unmap() == a
}

// Known returns every verified record held, live or not, except our own:
// what a restart rejoins through.
func (g *Gossip) Known() []*Node {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Node
	for name, n := range g.records {
		if name != g.name {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Refused returns how many records were refused, by reason.
func (g *Gossip) Refused() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]uint64, len(g.refused))
	for k, v := range g.refused {
		out[k] = v
	}
	return out
}

// Count records a refusal seen outside gossip (admission).
func (g *Gossip) Count(err error) {
	var re *RefusedError
	reason := RefusedMalformed
	if errors.As(err, &re) {
		reason = re.Reason
	}
	g.mu.Lock()
	g.refused[reason]++
	g.mu.Unlock()
}

// Traffic returns the bytes moved by the record exchange so far.
func (g *Gossip) Traffic() Traffic {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bytes
}

// NumMembers is memberlist's count of live members, this one included.
func (g *Gossip) NumMembers() int { return g.ml.NumMembers() }

// Leave announces a clean stop and waits up to timeout for it to spread,
// then stops gossiping. When this gateway's record says it is leaving
// (Publish one first), that record also goes straight to every member:
// memberlist gossips its leave message only a few times, and a member that
// few others have a tunnel to (a NATed gateway relayed through this one)
// could miss it and keep using this gateway until failure detection.
func (g *Gossip) Leave(timeout time.Duration) error {
	if self := g.Self(); self != nil && self.Leaving {
		msg := recordMessage(self)
		for _, m := range g.ml.Members() {
			if m.Name != g.name && m.State == memberlist.StateAlive {
				if err := g.ml.SendBestEffort(m, msg); err != nil {
					g.cfg.Log.Debug("leaving record not sent", "to", m.Name, "err", err)
				}
			}
		}
	}
	err := g.ml.Leave(timeout)
	return errors.Join(err, g.Shutdown())
}

// Shutdown stops gossiping without a goodbye, as a crash would.
func (g *Gossip) Shutdown() error {
	g.once.Do(func() { close(g.stop) })
	return g.ml.Shutdown()
}

// accept verifies a record and keeps it when it is newer than what we hold.
// It returns the node when it was new.
func (g *Gossip) accept(data []byte) *Node {
	name, version, ok := peek(data)
	if !ok {
		g.Count(refused(RefusedMalformed, errors.New("bad record")))
		return nil
	}
	g.mu.Lock()
	old := g.records[name]
	g.mu.Unlock()
	if name == g.name || (old != nil && old.Version >= version) {
		return nil
	}
	n, err := g.Verify(data)
	if err != nil {
		g.Count(err)
		g.cfg.Log.Debug("record refused", "err", err)
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old := g.records[n.Name]; old != nil && old.Version >= n.Version {
		return nil
	}
	if err := g.heldBy(n); err != nil {
		g.refused[RefusedNameHeld]++
		return nil
	}
	g.records[n.Name] = n
	return n
}

// Verify checks a record against the root at the current time, and that
// its certificate is for this gateway's mesh.
func (g *Gossip) Verify(data []byte) (*Node, error) {
	n, err := Verify(g.cfg.Root, data, g.cfg.Now())
	if err != nil {
		return nil, err
	}
	if mesh := g.cfg.Identity.Leaf().Body.Mesh; n.Mesh != mesh {
		return nil, refused(RefusedWrongMesh, fmt.Errorf("record of %q is for mesh %q, not %q", n.Name, n.Mesh, mesh))
	}
	if g.revoked(n) {
		return nil, refused(RefusedRevoked, fmt.Errorf("the certificate of %q is revoked", n.Name))
	}
	return n, nil
}

// Revoked says whether n's certificate is on the revocation list held.
func (g *Gossip) Revoked(n *Node) bool { return g.revoked(n) }

func (g *Gossip) revoked(n *Node) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.revs.revoke(n.Fingerprints)
}

// revocationLists are the lists held, by issuer: the root's and each
// project authority's.
type revocationLists map[string]*cert.Revocations

func (l revocationLists) revoke(fingerprints []string) bool {
	for _, r := range l {
		if r.RevokesAny(fingerprints) {
			return true
		}
	}
	return false
}

// SetRevocations takes a revocation list when the root, or an authority
// the root certified, signed it for this mesh and it is newer than the
// one held from the same issuer, and spreads it. It reports whether the
// list was taken.
func (g *Gossip) SetRevocations(r *cert.Revocations) (bool, error) {
	if err := g.cfg.Root.VerifyRevocationsAt(r, g.cfg.Identity.Leaf().Body.Mesh, g.cfg.Now()); err != nil {
		return false, err
	}
	g.mu.Lock()
	old := g.revs[r.Body.Issuer]
	newer := old == nil || r.Body.Serial > old.Body.Serial
	if newer {
		if g.revs == nil {
			g.revs = revocationLists{}
		}
		g.revs[r.Body.Issuer] = r
	}
	g.mu.Unlock()
	if !newer {
		return false, nil
	}
	msg := append([]byte{msgRevocations}, r.Marshal()...)
	g.queue.QueueBroadcast(revocationBroadcast{r.Body.Issuer, msg})
	go g.flood(msg)
	if g.cfg.OnRevocations != nil {
		g.cfg.OnRevocations(r)
	}
	g.changed()
	return true, nil
}

// flood sends msg to every live member once, besides the broadcast: a
// revocation must not wait for the next push/pull on a member all
// retransmissions missed. Each member floods a list once, when it takes
// it: two waves, rare, bounded.
func (g *Gossip) flood(msg []byte) {
	if g.ml == nil {
		return
	}
	for _, m := range g.ml.Members() {
		if m.Name != g.name && m.State == memberlist.StateAlive {
			g.ml.SendBestEffort(m, msg)
		}
	}
}

// Revocations are the newest revocation list of each issuer held, the
// root's first, then by issuer.
func (g *Gossip) Revocations() []*cert.Revocations {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*cert.Revocations, 0, len(g.revs))
	for _, r := range g.revs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *cert.Revocations) int {
		switch rootA, rootB := a.Body.Authority == nil, b.Body.Authority == nil; {
		case rootA && !rootB:
			return -1
		case rootB && !rootA:
			return 1
		}
		return strings.Compare(a.Body.Issuer, b.Body.Issuer)
	})
	return out
}

// takeRevocations handles a list that arrived by gossip.
func (g *Gossip) takeRevocations(data []byte) {
	r, err := cert.ParseRevocations(data)
	if err == nil {
		_, err = g.SetRevocations(r)
	}
	if err != nil {
		g.Count(refused(RefusedUntrusted, err))
		g.cfg.Log.Warn("revocation list refused", "err", err)
	}
}

// peek reads a record's name and version without verifying it, so that
// records already held are not verified again.
func peek(data []byte) (string, uint64, bool) {
	_, body, _, err := split(data)
	if err != nil {
		return "", 0, false
	}
	var r struct {
		Name    string `json:"name"`
		Version uint64 `json:"version"`
	}
	if json.Unmarshal(body, &r) != nil || r.Name == "" {
		return "", 0, false
	}
	return r.Name, r.Version, true
}

func (g *Gossip) changed() {
	if g.cfg.OnChange != nil {
		g.cfg.OnChange()
	}
}

func (g *Gossip) numNodes() int {
	if g.ml == nil {
		return 1
	}
	return g.ml.NumMembers()
}

// delegate is memberlist's view of the record exchange.
type delegate Gossip

func (d *delegate) NodeMeta(limit int) []byte { return nil }

// NotifyMsg gets a broadcast record, passed on when new, or a request
// for records.
func (d *delegate) NotifyMsg(b []byte) {
	g := (*Gossip)(d)
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case msgWant:
		g.answerWant(b[1:])
		return
	case msgRevocations:
		g.takeRevocations(b[1:])
		return
	case msgRecord:
	default:
		g.Count(refused(RefusedMalformed, fmt.Errorf("gossip message of kind %#x", b[0])))
		return
	}
	g.mu.Lock()
	g.bytes.RecordsIn++
	g.mu.Unlock()
	g.Offer(b[1:])
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	g := (*Gossip)(d)
	msgs := g.queue.GetBroadcasts(overhead, limit)
	var n uint64
	for _, m := range msgs {
		n += uint64(len(m))
	}
	g.mu.Lock()
	g.bytes.BroadcastBytes += n
	g.mu.Unlock()
	return msgs
}

// LocalState is the revocation lists and, to a joiner, every record held;
// each a length-prefixed message (kind byte, then the payload). Between
// members the records are a digest, names and versions, and each side
// asks for the records it lacks: the periodic exchange then costs about
// 20 bytes per gateway rather than a whole record (a kilobyte), which at
// a thousand gateways was most of the gossip traffic and its CPU.
func (d *delegate) LocalState(join bool) []byte {
	g := (*Gossip)(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	var b bytes.Buffer
	put := func(kind byte, payload []byte) {
		binary.Write(&b, binary.BigEndian, uint32(1+len(payload)))
		b.WriteByte(kind)
		b.Write(payload)
	}
	if join {
		for _, n := range g.records {
			put(msgRecord, n.Encoded)
		}
	} else {
		digest := append([]byte(g.name), 0)
		for name, n := range g.records {
			digest = append(digest, byte(len(name)))
			digest = append(digest, name...)
			digest = binary.BigEndian.AppendUint64(digest, n.Version)
		}
		put(msgDigest, digest)
	}
	for _, r := range g.revs {
		put(msgRevocations, r.Marshal())
	}
	g.bytes.StateBytesOut += uint64(b.Len())
	return b.Bytes()
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	g := (*Gossip)(d)
	g.mu.Lock()
	g.bytes.StateBytesIn += uint64(len(buf))
	// A gateway holding no record but its own has nobody to tell what an
	// exchange brings: the other side has it and spreads it, and a joiner
	// spreads its own record itself. Passing on every record of its join
	// made each fresh joiner of a mass start gossip the whole mesh again
	// (3 MiB at 400).
	alone := len(g.records) <= 1
	g.mu.Unlock()
	changed := false
	for len(buf) >= 4 {
		n := binary.BigEndian.Uint32(buf)
		if n == 0 || uint64(len(buf)-4) < uint64(n) {
			g.Count(refused(RefusedMalformed, errors.New("truncated state")))
			break
		}
		msg := buf[4 : 4+n]
		buf = buf[4+n:]
		switch msg[0] {
		case msgRevocations:
			g.takeRevocations(msg[1:])
		case msgDigest:
			g.takeDigest(msg[1:])
		case msgRecord:
			// New records are passed on as broadcasts too (a partition
			// healing brings records the rest of this side lacks).
			if rec := g.accept(msg[1:]); rec != nil {
				if !alone {
					g.queue.QueueBroadcast(newRecordBroadcast(rec))
				}
				changed = true
			}
		default:
			g.Count(refused(RefusedMalformed, fmt.Errorf("state entry of kind %#x", msg[0])))
		}
	}
	if changed {
		g.changed()
	}
}

// digestWants bounds the records asked for after one digest; the rest
// wait for the next exchange. A request names at most wantsPerRequest.
const (
	digestWants     = 64
	wantsPerRequest = 16
)

// takeDigest asks the digest's sender for the records it holds newer than
// ours. A malformed digest is refused whole.
func (g *Gossip) takeDigest(b []byte) {
	from, rest, ok := bytes.Cut(b, []byte{0})
	if !ok || len(from) == 0 {
		g.Count(refused(RefusedMalformed, errors.New("digest without a sender")))
		return
	}
	var want []string
	g.mu.Lock()
	for len(rest) > 0 {
		n := int(rest[0])
		if n == 0 || len(rest) < 1+n+8 {
			g.mu.Unlock()
			g.Count(refused(RefusedMalformed, errors.New("truncated digest")))
			return
		}
		name, version := string(rest[1:1+n]), binary.BigEndian.Uint64(rest[1+n:])
		rest = rest[1+n+8:]
		if held := g.records[name]; name != g.name && (held == nil || held.Version < version) && len(want) < digestWants {
			want = append(want, name)
		}
	}
	g.mu.Unlock()
	if len(want) == 0 || g.ml == nil {
		return
	}
	to := g.member(string(from))
	if to == nil || to.State != memberlist.StateAlive {
		return
	}
	g.mu.Lock()
	g.bytes.Asked += uint64(len(want))
	g.mu.Unlock()
	for c := range slices.Chunk(want, wantsPerRequest) {
		msg := g.wantMessage(c)
		if err := g.ml.SendBestEffort(to, msg); err != nil {
			g.cfg.Log.Debug("record request not sent", "to", to.Name, "err", err)
		}
	}
}

// member is the member of that name, in whatever state, or nil.
func (g *Gossip) member(name string) *memberlist.Node {
	for _, m := range g.ml.Members() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// events turns memberlist's membership events into change notices.
type events Gossip

func (e *events) NotifyJoin(*memberlist.Node) { (*Gossip)(e).changed() }
func (e *events) NotifyLeave(n *memberlist.Node) {
	g := (*Gossip)(e)
	g.leftMu.Lock()
	g.leftAt[n.Name] = g.cfg.Now()
	g.leftMu.Unlock()
	g.changed()
}
func (e *events) NotifyUpdate(*memberlist.Node) { (*Gossip)(e).changed() }

// recordBroadcast is one node's record in the broadcast queue; a newer
// record of the same node replaces it.
type recordBroadcast struct {
	n   *Node
	msg []byte
}

func newRecordBroadcast(n *Node) recordBroadcast { return recordBroadcast{n, recordMessage(n)} }

func (b recordBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(recordBroadcast)
	return ok && ob.n.Name == b.n.Name
}
func (b recordBroadcast) Name() string    { return b.n.Name }
func (b recordBroadcast) Message() []byte { return b.msg }
func (b recordBroadcast) Finished()       {}

// revocationBroadcast is a revocation list; a newer one of the same
// issuer replaces it.
type revocationBroadcast struct {
	issuer string
	msg    []byte
}

func (b revocationBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(revocationBroadcast)
	return ok && ob.issuer == b.issuer
}
func (b revocationBroadcast) Message() []byte { return b.msg }
func (b revocationBroadcast) Finished()       {}

// slogWriter sends memberlist's log lines to slog at debug level; its
// "[WARN]"-style prefixes are kept in the message.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(bytes.TrimRight(p, "\n")), "subsystem", "memberlist")
	return len(p), nil
}

var _ io.Writer = slogWriter{}
