package mesh

// The decisions of the health probes, as plain state with the time passed
// in: which gateways to probe in a round, and which count as down. The
// sockets are in health.go.
//
// A gateway is down when misses probes since its last sign of life went
// unanswered, each past its retransmission timeout (its smoothed round
// trip plus four deviations, as TCP's RTO, at most a second; replies count
// however late), as BFD counts: detection takes misses probe periods plus
// one RTO, on a long path too.
// A sign of life resets the count: a probe answered, or data received
// through its tunnel, so that a saturated path that drops probes still
// keeps alive a gateway whose data arrives. Counting probes sent, not time,
// means a prober that stalls (a starved CPU, a stopped process) sends none
// and blames nobody; the round after a stall judges nothing, so replies
// queued meanwhile are read first. Gateways an HA decision depends on are
// probed every interval; the others every slowEvery intervals, so probe
// traffic grows with the HA groups, not with the square of the mesh.

import (
	"net/netip"
	"slices"
	"time"
)

// sentRounds is how many rounds back a reply still counts: its round's
// send time gives the round-trip sample.
const sentRounds = 64

type liveness struct {
	interval  time.Duration
	slowEvery uint32 // rounds between probes of a gateway no HA group needs
	misses    int
	holdDown  time.Duration

	peers     map[netip.Addr]*peerLife
	awaitedAt time.Time // the last awaitEnded call
	seq       uint32
	sent      [sentRounds]time.Time // by seq % sentRounds
	lastRound time.Time
}

// probeTarget is a gateway to probe: its name, and whether an HA decision
// depends on its health.
type probeTarget struct {
	name string
	fast bool
}

type peerLife struct {
	name string
	fast bool
	slot uint32 // spreads the slow probes over the rounds

	since    time.Time // probed since then
	gone     time.Time // left the view then; zero while probed
	lastSeen time.Time // the latest sign of life
	everUp   bool      // it has answered a probe

	srtt, rttvar time.Duration
	probes       []time.Time // send times of its first misses probes since silentSince, oldest first

	rx   uint64    // bytes received through its tunnel at rxAt
	rxAt time.Time // zero: not read yet

	down         bool      // counted as failed for HA
	healthySince time.Time // signs of life since then, while down: the hold-down runs
}

// flip is a gateway that went down or came back, for the log.
type flip struct {
	name     string
	down     bool
	everUp   bool
	silent   time.Duration // for one that went down: since its last sign of life
	holdDown bool          // for one that came back: after its hold-down
}

func newLiveness(interval time.Duration, misses int, holdDown time.Duration) *liveness {
	l := &liveness{interval: interval, misses: misses, holdDown: holdDown, peers: map[netip.Addr]*peerLife{}}
	l.slowEvery = l.slowRounds(0)
	return l
}

// Gateways that no HA decision here needs are probed every slowPeriod, or
// less often in a mesh so large that this would pass slowBudget probes per
// second: then the slow probes cost each gateway a constant, and the mesh
// as a whole grows linearly, not with its square.
const (
	slowPeriod = 2 * time.Second
	slowBudget = 50 // probes per second
)

// slowRounds is how many rounds apart n slow targets are probed.
func (l *liveness) slowRounds(n int) uint32 {
	period := max(slowPeriod, time.Duration(n)*time.Second/slowBudget)
	return uint32(max(1, (period+l.interval-1)/l.interval))
}

// forgetAfter is how long the health of a gateway that left the view is
// kept: back within it, a failed one still serves its hold-down.
const forgetAfter = 10 * time.Minute

// setTargets makes the probed gateways the given ones.
func (l *liveness) setTargets(targets map[netip.Addr]probeTarget, now time.Time) {
	for a, p := range l.peers {
		switch _, ok := targets[a]; {
		case ok:
		case p.gone.IsZero():
			p.gone = now
		case now.Sub(p.gone) > forgetAfter:
			delete(l.peers, a)
		}
	}
	for a, t := range targets {
		p, ok := l.peers[a]
		if !ok {
			p = &peerLife{since: now, slot: uint32(len(l.peers))}
			l.peers[a] = p
		}
		if !p.gone.IsZero() {
			// Back in the view: it gets a full detection time again. Still
			// in it, nothing restarts: the view is computed at every
			// membership event, and a busy mesh must not keep a silent
			// gateway from ever being down.
			p.gone, p.since = time.Time{}, now
		}
		p.name, p.fast = t.name, t.fast
	}
	slow := 0
	for _, t := range targets {
		if !t.fast {
			slow++
		}
	}
	l.slowEvery = l.slowRounds(slow)
}

