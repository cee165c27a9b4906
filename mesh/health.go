package mesh

// Health from the data plane (docs/ARCHITECTURE.md, Health): every gateway
// answers small UDP probes on its overlay address and probes every other
// gateway through its tunnel. A gateway is down after its detection time
// without a sign of life (liveness.go), whatever memberlist thinks; an HA
// group's best healthy member carries its site. The probe socket is bound to the tunnel device as well as
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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
)

// HealthPort is where gateways answer probes, on their overlay address.
const HealthPort = 7947

const (
	probeAsk   = 'P'
	probeReply = 'R'
	probeBye   = 'B' // the sender stops cleanly
)

type health struct {
	conn    *net.UDPConn
	changed func()
	rx      func() map[netip.Addr]uint64 // bytes received per tunnel, by overlay address
	log     *slog.Logger
	done    chan struct{}

	sent, replies atomic.Uint64 // probes sent, replies taken

	mu   sync.Mutex
	live *liveness
}

// HealthStats is what status shows of the health probes.
type HealthStats struct {
	ProbesSent  uint64   `json:"probes_sent"`
	Replies     uint64   `json:"replies"`
	FastTargets int      `json:"fast_targets"` // probed every probe_interval_ms: HA groups' members
	SlowTargets int      `json:"slow_targets"` // probed every 2 s
	Down        []string `json:"down,omitempty"`
}

// stats reads the counters and the targets.
func (h *health) stats() *HealthStats {
	if h == nil {
		return nil
	}
	st := &HealthStats{ProbesSent: h.sent.Load(), Replies: h.replies.Load()}
	h.mu.Lock()
	for _, p := range h.live.peers {
		switch {
		case !p.gone.IsZero():
		case p.fast:
			st.FastTargets++
		default:
			st.SlowTargets++
		}
	}
	for name := range h.live.downNames() {
		st.Down = append(st.Down, name)
	}
	h.mu.Unlock()
	slices.Sort(st.Down)
	return st
}

func startHealth(overlay netip.Addr, interval time.Duration, misses int, holdDown time.Duration, changed func(),
	rx func() map[netip.Addr]uint64, log *slog.Logger) (*health, error) {
	dev, err := deviceWith(overlay)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: discovery.BindToDevice(dev)}
	pc, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(overlay, HealthPort).String())
	if err != nil {
		return nil, err
	}
	h := &health{conn: pc.(*net.UDPConn), changed: changed, rx: rx, log: log, done: make(chan struct{}),
		live: newLiveness(interval, misses, holdDown)}
	go h.serve()
	go h.probeLoop(interval)
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

// setTargets makes the probed gateways the given ones.
func (h *health) setTargets(targets map[netip.Addr]probeTarget) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live.setTargets(targets, time.Now())
}

// down names the gateways counted as failed.
func (h *health) down() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live.downNames()
}

// awaited names the gateways down that may only have lost a handshake.
func (h *health) awaited() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live.awaited(time.Now())
}

// answering says whether the gateway at overlay is probed and answers.
func (h *health) answering(overlay netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live.answering(overlay)
}

// anyAnswering says whether some gateway answers this one's probes.
func (h *health) anyAnswering() bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for a := range h.live.peers {
		if h.live.answering(a) {
			return true
		}
	}
	return false
}

// serve answers probes and takes replies and goodbyes.
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
		seq, src := binary.BigEndian.Uint32(buf[1:5]), from.Addr().Unmap()
		var flips []flip
		switch buf[0] {
		case probeAsk:
			buf[0] = probeReply
			h.conn.WriteToUDPAddrPort(buf[:5], from)
			continue
		case probeReply:
			h.replies.Add(1)
			h.mu.Lock()
			flips = h.live.reply(src, seq, time.Now())
			h.mu.Unlock()
		case probeBye:
			h.mu.Lock()
			flips = h.live.bye(src)
			h.mu.Unlock()
		}
		h.report(flips)
	}
}

// report logs what changed and lets the reconciler recompute.
func (h *health) report(flips []flip) {
	for _, f := range flips {
		switch {
		case f.down && f.silent == 0:
			h.log.Info("gateway stopping: it said goodbye", "gateway", f.name)
		case f.down:
			h.log.Warn("gateway down: no probe answered and no data through its tunnel", "gateway", f.name,
				"silent", f.silent.Round(time.Millisecond), "ever_answered", f.everUp)
		case f.holdDown:
			h.log.Info("gateway healthy again", "gateway", f.name, "hold_down", h.live.holdDown)
		default:
			h.log.Info("gateway answers probes at last", "gateway", f.name)
		}
	}
	if len(flips) > 0 {
		h.changed()
	}
}

// probeLoop starts a round every interval.
func (h *health) probeLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	msg := []byte{probeAsk, 0, 0, 0, 0}
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		h.mu.Lock()
		now := time.Now()
		targets, seq, flips := h.live.round(now, h.rx)
		ended := h.live.awaitEnded(now)
		h.mu.Unlock()
		binary.BigEndian.PutUint32(msg[1:], seq)
		for _, a := range targets {
			h.conn.WriteToUDPAddrPort(msg, netip.AddrPortFrom(a, HealthPort))
		}
		h.sent.Add(uint64(len(targets)))
		h.report(flips)
		if ended && len(flips) == 0 { // report signals on flips
			h.changed()
		}
	}
}

// stop says goodbye to every probed gateway, so that an HA partner takes
// over at once instead of after its detection time, and closes the socket.
func (h *health) stop() {
	close(h.done)
	h.mu.Lock()
	var targets []netip.Addr
	for a, p := range h.live.peers {
		if p.gone.IsZero() {
			targets = append(targets, a)
		}
	}
	h.mu.Unlock()
	bye := []byte{probeBye, 0, 0, 0, 0}
	for _, a := range targets {
		h.conn.WriteToUDPAddrPort(bye, netip.AddrPortFrom(a, HealthPort))
	}
	h.conn.Close()
}
