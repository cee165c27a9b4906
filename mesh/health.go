package mesh

// Health from the data plane (docs/ARCHITECTURE.md, Health): every gateway
// answers small UDP probes on its overlay address and probes every other
// gateway through its tunnel. A gateway is down after a few unanswered
// probes, whatever memberlist thinks; an HA group's best healthy member
// carries its site. The probe socket is bound to the tunnel device as well as
// to the overlay address: Linux takes a packet for a local address on any
// interface, and only what came out of the tunnel has a sender WireGuard
// vouches for.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
)

// HealthPort is where gateways answer probes, on their overlay address.
const HealthPort = 7947

const (
	probeAsk   = 'P'
	probeReply = 'R'
)

type health struct {
	conn     *net.UDPConn
	interval time.Duration
	misses   int
	holdDown time.Duration
	changed  func()
	log      *slog.Logger
	done     chan struct{}

	mu    sync.Mutex
	peers map[netip.Addr]*peerHealth
	seq   uint32
}

// forgetAfter is how long the health of a gateway that left the view is
// kept: back within it, a failed one still serves its hold-down.
const forgetAfter = 10 * time.Minute

type peerHealth struct {
	name         string
	gone         time.Time // left the view then; zero while probed
	unanswered   int       // probes sent since the last reply
	down         bool      // counted as failed for HA
	healthySince time.Time // replies since then, while down: the hold-down runs
	everUp       bool      // it has answered a probe
}

func startHealth(overlay netip.Addr, interval time.Duration, misses int, holdDown time.Duration, changed func(), log *slog.Logger) (*health, error) {
	dev, err := deviceWith(overlay)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: discovery.BindToDevice(dev)}
	pc, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(overlay, HealthPort).String())
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	h := &health{conn: conn, interval: interval, misses: misses, holdDown: holdDown, changed: changed, log: log,
		done: make(chan struct{}), peers: map[netip.Addr]*peerHealth{}}
	go h.serve()
	go h.probeLoop()
	return h, nil
}

// deviceWith names the interface that holds addr: the tunnel device, for
// the overlay address.
func deviceWith(addr netip.Addr) (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok {
				if b, ok := netip.AddrFromSlice(p.IP); ok && b.Unmap() == addr {
					return ifc.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no interface holds %s", addr)
}

// setTargets makes the probed gateways the given ones (overlay → name).
func (h *health) setTargets(targets map[netip.Addr]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for a, p := range h.peers {
		switch _, ok := targets[a]; {
		case ok:
		case p.gone.IsZero():
			p.gone = now
		case now.Sub(p.gone) > forgetAfter:
			delete(h.peers, a)
		}
	}
	for a, name := range targets {
		if p, ok := h.peers[a]; ok {
			// Back in the view, its count starts again; still in it, the
			// misses counted stand: the view is computed at every
			// membership event, and a busy mesh would otherwise keep a
			// gateway that answers nothing from ever being down.
			if !p.gone.IsZero() {
				p.gone, p.unanswered = time.Time{}, 0
			}
			p.name = name
		} else {
			h.peers[a] = &peerHealth{name: name}
		}
	}
}

// down names the gateways counted as failed: those that missed more than
// misses probes in a row, whether or not they ever answered one. One that
// never answers must not carry an HA group's site: it would hold it for
// good.
func (h *health) down() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	for _, p := range h.peers {
		if p.down && p.gone.IsZero() {
			out[p.name] = true
		}
	}
	return out
}

// answering says whether the gateway at overlay is probed and answers:
// it has answered, and not missed enough probes since to be down.
func (h *health) answering(overlay netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.peers[overlay]
	return p != nil && p.gone.IsZero() && p.everUp && !p.down
}

// serve answers probes and takes replies.
func (h *health) serve() {
	buf := make([]byte, 64)
	for {
		n, from, err := h.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n != 5 {
			continue
		}
		switch buf[0] {
		case probeAsk:
			buf[0] = probeReply
			h.conn.WriteToUDPAddrPort(buf[:5], from)
		case probeReply:
			h.replied(from.Addr().Unmap(), binary.BigEndian.Uint32(buf[1:5]))
		}
	}
}

func (h *health) replied(from netip.Addr, seq uint32) {
	h.mu.Lock()
	p := h.peers[from]
	if p == nil || seq+1 < h.seq { // a reply to a probe long gone says little
		h.mu.Unlock()
		return
	}
	p.unanswered = 0
	now := time.Now()
	flipped := false
	switch {
	case !p.everUp && p.down:
		// Its first answer: it had not failed, only never been heard
		// through its tunnel, and there is no hold-down to serve.
		p.down, flipped = false, true
		h.log.Info("gateway answers probes at last", "gateway", p.name)
	case p.down && p.healthySince.IsZero():
		p.healthySince = now
	}
	p.everUp = true
	if p.down && !p.healthySince.IsZero() && now.Sub(p.healthySince) >= h.holdDown {
		p.down, p.healthySince, flipped = false, time.Time{}, true
		h.log.Info("gateway healthy again", "gateway", p.name, "hold_down", h.holdDown)
	}
	h.mu.Unlock()
	if flipped {
		h.changed()
	}
}

// probeLoop sends a probe to every target each interval.
func (h *health) probeLoop() {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		targets, msg, flipped := h.round()
		for _, a := range targets {
			h.conn.WriteToUDPAddrPort(msg, netip.AddrPortFrom(a, HealthPort))
		}
		if flipped {
			h.changed()
		}
	}
}

// round counts the probes of the last round that went unanswered and
// returns the targets of the next one, its message, and whether a gateway
// went down.
func (h *health) round() (targets []netip.Addr, msg []byte, flipped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	msg = []byte{probeAsk, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(msg[1:], h.seq)
	for a, p := range h.peers {
		if !p.gone.IsZero() {
			continue
		}
		targets = append(targets, a)
		p.unanswered++
		// One that never answered is down after as many probes as one
		// that did: it must not keep an HA group's site.
		if p.unanswered > h.misses && !p.down {
			p.down, p.healthySince, flipped = true, time.Time{}, true
			h.log.Warn("gateway down: probes through its tunnel unanswered", "gateway", p.name, "missed", h.misses, "ever_answered", p.everUp)
		}
		if p.down && p.unanswered > 1 {
			p.healthySince = time.Time{} // the hold-down starts again
		}
	}
	return targets, msg, flipped
}

func (h *health) stop() {
	close(h.done)
	h.conn.Close()
}
