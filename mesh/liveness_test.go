package mesh

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// probeSim drives a liveness with a clock of its own: one round every
// interval, the peer's replies arriving rtt after each probe unless lost.
type probeSim struct {
	l     *liveness
	now   time.Time
	peer  netip.Addr
	rx    uint64 // bytes received through the peer's tunnel
	downs []time.Time
	ups   []time.Time
	// pending replies: arrival time and round
	pending []struct {
		at  time.Time
		seq uint32
	}
}

const simInterval = 200 * time.Millisecond

func newProbeSim(fast bool) *probeSim {
	s := &probeSim{l: newLiveness(simInterval, 3, 10*time.Second), now: time.Unix(1e9, 0),
		peer: netip.MustParseAddr("100.96.0.2")}
	s.l.setTargets(map[netip.Addr]probeTarget{s.peer: {"gw-a1", fast}}, s.now)
	return s
}

// run advances the clock by d, one round per interval (plus stall, once,
// before the first round), delivering replies that arrive meanwhile.
// answer says whether the probe of a round is answered, and after what
// round trip.
func (s *probeSim) run(d time.Duration, answer func(round int) (time.Duration, bool), dataRate uint64) {
	end := s.now.Add(d)
	for i := 0; s.now.Add(simInterval).Before(end) || s.now.Add(simInterval).Equal(end); i++ {
		next := s.now.Add(simInterval)
		s.deliver(next)
		s.now = next
		s.rx += dataRate
		targets, seq, flips := s.l.round(s.now, func() map[netip.Addr]uint64 { return map[netip.Addr]uint64{s.peer: s.rx} })
		s.note(flips, s.now)
		for _, a := range targets {
			if a != s.peer {
				continue
			}
			if rtt, ok := answer(i); ok {
				s.pending = append(s.pending, struct {
					at  time.Time
					seq uint32
				}{s.now.Add(rtt), seq})
			}
		}
	}
}

func (s *probeSim) deliver(until time.Time) {
	rest := s.pending[:0]
	for _, p := range s.pending {
		if p.at.After(until) {
			rest = append(rest, p)
			continue
		}
		s.note(s.l.reply(s.peer, p.seq, p.at), p.at)
	}
	s.pending = rest
}

func (s *probeSim) note(flips []flip, at time.Time) {
	for _, f := range flips {
		if f.down {
			s.downs = append(s.downs, at)
		} else {
			s.ups = append(s.ups, at)
		}
	}
}

func always(rtt time.Duration) func(int) (time.Duration, bool) {
	return func(int) (time.Duration, bool) { return rtt, true }
}

