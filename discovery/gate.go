package discovery

import (
	"crypto/rand"
	"crypto/subtle"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2s"
)

// Gate screens every control packet on the receive path, before anything
// costly: it answers Pings and cookie-less Joins statelessly, within an
// answer budget; lets through Joins whose cookie proves their sender's
// address, within a verification budget; and lets through Welcomes and
// Cookies only when they answer a Join this gateway sent. Everything else
// is dropped and counted by reason; nothing is logged per packet.
//
// Screen is safe for concurrent use and never blocks or allocates.
type Gate struct {
	overlay netip.Addr // Pings for another gateway are not answered
	now     func() time.Time
	secrets secrets
	answers *Budget // Pongs and Cookies
	verify  *Budget // Joins that reach signature work
	counts  [numReasons]atomic.Uint64

	mu      sync.Mutex
	pending map[Nonce]pendingJoin         // Joins this gateway sent
	cookies map[netip.AddrPort]heldCookie // cookies gateways gave this one
}

// GateConfig sets a gate's budgets; zero values take the defaults.
type GateConfig struct {
	Overlay netip.Addr
	Answers BudgetRate
	Verify  BudgetRate
	Now     func() time.Time
}

// Default budgets. Answers: a source is answered at most 50 times a second
// (a NAT with several gateways behind it pings often), all sources 2000
// times; an answer is never larger than what it answers. Verifications:
// each costs 0.1–0.6 ms with the reconcile that follows, so 10 a second per
// source and 100 in all bound them to a few percent of a core.
var (
	DefaultAnswers = BudgetRate{PerSource: 50, PerSourceBurst: 100, Overall: 2000, OverallBurst: 2000}
	DefaultVerify  = BudgetRate{PerSource: 10, PerSourceBurst: 20, Overall: 100, OverallBurst: 100}
)

const (
	// secretEvery is how often the cookie secret rotates; a cookie is
	// good for one to two periods.
	secretEvery = 2 * time.Minute
	// cookieKeep is how long a joiner uses a cookie it was given: well
	// inside the period any cookie is good for.
	cookieKeep = secretEvery / 2
	// joinPending is how long a sent Join waits for its answer.
	joinPending = 10 * time.Second
	// maxHeld bounds the Joins pending and the cookies held: both grow
	// only with the targets this gateway chose itself.
	maxHeld = 4096
)

// Verdict is what the receive path does with a screened packet.
type Verdict int

const (
	Dropped  Verdict = iota // counted; nothing to do
	Answered                // send the answer back to the sender
	Admit                   // copy it to the admission loop: it has passed
	PongIn                  // a Pong: the paths match its nonce
)

// Reasons a control packet was dropped, as status and metrics name them.
const (
	reasonMalformed = iota
	reasonNoCookie
	reasonOverAnswer
	reasonOverVerify
	reasonUnexpected
	reasonMisdirected
	reasonQueueFull
	numReasons
)

var reasonNames = [numReasons]string{
	reasonMalformed:   "malformed",     // too short, wrong size, unknown type
	reasonNoCookie:    "no_cookie",     // a Join without a valid cookie: a Cookie was sent instead
	reasonOverAnswer:  "answer_budget", // an answer over its source's or the overall budget
	reasonOverVerify:  "verify_budget", // a Join over the verification budget
	reasonUnexpected:  "unexpected",    // a Welcome, Cookie or Pong that answers nothing sent
	reasonMisdirected: "misdirected",   // a Ping for another gateway
	reasonQueueFull:   "queue_full",    // the admission loop was behind
}

type pendingJoin struct {
	target    netip.AddrPort
	at        time.Time
	hadCookie bool
}

type heldCookie struct {
	cookie Cookie
	at     time.Time
}

