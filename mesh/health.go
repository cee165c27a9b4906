package mesh

// Health from the data plane (DESIGN §5): every gateway answers small UDP
// probes on its overlay address and probes every other gateway through
// its tunnel. A gateway is down after a few unanswered probes, whatever
// memberlist thinks; an HA group's best healthy member carries its site.

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
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
	everUp       bool
}

func startHealth(overlay netip.Addr, interval time.Duration, misses int, holdDown time.Duration, changed func(), log *slog.Logger) (*health, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(overlay, HealthPort)))
	if err != nil {
		return nil, err
	}
	h := &health{conn: conn, interval: interval, misses: misses, holdDown: holdDown, changed: changed, log: log,
		done: make(chan struct{}), peers: map[netip.Addr]*peerHealth{}}
	go h.serve()
	go h.probeLoop()
	return h, nil
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
			p.name, p.gone, p.unanswered = name, time.Time{}, 0
		} else {
			h.peers[a] = &peerHealth{name: name}
		}
	}
}

// down names the gateways counted as failed.
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
	case !p.everUp:
		p.everUp = true
	case p.down && p.healthySince.IsZero():
		p.healthySince = now
	}
	if p.down && !p.healthySince.IsZero() && now.Sub(p.healthySince) >= h.holdDown {
		p.down, p.healthySince, flipped = false, time.Time{}, true
		h.log.Info("gateway healthy again", "gateway", p.name, "hold_down", h.holdDown)
	}
	h.mu.Unlock()
	if flipped {
		h.changed()
	}
}

// probeLoop sends a probe to every target each interval and counts the
// unanswered ones.
func (h *health) probeLoop() {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		h.mu.Lock()
		h.seq++
		msg := []byte{probeAsk, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(msg[1:], h.seq)
		flipped := false
		var targets []netip.Addr
		for a, p := range h.peers {
			if !p.gone.IsZero() {
				continue
			}
			targets = append(targets, a)
			p.unanswered++
			if p.unanswered > h.misses && p.everUp && !p.down {
				p.down, p.healthySince, flipped = true, time.Time{}, true
				h.log.Warn("gateway down: probes through its tunnel unanswered", "gateway", p.name, "missed", h.misses)
			}
			if p.down && p.unanswered > 1 {
				p.healthySince = time.Time{} // the hold-down starts again
			}
		}
		h.mu.Unlock()
		for _, a := range targets {
			h.conn.WriteToUDPAddrPort(msg, netip.AddrPortFrom(a, HealthPort))
		}
		if flipped {
			h.changed()
		}
	}
}

func (h *health) stop() {
	close(h.done)
	h.conn.Close()
}