// A gateway that dies is down within three probe periods and a round of
// its last answer: the default failover budget.
func TestLivenessDetectsDeathInThreePeriods(t *testing.T) {
	for _, rtt := range []time.Duration{time.Millisecond, 150 * time.Millisecond} {
		s := newProbeSim(true)
		s.run(5*time.Second, always(rtt), 0)
		if len(s.downs) != 0 {
			t.Fatalf("rtt %v: down while answering every probe", rtt)
		}
		died := s.now
		s.run(3*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
		if len(s.downs) != 1 {
			t.Fatalf("rtt %v: %d downs after it died, want 1", rtt, len(s.downs))
		}
		took := s.downs[0].Sub(died)
		t.Logf("rtt %v: down %v after its death", rtt, took)
		if limit := 3*simInterval + simInterval; took > limit {
			t.Errorf("rtt %v: down %v after its death, want at most %v", rtt, took, limit)
		}
	}
}

// Round trips longer than the probe interval, with jitter, are no sign
// of death: replies count late, and the detection time grows with the
// measured round trip.
func TestLivenessSlowPathNoFalseDown(t *testing.T) {
	s := newProbeSim(true)
	rtts := []time.Duration{150, 170, 130, 420, 650, 600, 380, 160} // ms, a queue filling and draining
	s.run(60*time.Second, func(i int) (time.Duration, bool) {
		return rtts[(i/10)%len(rtts)] * time.Millisecond, true
	}, 0)
	if len(s.downs) != 0 {
		t.Errorf("down %d times on a slow path whose probes are all answered", len(s.downs))
	}
}

// A saturated path drops most probes, but the data through the tunnel
// proves the gateway alive; when the data stops too, it is down.
func TestLivenessDataIsSignOfLife(t *testing.T) {
	s := newProbeSim(true)
	s.run(2*time.Second, always(time.Millisecond), 0)
	lossy := func(i int) (time.Duration, bool) { return 150 * time.Millisecond, i%8 == 0 }
	s.run(60*time.Second, lossy, 1<<20)
	if len(s.downs) != 0 {
		t.Fatalf("down while its tunnel delivered data: %v", s.downs)
	}
	s.run(2*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
	if len(s.downs) != 1 {
		t.Errorf("silent and no data: %d downs, want 1", len(s.downs))
	}
}

// A stall of the prober itself (a starved CPU, a stopped process) is not
// the peer's silence: it sends no probes meanwhile, and the round after
// the stall judges nothing, so that replies that came in before it but
// were not read yet (the reader starved first) are read before judging.
func TestLivenessProberStall(t *testing.T) {
	s := newProbeSim(true)
	s.run(2*time.Second, always(time.Millisecond), 0)
	// Three rounds whose replies arrive but stay unread; then the loop
	// wakes 1.5 s late and runs its round before the reader catches up.
	s.deliver(s.now.Add(time.Millisecond))
	var unread []uint32
	for range 3 {
		s.now = s.now.Add(simInterval)
		_, seq, flips := s.l.round(s.now, nil)
		s.note(flips, s.now)
		unread = append(unread, seq)
	}
	s.now = s.now.Add(1500 * time.Millisecond)
	_, _, flips := s.l.round(s.now, nil)
	s.note(flips, s.now)
	for _, seq := range unread {
		s.note(s.l.reply(s.peer, seq, s.now.Add(time.Millisecond)), s.now)
	}
	s.run(2*time.Second, always(time.Millisecond), 0)
	if len(s.downs) != 0 {
		t.Errorf("down after the prober itself stalled: %v", s.downs)
	}
}

// Gateways no HA decision depends on are probed every slowPeriod, and
// are down after three of those.
func TestLivenessSlowTargets(t *testing.T) {
	s := newProbeSim(false)
	probes := 0
	s.run(20*time.Second, func(int) (time.Duration, bool) { probes++; return time.Millisecond, true }, 0)
	if want := int(20 * time.Second / slowPeriod); probes < want-1 || probes > want+1 {
		t.Errorf("%d probes in 20 s to a gateway no HA group needs, want about %d", probes, want)
	}
	died := s.now
	s.run(10*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
	if len(s.downs) != 1 || s.downs[0].Sub(died) < 3*slowPeriod-slowPeriod || s.downs[0].Sub(died) > 3*slowPeriod+slowPeriod {
		t.Errorf("slow target died at %v: downs %v", died, s.downs)
	}
}

// A goodbye takes a gateway down at once; back, it serves the hold-down,
// which starts again after any silence.
func TestLivenessByeAndHoldDown(t *testing.T) {
	s := newProbeSim(true)
	s.run(time.Second, always(time.Millisecond), 0)
	s.note(s.l.bye(s.peer), s.now)
	if !s.l.downNames()["gw-a1"] {
		t.Fatal("not down after its goodbye")
	}
	s.run(3*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
	back := s.now
	s.run(6*time.Second, always(time.Millisecond), 0)
	// A second of silence in the hold-down: it starts again.
	s.run(time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
	again := s.now
	s.run(12*time.Second, always(time.Millisecond), 0)
	if len(s.ups) != 1 {
		t.Fatalf("ups %v, want one", s.ups)
	}
	if up := s.ups[0].Sub(again); up < 10*time.Second || up > 10*time.Second+2*simInterval {
		t.Errorf("up %v after answering again (first back at %v), want the 10 s hold-down from the last silence", up, s.ups[0].Sub(back))
	}
}

// Probe traffic grows with the HA groups a gateway routes to, not with the
// square of the mesh: the probes one gateway sends per second, against
// probing every gateway at the interval. The mesh: a tenth of the gateways
// serve sites in HA pairs; sites export to one of `projects` projects
// (this gateway's: "alpha"), HA pairs spread evenly over them.
func TestProbeRateScales(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(gossipGW))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ gateways, pairs, projects int }{{6, 1, 1}, {200, 10, 1}, {200, 10, 10}, {1000, 50, 50}} {
		var nodes []*discovery.Node
		fastWant := 0
		for i := range c.gateways - 1 {
			site, project := fmt.Sprintf("site-%d", i), "alpha"
			if i < 2*c.pairs {
				site = fmt.Sprintf("pair-%d", i/2)
				if (i/2)%c.projects != 0 {
					project = fmt.Sprintf("p%d", (i/2)%c.projects)
				} else {
					fastWant++
				}
			}
			n := &discovery.Node{Overlay: netip.AddrFrom4([4]byte{100, 96, byte(i >> 8), byte(i)}),
				Sites: []cert.Site{{Name: site, Exports: []cert.Export{{Project: project}}}}}
			n.Name = fmt.Sprintf("gw-%d", i)
			nodes = append(nodes, n)
		}
		l := newLiveness(simInterval, 3, 10*time.Second)
		now := time.Unix(1e9, 0)
		l.setTargets(probeTargets(cfg, nodes), now)
		sent := 0
		const rounds = 100 // 20 s
		for range rounds {
			now = now.Add(simInterval)
			targets, _, _ := l.round(now, nil)
			sent += len(targets)
		}
		perSecond := float64(sent) / (rounds * simInterval).Seconds()
		allFast := float64(c.gateways-1) / simInterval.Seconds()
		slow := c.gateways - 1 - fastWant
		every := time.Duration(l.slowEvery) * simInterval
		t.Logf("%d gateways, %d HA pairs over %d projects: %d probed every %v, %d every %v: %.1f probes/s sent per gateway (and as many answered); %.0f if all were probed every %v",
			c.gateways, c.pairs, c.projects, fastWant, simInterval, slow, every, perSecond, allFast, simInterval)
		if every < slowPeriod || float64(slow)/every.Seconds() > slowBudget*1.05 {
			t.Errorf("%d slow targets probed every %v: want at least %v and at most %d probes/s", slow, every, slowPeriod, slowBudget)
		}
		want := float64(fastWant)/simInterval.Seconds() + float64(slow)/every.Seconds()
		if perSecond > want*1.05 || perSecond < want*0.95 {
			t.Errorf("%d gateways: %.1f probes/s, want %.1f", c.gateways, perSecond, want)
		}
	}
}

// On a path whose round trip exceeds the probe interval, a gateway that
// dies is still down: within its misses probes plus one retransmission
// timeout, not never.
func TestLivenessDetectsDeathOnLongPath(t *testing.T) {
	for _, rtt := range []time.Duration{250 * time.Millisecond, 700 * time.Millisecond} {
		s := newProbeSim(true)
		s.run(10*time.Second, always(rtt), 0)
		// Before its first answer it may count as never answering; after,
		// it must stay up.
		if len(s.ups) > 0 && len(s.downs) > 0 && s.downs[len(s.downs)-1].After(s.ups[0]) {
			t.Fatalf("rtt %v: down at %v while answering every probe", rtt, s.downs)
		}
		s.downs = nil
		died := s.now
		s.run(10*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
		if len(s.downs) != 1 {
			t.Fatalf("rtt %v: %d downs in the 10 s after it died, want 1", rtt, len(s.downs))
		}
		took := s.downs[0].Sub(died)
		t.Logf("rtt %v: down %v after its death", rtt, took)
		// Its answers to the probes before its death arrive for one more
		// round trip.
		if limit := rtt + 3*simInterval + maxRTO + simInterval; took > limit {
			t.Errorf("rtt %v: down %v after its death, want at most %v", rtt, took, limit)
		}
	}
}

// A probe that waited in the tunnel for a handshake is answered seconds
// late; that one round trip must not make the gateway undetectable when
// it then falls silent (a partition right after the handshake).
func TestLivenessLateFirstAnswer(t *testing.T) {
	s := newProbeSim(false)
	first := true
	s.run(8*time.Second, func(int) (time.Duration, bool) { ok := first; first = false; return 10 * time.Second, ok }, 0)
	s.run(5*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
	if len(s.ups) != 1 {
		t.Fatalf("%d first answers, want 1 (the probe held 10 s)", len(s.ups))
	}
	answered := s.ups[0]
	s.downs = nil
	s.run(20*time.Second, func(int) (time.Duration, bool) { return 0, false }, 0)
	if len(s.downs) != 1 {
		t.Fatalf("silent since its one late answer: %d downs in the 20 s after, want 1", len(s.downs))
	}
	took := s.downs[0].Sub(answered)
	t.Logf("down %v after its one answer", took)
	if limit := 3*slowPeriod + maxRTO + slowPeriod; took > limit {
		t.Errorf("down %v after its one answer, want at most %v", took, limit)
	}
}

// A gateway that has not answered since probing began is down after its
// detection time, as any other; for firstAnswerWait it is also awaited
// (perhaps a lost handshake), and not once it has answered or the wait is
// over.
func TestLivenessAwaitsFirstAnswer(t *testing.T) {
	silent := func(int) (time.Duration, bool) { return 0, false }
	s := newProbeSim(true)
	start := s.now
	s.run(time.Second, silent, 0)
	if len(s.downs) != 1 || !s.l.downNames()["gw-a1"] {
		t.Fatalf("never answering for 1 s: downs %v, down %v; want down", s.downs, s.l.downNames())
	}
	if !s.l.awaited(s.now)["gw-a1"] {
		t.Fatalf("never answering, %v after its first probe: not awaited", s.now.Sub(start))
	}
	// The end of the wait is told once, at the round after it: the site
	// decision is taken again then.
	var ended []time.Duration
	for s.now.Sub(start) < firstAnswerWait+time.Second {
		s.run(simInterval, silent, 0)
		if s.l.awaitEnded(s.now) {
			ended = append(ended, s.now.Sub(start))
		}
	}
	if len(ended) != 1 || ended[0] < firstAnswerWait || ended[0] > firstAnswerWait+simInterval {
		t.Errorf("the wait's end told at %v after the first probe, want once, within a round of %v", ended, firstAnswerWait)
	}
	if s.l.awaited(s.now)["gw-a1"] || !s.l.downNames()["gw-a1"] {
		t.Errorf("never answering %v after its first probe: awaited %v, down %v; want down only",
			s.now.Sub(start), s.l.awaited(s.now), s.l.downNames())
	}

	// Answered once, then silent: a failure like any other, not awaited.
	s = newProbeSim(true)
	s.run(time.Second, always(time.Millisecond), 0)
	s.run(time.Second, silent, 0)
	if !s.l.downNames()["gw-a1"] || s.l.awaited(s.now)["gw-a1"] {
		t.Errorf("silent after answering: down %v, awaited %v; want down only", s.l.downNames(), s.l.awaited(s.now))
	}
}
