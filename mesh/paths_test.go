package mesh

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

func pathNode(name, overlay, nat string, relay bool, eps ...string) *discovery.Node {
	n := &discovery.Node{Overlay: netip.MustParseAddr(overlay)}
	n.Name, n.NAT, n.Relay = name, nat, relay
	for _, e := range eps {
		n.Endpoints = append(n.Endpoints, netip.MustParseAddrPort(e))
	}
	return n
}

// answer plays the peer at addr: a Pong for every Ping sent to it.
func answer(ps *paths, pings []ping, addr netip.AddrPort, now time.Time) {
	for _, p := range pings {
		if p.to == addr {
			probe, _ := discovery.DecodeProbe(p.msg)
			ps.pong(probe, addr, now)
		}
	}
}

// A NATed pair goes direct when Pongs come back, through the first relay
// by name when punching fails, through the next one when that relay is
// down, and back to direct at the next Pong.
func TestPathsPunchRelayAndBack(t *testing.T) {
	peerEP := netip.MustParseAddrPort("198.51.100.7:51820")
	peer := pathNode("office2", "100.96.0.4", discovery.NATIndependent, false, peerEP.String())
	r1 := pathNode("r1", "100.96.0.1", discovery.NATPublic, true, "203.0.113.1:51820")
	r2 := pathNode("r2", "100.96.0.2", discovery.NATPublic, true, "203.0.113.2:51820")
	pub := pathNode("vpc", "100.96.0.3", discovery.NATPublic, false, "203.0.113.3:51820")
	nodes := []*discovery.Node{peer, r1, r2, pub}
	ps := newPaths(slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Unix(1000, 0)
	in := func(at time.Duration, down ...string) pathInput {
		d := map[string]bool{}
		for _, n := range down {
			d[n] = true
		}
		return pathInput{now: t0.Add(at), nodes: nodes, down: d}
	}
	type want struct {
		kind     string
		via      string
		endpoint netip.AddrPort
	}
	check := func(step string, w want) {
		t.Helper()
		st := ps.peers["office2"]
		if got := (want{st.cur.kind, st.cur.via, st.cur.endpoint}); got != w {
			t.Errorf("%s: path %+v, want %+v", step, got, w)
		}
		if _, ok := ps.peers["vpc"]; ok {
			t.Errorf("%s: a pair with a public side is punched for", step)
		}
		if ep, ok := ps.endpoints()["office2"]; w.endpoint.IsValid() && (!ok || ep != w.endpoint) {
			t.Errorf("%s: endpoint for the reconciler %s, want %s", step, ep, w.endpoint)
		}
	}

	pings, _ := ps.step(in(0))
	toPeer, toPublic := 0, 0
	for _, p := range pings {
		switch p.to {
		case peerEP:
			toPeer++
		case pub.Endpoints[0]:
			toPublic++
		}
	}
	if toPeer != 1 || toPublic != 1 {
		t.Errorf("first round: %d pings to the NATed peer and %d to a public gateway, want 1 and 1", toPeer, toPublic)
	}
	check("start", want{PathDirect, "", netip.AddrPort{}})

	_, changed := ps.step(in(3 * time.Second))
	if !changed {
		t.Error("no change reported when punching gave up")
	}
	check("no Pong for 3 s", want{PathRelayed, "r1", relayEP(t, r1.Endpoints[0], peer.Overlay)})

	if _, changed = ps.step(in(4*time.Second, "r1")); !changed {
		t.Error("no change reported when the relay went down")
	}
	check("r1 down", want{PathRelayed, "r2", relayEP(t, r2.Endpoints[0], peer.Overlay)})

	pings, _ = ps.step(in(5 * time.Second))
	answer(ps, pings, peerEP, t0.Add(5*time.Second))
	if _, changed = ps.step(in(6 * time.Second)); !changed {
		t.Error("no change reported when a Pong came")
	}
	check("Pong", want{PathDirect, "", peerEP})
	if !ps.changedAt("office2").Equal(t0.Add(6 * time.Second)) {
		t.Errorf("path changed at %v, want t0+6s", ps.changedAt("office2"))
	}

	ps.step(in(11 * time.Second))
	check("Pongs stopped for 5 s", want{PathRelayed, "r1", relayEP(t, r1.Endpoints[0], peer.Overlay)})

	ps.step(in(12*time.Second, "r1", "r2"))
	check("no relay left", want{PathDirect, "", netip.AddrPort{}})

	// A Pong for a nonce never sent is nobody's.
	if who := ps.pong(discovery.Probe{Type: discovery.MsgPong}, peerEP, t0); who != "" {
		t.Errorf("a stray Pong was taken for %s's", who)
	}
}

// A public gateway punches for nobody and pings nobody: NATed gateways
// dial it.
func TestPathsPublicGatewayWaits(t *testing.T) {
	ps := newPaths(slog.New(slog.NewTextHandler(io.Discard, nil)))
	nodes := []*discovery.Node{pathNode("office", "100.96.0.4", discovery.NATIndependent, false, "198.51.100.7:51820")}
	for i := range 6 {
		pings, changed := ps.step(pathInput{now: time.Unix(int64(i), 0), public: true, nodes: nodes})
		if len(pings) > 0 || changed || len(ps.peers) > 0 {
			t.Fatalf("round %d: %d pings, changed %v, %d paths", i, len(pings), changed, len(ps.peers))
		}
	}
}

// Of the addresses that answer, the fastest wins (a shared LAN before the
// way round through the NAT), and the one in use keeps the path while it
// answers, so that a slower reply now and then does not move the tunnel.
func TestPathsPreferFastestThenStick(t *testing.T) {
	wan, lan := netip.MustParseAddrPort("198.51.100.7:51820"), netip.MustParseAddrPort("10.62.0.3:51820")
	peer := pathNode("office1b", "100.96.0.9", discovery.NATIndependent, false, wan.String())
	peer.Local = []netip.AddrPort{lan}
	ps := newPaths(slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Unix(1000, 0)
	round := func(at time.Duration, replies map[netip.AddrPort]time.Duration) {
		t.Helper()
		pings, _ := ps.step(pathInput{now: t0.Add(at), nodes: []*discovery.Node{peer}})
		for _, p := range pings {
			if p.to != wan && p.to != lan {
				t.Fatalf("ping to %s, not a candidate", p.to)
			}
			if probe, _ := discovery.DecodeProbe(p.msg); probe.To != peer.Overlay {
				t.Fatalf("ping for %s, want %s", probe.To, peer.Overlay)
			}
		}
		for addr, rtt := range replies {
			answer(ps, pings, addr, t0.Add(at+rtt))
		}
	}
	endpoint := func() netip.AddrPort { return ps.peers["office1b"].cur.endpoint }

	round(0, map[netip.AddrPort]time.Duration{wan: 3 * time.Millisecond, lan: time.Millisecond})
	round(time.Second, nil)
	if endpoint() != lan {
		t.Fatalf("path to %s, want the faster %s", endpoint(), lan)
	}
	// Only the way through the NAT answers for a while: the LAN stays
	// until its last Pong is 5 s old.
	for s := 2; s <= 5; s++ {
		round(time.Duration(s)*time.Second, map[netip.AddrPort]time.Duration{wan: time.Millisecond})
		if endpoint() != lan {
			t.Fatalf("at %d s the path moved to %s while the LAN had answered within 5 s", s, endpoint())
		}
	}
	round(6*time.Second, map[netip.AddrPort]time.Duration{wan: time.Millisecond})
	if endpoint() != wan {
		t.Fatalf("path to %s, want %s once the LAN stopped answering", endpoint(), wan)
	}
	// The LAN answering faster again does not move a path that works.
	round(7*time.Second, map[netip.AddrPort]time.Duration{wan: 3 * time.Millisecond, lan: time.Millisecond})
	round(8*time.Second, nil)
	if endpoint() != wan {
		t.Fatalf("path moved to %s though %s still answers", endpoint(), wan)
	}
}

func relayEP(t *testing.T, relay netip.AddrPort, peer netip.Addr) netip.AddrPort {
	t.Helper()
	ep, err := tunnel.RelayEndpoint(relay, peer)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// The reflexive address is the first observer's by name, among those heard
// lately: a stopped observer's stale view does not hold it back.
func TestReflexiveOf(t *testing.T) {
	now := time.Unix(1e9, 0)
	old, fresh := netip.MustParseAddrPort("203.0.113.64:40000"), netip.MustParseAddrPort("203.0.113.64:51820")
	other := netip.MustParseAddrPort("203.0.113.64:40001")
	for _, c := range []struct {
		name     string
		observed map[string]observation
		want     netip.AddrPort
	}{
		{"first by name, both fresh", map[string]observation{"eip-gw": {other, now}, "pub-gw": {fresh, now}}, other},
		{"a stale first gives way", map[string]observation{"eip-gw": {old, now.Add(-10 * time.Second)}, "pub-gw": {fresh, now.Add(-time.Second)}}, fresh},
		{"all stale: first by name", map[string]observation{"eip-gw": {old, now.Add(-10 * time.Second)}, "pub-gw": {fresh, now.Add(-9 * time.Second)}}, old},
		{"none", nil, netip.AddrPort{}},
	} {
		if got := reflexiveOf(c.observed, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A Ping from a punched gateway's candidate is answered with a Ping back
// at once: its NAT has just opened the hole our next round would find.
// One per gateway per kickGap, none once that address answers, none for a
// Ping from anywhere else.
func TestPathsPingBack(t *testing.T) {
	peerEP := netip.MustParseAddrPort("198.51.100.7:51820")
	peer := pathNode("office2", "100.96.0.4", discovery.NATIndependent, false, peerEP.String())
	pub := pathNode("vpc", "100.96.0.3", discovery.NATPublic, false, "203.0.113.3:51820")
	ps := newPaths(slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Unix(1000, 0)
	ps.step(pathInput{now: t0, nodes: []*discovery.Node{peer, pub}})

	for _, from := range []netip.AddrPort{netip.MustParseAddrPort("192.0.2.9:51820"), pub.Endpoints[0]} {
		if got := ps.pingBack(from, t0); len(got) > 0 {
			t.Errorf("a Ping from %s, no punched gateway's, pinged back %d times", from, len(got))
		}
	}
	got := ps.pingBack(peerEP, t0.Add(100*time.Millisecond))
	if len(got) != 1 || got[0].to != peerEP {
		t.Fatalf("a Ping from the peer: pinged back %+v, want one Ping to %s", got, peerEP)
	}
	if probe, _ := discovery.DecodeProbe(got[0].msg); probe.Type != discovery.MsgPing || probe.To != peer.Overlay {
		t.Errorf("pinged back %+v, want a Ping for %s", probe, peer.Overlay)
	}
	if got := ps.pingBack(peerEP, t0.Add(100*time.Millisecond+kickGap/2)); len(got) > 0 {
		t.Errorf("pinged back again within kickGap")
	}
	if got := ps.pingBack(peerEP, t0.Add(100*time.Millisecond+kickGap)); len(got) != 1 {
		t.Errorf("no Ping back after kickGap, want one")
	}
	answer(ps, got, peerEP, t0.Add(time.Second))
	if got := ps.pingBack(peerEP, t0.Add(2*time.Second)); len(got) > 0 {
		t.Errorf("pinged back though %s answers", peerEP)
	}
}

// A Pong for a pair without a direct path is decided on at once, in a
// round that sends nothing; once direct there, more Pongs from the same
// address call for no round.
func TestPathsDecideOnAnswer(t *testing.T) {
	peerEP := netip.MustParseAddrPort("198.51.100.7:51820")
	peer := pathNode("office2", "100.96.0.4", discovery.NATIndependent, false, peerEP.String())
	r1 := pathNode("r1", "100.96.0.1", discovery.NATPublic, true, "203.0.113.1:51820")
	nodes := []*discovery.Node{peer, r1}
	ps := newPaths(slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Unix(1000, 0)
	ps.step(pathInput{now: t0, nodes: nodes})
	ps.step(pathInput{now: t0.Add(punchFor), nodes: nodes})
	if st := ps.peers["office2"]; st.cur.kind != PathRelayed {
		t.Fatalf("path %s before any Pong, want relayed", st.cur.kind)
	}
	if ps.undecided("r1", t0) {
		t.Error("a public gateway taken for an undecided pair")
	}

	at := t0.Add(punchFor + 300*time.Millisecond)
	answer(ps, ps.pingBack(peerEP, at), peerEP, at)
	if !ps.undecided("office2", at) {
		t.Fatal("a relayed pair that just got a Pong is not undecided")
	}
	pings, changed := ps.step(pathInput{now: at, nodes: nodes, round: roundAnswer})
	if len(pings) > 0 {
		t.Errorf("a round on a Pong sent %d pings", len(pings))
	}
	if st := ps.peers["office2"]; !changed || st.cur.kind != PathDirect || st.cur.endpoint != peerEP {
		t.Fatalf("after a round on a Pong: path %+v (changed %v), want direct to %s", st.cur, changed, peerEP)
	}
	if ps.undecided("office2", at) {
		t.Error("a pair direct at an address that answers is still undecided")
	}
	// A round on a Pong is no tick: the public pings keep the clock's pace.
	if ps.ticks != 2 {
		t.Errorf("%d ticks counted, want 2", ps.ticks)
	}
}