// NewGate makes a gate for the gateway with the given overlay address.
func NewGate(cfg GateConfig) *Gate {
	if cfg.Answers == (BudgetRate{}) {
		cfg.Answers = DefaultAnswers
	}
	if cfg.Verify == (BudgetRate{}) {
		cfg.Verify = DefaultVerify
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gate{overlay: cfg.Overlay, now: cfg.Now, answers: NewBudget(cfg.Answers), verify: NewBudget(cfg.Verify),
		pending: map[Nonce]pendingJoin{}, cookies: map[netip.AddrPort]heldCookie{}}
	g.secrets.rotate(cfg.Now())
	return g
}

// Screen judges one control packet from from. An answer, when the verdict
// is Answered, is appended to buf and returned.
func (g *Gate) Screen(pkt []byte, from netip.AddrPort, buf []byte) (Verdict, []byte) {
	if len(pkt) < 2 {
		return g.drop(reasonMalformed), nil
	}
	// The decoders own the wire layout; none of them copies or allocates.
	switch MsgType(pkt[1]) {
	case MsgPing, MsgPong:
		p, err := DecodeProbe(pkt)
		switch {
		case err != nil:
			return g.drop(reasonMalformed), nil
		case p.Type == MsgPong:
			return PongIn, nil
		}
		return g.ping(p, from, buf)
	case MsgJoin, MsgWelcome:
		a, err := DecodeAdmission(pkt)
		switch {
		case MsgType(pkt[1]) == MsgJoin && err == nil:
			return g.join(a, from, buf)
		case MsgType(pkt[1]) == MsgJoin:
			return g.drop(reasonMalformed), nil
		case err != nil || !g.answered(a.Nonce, from):
			return g.drop(reasonUnexpected), nil
		}
		return Admit, nil
	case MsgCookie:
		c, err := DecodeCookieReply(pkt)
		if err != nil || !g.takeCookie(c.Nonce, c.Cookie, from) {
			return g.drop(reasonUnexpected), nil
		}
		return Admit, nil
	}
	return g.drop(reasonMalformed), nil
}

func (g *Gate) ping(p Probe, from netip.AddrPort, buf []byte) (Verdict, []byte) {
	switch {
	case p.To != g.overlay:
		return g.drop(reasonMisdirected), nil // a candidate address of another gateway, reused here
	case !g.answers.Allow(from.Addr(), g.now()):
		return g.drop(reasonOverAnswer), nil
	}
	pong := Probe{Type: MsgPong, Nonce: p.Nonce, Observed: from}
	return Answered, pong.AppendEncode(buf)
}

func (g *Gate) join(a Admission, from netip.AddrPort, buf []byte) (Verdict, []byte) {
	now := g.now()
	if !g.secrets.valid(a.Cookie, from, now) {
		if !g.answers.Allow(from.Addr(), now) {
			return g.drop(reasonOverAnswer), nil
		}
		g.count(reasonNoCookie)
		reply := CookieReply{Nonce: a.Nonce, Cookie: g.secrets.cookie(from, now)}
		return Answered, reply.AppendEncode(buf)
	}
	if !g.verify.Allow(from.Addr(), now) {
		return g.drop(reasonOverVerify), nil
	}
	return Admit, nil
}

func (g *Gate) drop(reason int) Verdict {
	g.count(reason)
	return Dropped
}

func (g *Gate) count(reason int) { g.counts[reason].Add(1) }

// Unexpected counts a packet the caller found answering nothing (a Pong
// for no Ping).
func (g *Gate) Unexpected() { g.count(reasonUnexpected) }

// QueueFull counts a packet that passed but found the admission loop's
// queue full.
func (g *Gate) QueueFull() { g.count(reasonQueueFull) }

// Dropped returns the packets dropped so far, by reason.
func (g *Gate) Dropped() map[string]uint64 {
	out := make(map[string]uint64, numReasons)
	for i := range g.counts {
		out[reasonNames[i]] = g.counts[i].Load()
	}
	return out
}

// NewJoin registers a Join about to go to target: its fresh nonce and the
// cookie target gave this gateway last (zero for none).
func (g *Gate) NewJoin(target netip.AddrPort) (Nonce, Cookie) {
	var n Nonce
	rand.Read(n[:])
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	c := g.cookies[target]
	if now.Sub(c.at) > cookieKeep {
		c = heldCookie{}
	}
	if len(g.pending) < maxHeld {
		g.pending[n] = pendingJoin{target: target, at: now, hadCookie: c.cookie != Cookie{}}
	}
	return n, c.cookie
}

// answered reports whether a Welcome from from answers a pending Join, and
// consumes that Join: a replayed Welcome finds nothing.
func (g *Gate) answered(n Nonce, from netip.AddrPort) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.pending[n]
	if !ok || p.target != from || g.now().Sub(p.at) > joinPending {
		return false
	}
	delete(g.pending, n)
	return true
}

