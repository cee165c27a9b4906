package mesh

// The forwarding check (docs/ARCHITECTURE.md, Health): a site may name a
// probe target, a host inside it. A gateway that is up but cannot reach it is
// failed for that site: it says so in its record, and its HA partner takes
// the site over.

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

type siteCheck struct {
	conn     *icmp.PacketConn
	interval time.Duration
	misses   int
	holdDown time.Duration
	changed  func() // a site went down or came back
	log      *slog.Logger
	done     chan struct{}
	id       int

	mu    sync.Mutex
	sites map[netip.Addr]*siteState // by probe target
	seq   int
}

type siteState struct {
	name         string
	unanswered   int
	down         bool
	healthySince time.Time
}

// startSiteCheck pings each site's probe target; nil when none is set.
func startSiteCheck(targets map[string]netip.Addr, interval time.Duration, misses int, holdDown time.Duration, changed func(), log *slog.Logger) (*siteCheck, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, err
	}
	c := &siteCheck{conn: conn, interval: interval, misses: misses, holdDown: holdDown, changed: changed, log: log,
		done: make(chan struct{}), id: os.Getpid() & 0xffff, sites: map[netip.Addr]*siteState{}}
	for name, t := range targets {
		c.sites[t] = &siteState{name: name}
	}
	go c.receive()
	go c.loop()
	return c, nil
}

// down lists the sites this gateway cannot reach, sorted.
func (c *siteCheck) down() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.sites {
		if s.down {
			out = append(out, s.name)
		}
	}
	slices.Sort(out)
	return out
}

func (c *siteCheck) loop() {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.mu.Lock()
		c.seq++
		seq := c.seq & 0xffff
		flipped := false
		var targets []netip.Addr
		for a, s := range c.sites {
			targets = append(targets, a)
			s.unanswered++
			if s.unanswered > c.misses && !s.down {
				s.down, s.healthySince, flipped = true, time.Time{}, true
				c.log.Warn("own site unreachable: failed for it", "site", s.name, "probe_target", a)
			}
			if s.down && s.unanswered > 1 {
				s.healthySince = time.Time{}
			}
		}
		c.mu.Unlock()
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: c.id, Seq: seq, Data: []byte("vpcmesh site")}}
		b, _ := msg.Marshal(nil)
		for _, a := range targets {
			c.conn.WriteTo(b, &net.IPAddr{IP: a.AsSlice()})
		}
		if flipped {
			c.changed()
		}
	}
}

func (c *siteCheck) receive() {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-c.done:
				return
			default:
				continue
			}
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		ip, ok2 := from.(*net.IPAddr)
		if !ok || !ok2 || e.ID != c.id {
			continue
		}
		a, _ := netip.AddrFromSlice(ip.IP)
		c.answered(a.Unmap())
	}
}

func (c *siteCheck) answered(from netip.Addr) {
	c.mu.Lock()
	s := c.sites[from]
	flipped := false
	if s != nil {
		s.unanswered = 0
		now := time.Now()
		if s.down && s.healthySince.IsZero() {
			s.healthySince = now
		}
		if s.down && now.Sub(s.healthySince) >= c.holdDown {
			s.down, s.healthySince, flipped = false, time.Time{}, true
			c.log.Info("own site reachable again", "site", s.name)
		}
	}
	c.mu.Unlock()
	if flipped {
		c.changed()
	}
}

func (c *siteCheck) stop() {
	if c == nil {
		return
	}
	close(c.done)
	c.conn.Close()
}