// minRTO is the least time a probe is given, whatever the round trip;
// maxRTO the most. A round trip of seconds is a probe that waited in the
// tunnel for a handshake, not the path: unbounded, that one sample put off
// the detection of a gateway cut off right after it by half a minute.
const (
	minRTO = 10 * time.Millisecond
	maxRTO = time.Second
)

// rto is how long a probe to p is given to be answered.
func (p *peerLife) rto() time.Duration {
	return min(maxRTO, max(minRTO, p.srtt+4*p.rttvar))
}

// missed counts the probes sent to p since its last sign of life that
// are past their time.
func (p *peerLife) missed(now time.Time) int {
	n := 0
	for _, t := range p.probes {
		if t.After(p.silentSince()) && now.Sub(t) > p.rto() {
			n++
		}
	}
	return n
}

// silentSince is when p last showed life, or began to be probed.
func (p *peerLife) silentSince() time.Time {
	if p.lastSeen.After(p.since) {
		return p.lastSeen
	}
	return p.since
}

// round starts a probe round at now: it judges every gateway and returns
// the ones to probe and the round's sequence number. rx, read at most once
// and only when a fast gateway has missed a probe, gives the bytes received
// through each gateway's tunnel by overlay address.
func (l *liveness) round(now time.Time, rx func() map[netip.Addr]uint64) (targets []netip.Addr, seq uint32, flips []flip) {
	// After a stall of this loop, replies that came meanwhile may not be
	// read yet: this round probes but judges nothing.
	judge := l.lastRound.IsZero() || now.Sub(l.lastRound) <= 2*l.interval
	l.lastRound = now
	var counters map[netip.Addr]uint64
	for a, p := range l.peers {
		if !p.gone.IsZero() {
			continue
		}
		if judge {
			flips = l.judge(a, p, now, rx, &counters, flips)
		}
		if p.fast || (l.seq+1+p.slot)%l.slowEvery == 0 {
			targets = append(targets, a)
			// The first misses probes since the last sign of life are the
			// ones judged: the last ones would still be within their RTO
			// whenever it exceeds the probe interval (a long path), and
			// the gateway would never be down.
			silent := p.silentSince()
			p.probes = slices.DeleteFunc(p.probes, func(t time.Time) bool { return !t.After(silent) })
			if len(p.probes) < l.misses {
				p.probes = append(p.probes, now)
			}
		}
	}
	l.seq++
	l.sent[l.seq%sentRounds] = now
	return targets, l.seq, flips
}

// judge counts p's missed probes at now and appends to flips when it went
// down. A probe missed: its data counter is read (counters, once a round),
// the first time as a baseline, so that data flowing meanwhile counts
// before the last of its misses.
func (l *liveness) judge(a netip.Addr, p *peerLife, now time.Time, rx func() map[netip.Addr]uint64, counters *map[netip.Addr]uint64, flips []flip) []flip {
	missed := p.missed(now)
	if p.fast && missed > 0 {
		if *counters == nil && rx != nil {
			*counters = rx()
		}
		l.dataSeen(p, (*counters)[a], now)
		missed = p.missed(now)
	}
	if !p.down && missed >= l.misses {
		p.down, p.healthySince = true, time.Time{}
		flips = append(flips, flip{name: p.name, down: true, everUp: p.everUp, silent: now.Sub(p.silentSince())})
	}
	if p.down && missed > 0 {
		p.healthySince = time.Time{} // the hold-down starts again
	}
	return flips
}