// takeCookie keeps the cookie from a Cookie message that answers a pending
// Join sent without one, and consumes that Join; it reports whether the
// Join is to be sent again. A Join that carried a cookie and still got a
// Cookie is not sent again at once, so a gateway that keeps refusing
// cookies gets one Join per round, not a loop.
func (g *Gate) takeCookie(n Nonce, c Cookie, from netip.AddrPort) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.pending[n]
	if !ok || p.target != from || now.Sub(p.at) > joinPending {
		return false
	}
	delete(g.pending, n)
	if _, held := g.cookies[from]; held || len(g.cookies) < maxHeld {
		g.cookies[from] = heldCookie{c, now}
	}
	return !p.hadCookie
}

// expire drops pending Joins and held cookies past their time. Called with
// g.mu held.
func (g *Gate) expire(now time.Time) {
	for n, p := range g.pending {
		if now.Sub(p.at) > joinPending {
			delete(g.pending, n)
		}
	}
	for a, c := range g.cookies {
		if now.Sub(c.at) > cookieKeep {
			delete(g.cookies, a)
		}
	}
}

// secrets are the cookie secrets: the current one and the one before it.
type secrets struct {
	mu   sync.Mutex
	keys atomic.Pointer[secretPair]
}

type secretPair struct {
	cur, prev [32]byte
	since     time.Time
}

func (s *secrets) rotate(now time.Time) *secretPair {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.keys.Load()
	if old != nil && now.Sub(old.since) < secretEvery {
		return old // another goroutine rotated first
	}
	p := &secretPair{since: now}
	rand.Read(p.cur[:])
	if old != nil && now.Sub(old.since) < 2*secretEvery {
		p.prev = old.cur
	}
	s.keys.Store(p)
	return p
}

func (s *secrets) current(now time.Time) *secretPair {
	p := s.keys.Load()
	if now.Sub(p.since) >= secretEvery {
		p = s.rotate(now)
	}
	return p
}

// cookie is the cookie for from under the current secret.
func (s *secrets) cookie(from netip.AddrPort, now time.Time) Cookie {
	return mac(&s.current(now).cur, from)
}

// valid reports whether c is from's cookie under the current or the
// previous secret.
func (s *secrets) valid(c Cookie, from netip.AddrPort, now time.Time) bool {
	p := s.current(now)
	if want := mac(&p.cur, from); subtle.ConstantTimeCompare(c[:], want[:]) == 1 {
		return true
	}
	want := mac(&p.prev, from)
	return p.prev != [32]byte{} && subtle.ConstantTimeCompare(c[:], want[:]) == 1
}

// mac is BLAKE2s keyed by prefix, over the address and port, cut to a
// cookie.
func mac(secret *[32]byte, from netip.AddrPort) Cookie {
	var b [32 + 16 + 2]byte
	copy(b[:32], secret[:])
	a := from.Addr().Unmap().As16()
	copy(b[32:48], a[:])
	b[48], b[49] = byte(from.Port()>>8), byte(from.Port())
	sum := blake2s.Sum256(b[:])
	return Cookie(sum[:CookieSize])
}
