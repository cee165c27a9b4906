package discovery

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// testMesh is a mesh root that issues gateway identities for tests.
type testMesh struct {
	root cert.Root
	key  ed25519.PrivateKey
}

func newTestMesh(t testing.TB) *testMesh {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testMesh{root: cert.Root{Key: pub}, key: priv}
}

// issue makes gateway i's identity: overlay 100.96.x.y, site 10.x.y.0/24
// exported to project "lab".
func (m *testMesh) issue(t testing.TB, i int, notAfter time.Time) *Identity {
	t.Helper()
	return m.issueIn(t, "lab", i, notAfter)
}

// issueIn is issue for a gateway of the named mesh.
func (m *testMesh) issueIn(t testing.TB, mesh string, i int, notAfter time.Time) *Identity {
	t.Helper()
	wg, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	spub, spriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	c, err := cert.Sign(cert.Body{
		Version: 1, Kind: cert.KindGateway, Mesh: mesh, Name: fmt.Sprintf("gw-%d", i),
		WireGuardKey: wg.Public().String(), SigningKey: spub,
		Overlay: netip.AddrFrom4([4]byte{100, 96, byte(i >> 8), byte(i)}),
		Sites: []cert.Site{{Name: fmt.Sprintf("site-%d", i), CIDRs: []netip.Prefix{cidr}, Priority: 100,
			Exports: []cert.Export{{Project: "lab", CIDR: cidr, Wire: cidr}}}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
	}, m.key)
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{Chain: []*cert.Cert{c}, Key: spriv}
}

// startGossips starts n gateways of m on memberlist's in-memory transport,
// each joined through the first.
func startGossips(t *testing.T, m *testMesh, n int) ([]*Identity, []*Gossip) {
	t.Helper()
	network := &memberlist.MockNetwork{}
	var ids []*Identity
	var nodes []*Gossip
	for i := range n {
		id := m.issue(t, i+1, time.Now().Add(time.Hour))
		g := m.startGossipOn(t, network, GossipConfig{Identity: id}, nodes[:min(i, 1)]...)
		ids, nodes = append(ids, id), append(nodes, g)
	}
	return ids, nodes
}

// startSettled is startGossips, then waits until every gateway knows the
// others and has nothing left to broadcast: what a test then takes away
// or changes cannot come back by a broadcast still queued.
func startSettled(t *testing.T, m *testMesh, n int) ([]*Identity, []*Gossip) {
	t.Helper()
	ids, nodes := startGossips(t, m, n)
	waitAll(t, "every gateway knows the others, nothing left to broadcast", func(g *Gossip) bool {
		return len(g.Nodes()) == n-1 && g.queue.NumQueued() == 0
	}, nodes)
	return ids, nodes
}

// startGossipOn starts one gateway of m on network, joined through join
// when given. cfg needs the Identity; the root and, unless set, the
// transport and a quiet log are filled in.
func (m *testMesh) startGossipOn(t *testing.T, network *memberlist.MockNetwork, cfg GossipConfig, join ...*Gossip) *Gossip {
	t.Helper()
	cfg.Root = m.root
	if cfg.Transport == nil {
		cfg.Transport = newUDPLike(network, cfg.Identity.Leaf().Body.Name)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g, err := StartGossip(cfg, Record{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown() })
	for _, j := range join {
		if _, err := g.JoinAddrs(j.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// waitAll waits up to 20 s until cond holds on every gateway of gs, and
// returns how long that took.
func waitAll(t *testing.T, what string, cond func(g *Gossip) bool, gs []*Gossip) time.Duration {
	t.Helper()
	start := time.Now()
	for !allOf(cond, gs) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func allOf(cond func(g *Gossip) bool, gs []*Gossip) bool {
	for _, g := range gs {
		if !cond(g) {
			return false
		}
	}
	return true
}

// names lists the live gateways g holds.
func names(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

// udpLike is memberlist's in-memory transport with datagrams that behave
// like UDP: a sender never waits for the receiver, and a datagram the
// receiver has no room for is dropped. MockTransport's unbuffered channel
// makes a sender wait, so two nodes whose packet handlers answer each
// other at once (a ping and its ack) block each other for good and look
// dead to the rest; under CPU load that cut whole nodes out of the
// 200-node test.
type udpLike struct {
	*memberlist.MockTransport
	packets chan *memberlist.Packet
	done    chan struct{}
	once    sync.Once
}

func newUDPLike(network *memberlist.MockNetwork, name string) *udpLike {
	return pump(network.NewTransport(name))
}

// reopen is the transport of a gateway restarted at t's address. Made as
// soon as the gateway stops, it takes what is sent there meanwhile, as the
// kernel would, so that no sender waits.
func (t *udpLike) reopen() *udpLike { return pump(t.MockTransport) }

func pump(mt *memberlist.MockTransport) *udpLike {
	t := &udpLike{MockTransport: mt, packets: make(chan *memberlist.Packet, 256), done: make(chan struct{})}
	go func() {
		in := t.MockTransport.PacketCh()
		for {
			select {
			case p := <-in:
				select {
				case t.packets <- p:
				default: // receiver's buffer full: dropped, as UDP would
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *udpLike) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *udpLike) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return t.MockTransport.Shutdown()
}