// dataSeen takes p's rx counter at now: bytes received since the last
// reading are a sign of life at that reading, no later.
func (l *liveness) dataSeen(p *peerLife, rx uint64, now time.Time) {
	if !p.rxAt.IsZero() && rx > p.rx && p.rxAt.After(p.lastSeen) {
		p.lastSeen = p.rxAt
	}
	p.rx, p.rxAt = rx, now
}

// reply takes the answer from `from` to the probe of round seq.
func (l *liveness) reply(from netip.Addr, seq uint32, now time.Time) []flip {
	p := l.peers[from]
	if p == nil || !p.gone.IsZero() || l.seq-seq >= sentRounds || seq > l.seq {
		return nil // a stranger, or an answer too old to time
	}
	if sent := l.sent[seq%sentRounds]; !sent.IsZero() && !now.Before(sent) {
		l.sample(p, now.Sub(sent))
	}
	var flips []flip
	switch {
	case !p.everUp && p.down:
		// Its first answer: it had not failed, only never been heard
		// through its tunnel, and there is no hold-down to serve.
		p.down = false
		flips = append(flips, flip{name: p.name})
	case p.down && p.healthySince.IsZero():
		p.healthySince = now
	}
	p.lastSeen, p.everUp = now, true
	if p.down && now.Sub(p.healthySince) >= l.holdDown {
		p.down, p.healthySince = false, time.Time{}
		flips = append(flips, flip{name: p.name, holdDown: true})
	}
	return flips
}

// sample folds a round trip into p's estimate, as TCP does (RFC 6298).
func (l *liveness) sample(p *peerLife, rtt time.Duration) {
	if p.srtt == 0 {
		p.srtt, p.rttvar = rtt, rtt/2
		return
	}
	d := p.srtt - rtt
	if d < 0 {
		d = -d
	}
	p.rttvar = (3*p.rttvar + d) / 4
	p.srtt = (7*p.srtt + rtt) / 8
}

// bye takes the word of a gateway that stops cleanly: down at once.
func (l *liveness) bye(from netip.Addr) []flip {
	p := l.peers[from]
	if p == nil || !p.gone.IsZero() || p.down {
		return nil
	}
	p.down, p.healthySince = true, time.Time{}
	return []flip{{name: p.name, down: true, everUp: p.everUp}}
}

// downNames names the gateways counted as failed. One that has never
// answered counts once its detection time has passed: it must not carry
// an HA group's site, which it could otherwise hold for good.
func (l *liveness) downNames() map[string]bool {
	out := map[string]bool{}
	for _, p := range l.peers {
		if p.down && p.gone.IsZero() {
			out[p.name] = true
		}
	}
	return out
}

// firstAnswerWait is how long a gateway that has not answered since
// probing began may be a lost handshake rather than a failure: WireGuard
// sends a lost handshake again after 5 s (plus up to a third of a second),
// and the probe behind it then needs its round trip.
const firstAnswerWait = 7 * time.Second

// awaited names the gateways counted as failed that have never answered
// and were first probed less than firstAnswerWait ago. Routing to them
// stays refused; a gateway that has just started lets such a partner,
// active before it, keep its site meanwhile (activeFor).
func (l *liveness) awaited(now time.Time) map[string]bool {
	out := map[string]bool{}
	for _, p := range l.peers {
		if p.down && p.gone.IsZero() && !p.everUp && now.Sub(p.since) < firstAnswerWait {
			out[p.name] = true
		}
	}
	return out
}

// awaitEnded says whether the wait for some gateway's first answer ended
// since the last call, the gateway still silent: a decision that let it be
// must be taken again now, not at the next membership event.
func (l *liveness) awaitEnded(now time.Time) bool {
	last := l.awaitedAt
	l.awaitedAt = now
	for _, p := range l.peers {
		end := p.since.Add(firstAnswerWait)
		if p.down && p.gone.IsZero() && !p.everUp && end.After(last) && !end.After(now) {
			return true
		}
	}
	return false
}

// answering says whether the gateway at overlay is probed and answers.
func (l *liveness) answering(overlay netip.Addr) bool {
	p := l.peers[overlay]
	return p != nil && p.gone.IsZero() && p.everUp && !p.down
}
