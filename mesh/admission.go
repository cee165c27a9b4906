package mesh

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Admission on the WireGuard port. Every control packet first meets the
// gate on WireGuard's receive goroutine (discovery.Gate): Pings and
// cookie-less Joins are answered there, statelessly and within budget; a
// Pong is matched to its Ping there; only what passed is copied to the Run
// loop, where signatures are checked. So a flood costs a hash and a table
// look-up per packet, and path-keeping Pings and Pongs never wait behind
// admission work.

// controlIn is the device's control handler.
type controlIn struct {
	g *Gateway
	m *membership
}

var _ tunnel.ControlHandler = (*controlIn)(nil)

// pongIn is a Pong that answered one of this gateway's Pings.
type pongIn struct {
	peer     string
	observed netip.AddrPort
}

func (c *controlIn) Control(pkt []byte, from netip.AddrPort, r *tunnel.Reply) {
	v, answer := c.m.gate.Screen(pkt, from, r.Buf())
	switch v {
	case discovery.Answered:
		r.Send(answer) // lost like any datagram: the sender tries again
		if discovery.MsgType(pkt[1]) == discovery.MsgPing {
			c.m.pingedBy(from)
		}
	case discovery.Admit:
		select {
		case c.m.control <- controlPacket{bytes.Clone(pkt), from}:
		default:
			c.m.gate.QueueFull()
		}
	case discovery.PongIn:
		c.pong(pkt, from)
	}
}

// pong notes a Pong with the paths; one from a public gateway also tells
// where this gateway is seen, which the path loop takes up.
func (c *controlIn) pong(pkt []byte, from netip.AddrPort) {
	p, err := discovery.DecodeProbe(pkt)
	peer := ""
	if err == nil && c.g.paths != nil {
		peer = c.g.paths.pong(p, from, time.Now())
	}
	if peer == "" {
		c.m.gate.Unexpected()
		return
	}
	select {
	case c.m.pongs <- pongIn{peer, p.Observed}:
	default: // the next Pong brings the same news
	}
}

// sendJoin sends a Join to target, with the cookie target gave last.
func (g *Gateway) sendJoin(target netip.AddrPort) {
	m := g.members
	nonce, cookie := m.gate.NewJoin(target)
	now := time.Now()
	m.mu.Lock()
	for t, at := range m.joinSent {
		if now.Sub(at) > joinAnswered {
			delete(m.joinSent, t)
		}
	}
	m.joinSent[target] = now
	m.mu.Unlock()
	join := discovery.Admission{Type: discovery.MsgJoin, Cookie: cookie, Nonce: nonce, Record: m.gossip.Self().Encoded}
	if err := g.dev.SendControl(target, join.Encode(m.id.Key)); err != nil {
		g.log.Debug("join not sent", "to", target, "err", err)
	}
}

// joinAnswered is longer than the gate waits for a Welcome (10 s): a Join's
// sending time is kept while an answer can still come.
const joinAnswered = time.Minute

// handleControl acts on an admission message that passed the gate: a
// Cookie (send the Join again with it), a Join with a valid cookie, or a
// Welcome answering our Join. Refusals are counted, not logged one by one.
func (g *Gateway) handleControl(ctx context.Context, cp controlPacket) {
	m := g.members
	if discovery.MsgType(cp.pkt[1]) == discovery.MsgCookie {
		g.sendJoin(cp.from) // the gate kept the cookie
		return
	}
	a, err := discovery.DecodeAdmission(cp.pkt)
	if err != nil {
		m.gossip.Count(err)
		return
	}
	n, err := m.gossip.Verify(a.Record)
	switch {
	case err != nil:
	case !a.SignedBy(n.SigningKey):
		err = &discovery.RefusedError{Reason: discovery.RefusedRecordSig, Err: fmt.Errorf("%v of %q: signature does not verify", a.Type, n.Name)}
	case m.gossip.LeftAfter(n):
		err = &discovery.RefusedError{Reason: discovery.RefusedStale, Err: fmt.Errorf("%v of %q carries version %d, older than the leaving record held", a.Type, n.Name, n.Version)}
	default:
		err = m.gossip.NameHeld(n)
	}
	if err != nil {
		m.gossip.Count(err)
		// One sample per period says why, for the operator of a gateway
		// refused by mistake; the counts are in status and metrics.
		if now := time.Now(); now.Sub(m.lastRefusalLog) >= refusalsEvery {
			m.lastRefusalLog = now
			g.log.Warn("admission refused (one logged per 10 s)", "from", cp.from, "err", err)
		}
		return
	}
	if n.Name == g.cfg.Node.Name {
		return
	}
	m.gossip.Offer(a.Record)
	m.mu.Lock()
	_, known := m.admitted[n.Name]
	m.admitted[n.Name] = admitted{node: n, from: cp.from, at: time.Now()}
	m.mu.Unlock()
	if !known {
		g.log.Info("admitted", "gateway", n.Name, "from", cp.from, "message", a.Type)
	}
	g.logSync(ctx, "admission")
	switch a.Type {
	case discovery.MsgJoin:
		welcome := discovery.Admission{Type: discovery.MsgWelcome, Nonce: a.Nonce, Observed: cp.from, Record: m.gossip.Self().Encoded}
		if err := g.dev.SendControl(cp.from, welcome.Encode(m.id.Key)); err != nil {
			g.log.Warn("welcome not sent", "to", cp.from, "err", err)
		}
	case discovery.MsgWelcome:
		// Only a public gateway sees this one as the internet does; a
		// NATed one's view may be old, or through its own NAT.
		if n.NAT == discovery.NATPublic {
			g.learnReflexive(n.Name, a.Observed)
		}
		m.mu.Lock()
		joined := m.joinSent[cp.from]
		m.mu.Unlock()
		g.kickIfDown(n, joined)
		// Memberlist joins through the tunnel just configured; its TCP
		// connect waits for the WireGuard handshake.
		m.joinOnce(n.Name, func() {
			if _, err := m.gossip.Join(n.Overlay); err != nil {
				g.log.Warn("gossip join failed", "gateway", n.Name, "err", err)
			}
		})
	}
}

// tookPong learns this gateway's reflexive address from a public peer's
// Pong.
func (g *Gateway) tookPong(p pongIn) {
	for _, n := range g.members.gossip.Nodes() {
		if n.Name == p.peer && n.NAT == discovery.NATPublic {
			g.learnReflexive(p.peer, p.observed)
		}
	}
}

// refusals is what the periodic summary last reported.
type refusals map[string]uint64

// refusalsEvery is how often refused input is summarised in the log: at
// most one line per period, whatever a flood sends.
const refusalsEvery = 10 * time.Second

// refused counts every refusal of input from outside so far, by kind and
// reason: control packets the gate dropped, records and admissions that
// did not verify, relayed packets not forwarded or from no relay of ours.
func (g *Gateway) refused() refusals {
	out := refusals{}
	m := g.members
	for r, n := range m.gate.Dropped() {
		out["control "+r] = n
	}
	for r, n := range m.gossip.Refused() {
		out["record "+r] = n
	}
	_, refused, strays := g.dev.RelayStats()
	out["relay refused"], out["relay stray"] = refused, strays
	return out
}

// logRefusals logs what was refused since the last summary, in one line,
// and returns the counts now.
func (g *Gateway) logRefusals(last refusals) refusals {
	now := g.refused()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if d := now[k] - last[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, d))
		}
	}
	if len(parts) > 0 {
		g.log.Warn("refused input from outside", "since", refusalsEvery, "counts", strings.Join(parts, " "))
	}
	return now
}
