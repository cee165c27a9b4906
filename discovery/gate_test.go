package discovery

import (
	"crypto/ed25519"
	"net/netip"
	"testing"
	"time"
)

var (
	gateOverlay = netip.MustParseAddr("100.96.0.1")
	joiner      = netip.MustParseAddrPort("203.0.113.10:40000")
	responder   = netip.MustParseAddrPort("203.0.113.20:51820")
)

// testKey signs messages whose signature the gate never looks at.
var testKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// clock is a settable time for gates under test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestGate(c *clock) *Gate {
	return NewGate(GateConfig{Overlay: gateOverlay, Now: c.now})
}

// A Join without a valid cookie gets a Cookie no larger than itself and
// reaches no signature work; the same Join with that cookie, from the same
// address, passes; from another address, or two secret periods later, it
// does not.
func TestGateCookieBeforeVerification(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	resp, join := newTestGate(c), newTestGate(c)
	rec := make([]byte, 300)

	nonce, cookie := join.NewJoin(responder)
	if cookie != (Cookie{}) {
		t.Fatal("a cookie held before any was given")
	}
	pkt := joinPacket(cookie, nonce, rec)
	v, answer := resp.Screen(pkt, joiner, nil)
	if v != Answered || len(answer) != CookieMsgSize || len(answer) > len(pkt) {
		t.Fatalf("cookie-less Join: verdict %v, answer of %d bytes (Join %d)", v, len(answer), len(pkt))
	}
	// The joiner takes the cookie: it answers its own Join, once.
	if v, _ := join.Screen(answer, responder, nil); v != Admit {
		t.Fatalf("the joiner did not take the cookie: %v", v)
	}
	if v, _ := join.Screen(answer, responder, nil); v != Dropped {
		t.Fatal("the joiner took the same cookie twice")
	}
	if v, _ := join.Screen(answer, netip.MustParseAddrPort("203.0.113.99:51820"), nil); v != Dropped {
		t.Fatal("the joiner took a cookie from another address than its Join's")
	}
	nonce, cookie = join.NewJoin(responder)
	if cookie == (Cookie{}) {
		t.Fatal("the joiner holds no cookie after taking one")
	}
	pkt = joinPacket(cookie, nonce, rec)
	if v, _ := resp.Screen(pkt, joiner, nil); v != Admit {
		t.Fatalf("Join with a valid cookie: %v", v)
	}
	if v, _ := resp.Screen(pkt, netip.MustParseAddrPort("203.0.113.10:40001"), nil); v != Answered {
		t.Fatalf("the cookie passed from another port: %v", v)
	}
	c.t = c.t.Add(secretEvery + time.Second) // one rotation: still good
	if v, _ := resp.Screen(pkt, joiner, nil); v != Admit {
		t.Fatalf("the cookie failed one rotation later: %v", v)
	}
	c.t = c.t.Add(secretEvery) // two rotations: gone
	if v, _ := resp.Screen(pkt, joiner, nil); v != Answered {
		t.Fatalf("the cookie passed two rotations later: %v", v)
	}
	if got := resp.Dropped()["no_cookie"]; got != 3 {
		t.Errorf("no_cookie counted %d, want 3", got)
	}
}

// A Welcome passes only as the answer to a Join this gateway sent, from the
// address it went to, once.
func TestGateWelcomeOnlyAnswersAJoin(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	g := newTestGate(c)
	nonce, _ := g.NewJoin(responder)
	welcome := func(n Nonce) []byte {
		return Admission{Type: MsgWelcome, Nonce: n, Record: make([]byte, 100)}.Encode(testKey)
	}
	if v, _ := g.Screen(welcome(Nonce{7}), responder, nil); v != Dropped {
		t.Fatal("a Welcome for no Join passed")
	}
	if v, _ := g.Screen(welcome(nonce), netip.MustParseAddrPort("203.0.113.66:51820"), nil); v != Dropped {
		t.Fatal("a Welcome from another address passed")
	}
	if v, _ := g.Screen(welcome(nonce), responder, nil); v != Admit {
		t.Fatal("the Welcome to our Join did not pass")
	}
	if v, _ := g.Screen(welcome(nonce), responder, nil); v != Dropped {
		t.Fatal("a replayed Welcome passed")
	}
	n2, _ := g.NewJoin(responder)
	c.t = c.t.Add(joinPending + time.Second)
	if v, _ := g.Screen(welcome(n2), responder, nil); v != Dropped {
		t.Fatal("a Welcome after the Join's time passed")
	}
	if got := g.Dropped()["unexpected"]; got != 4 {
		t.Errorf("unexpected counted %d, want 4", got)
	}
}

// Pings are answered with a Pong of the same size, only for this gateway,
// within the answer budget of the source.
func TestGatePingBudget(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	g := newTestGate(c)
	ping := Probe{Type: MsgPing, Nonce: [12]byte{1}, To: gateOverlay}.Encode()
	v, pong := g.Screen(ping, joiner, nil)
	p, err := DecodeProbe(pong)
	if v != Answered || err != nil || p.Type != MsgPong || p.Observed != joiner || len(pong) > len(ping) {
		t.Fatalf("Ping: %v, %x (%v)", v, pong, err)
	}
	other := Probe{Type: MsgPing, To: netip.MustParseAddr("100.96.0.2")}.Encode()
	if v, _ := g.Screen(other, joiner, nil); v != Dropped {
		t.Fatal("a Ping for another gateway was answered")
	}
	answered := 1
	for range 1000 {
		if v, _ := g.Screen(ping, joiner, nil); v == Answered {
			answered++
		}
	}
	if want := DefaultAnswers.PerSourceBurst; answered != want {
		t.Errorf("one source got %d answers in an instant, want its burst of %d", answered, want)
	}
	// Another source has its own budget; time refills the first.
	if v, _ := g.Screen(ping, netip.MustParseAddrPort("[2001:db8::5]:4000"), nil); v != Answered {
		t.Error("another source was refused with the first one's budget spent")
	}
	c.t = c.t.Add(time.Second)
	if v, _ := g.Screen(ping, joiner, nil); v != Answered {
		t.Error("the budget did not refill")
	}
}

// Joins that carry a valid cookie reach verification at most at the
// verification budget, per source and overall.
func TestGateVerifyBudget(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	g := newTestGate(c)
	passed := func(from netip.AddrPort, n int) int {
		cookie := g.secrets.cookie(from, c.t)
		pkt := joinPacket(cookie, Nonce{}, make([]byte, 200))
		got := 0
		for range n {
			if v, _ := g.Screen(pkt, from, nil); v == Admit {
				got++
			}
		}
		return got
	}
	if got := passed(joiner, 100); got != DefaultVerify.PerSourceBurst {
		t.Errorf("one source reached verification %d times, want %d", got, DefaultVerify.PerSourceBurst)
	}
	total := 0
	for i := range 50 {
		total += passed(netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 1000), 1)
	}
	total += passed(netip.MustParseAddrPort("[2001:db8::1]:1"), 1000)
	if max := DefaultVerify.OverallBurst; total > max {
		t.Errorf("%d verifications passed across sources at once, over the overall %d", total, max)
	}
}

func joinPacket(c Cookie, n Nonce, rec []byte) []byte {
	return Admission{Type: MsgJoin, Cookie: c, Nonce: n, Record: rec}.Encode(testKey)
}

// Every byte sequence from any kind of source is screened without a panic,
// and nothing but a valid cookie gets a Join through.
func FuzzGateScreen(f *testing.F) {
	f.Add([]byte{0xf6, 1}, []byte{203, 0, 113, 1}, uint16(1))
	f.Add(Probe{Type: MsgPing, To: gateOverlay}.Encode(), []byte(netip.MustParseAddr("2001:db8::1").AsSlice()), uint16(5))
	f.Add(joinPacket(Cookie{}, Nonce{}, []byte("x")), []byte(netip.MustParseAddr("::ffff:1.2.3.4").AsSlice()), uint16(9))
	f.Add(CookieReply{}.AppendEncode(nil), []byte{1, 2, 3, 4}, uint16(0))
	c := &clock{time.Unix(1e9, 0)}
	g := newTestGate(c)
	f.Fuzz(func(t *testing.T, pkt, addr []byte, port uint16) {
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		from := netip.AddrPortFrom(a, port)
		v, answer := g.Screen(pkt, from, nil)
		if len(answer) > len(pkt) {
			t.Fatalf("a %d-byte packet got a %d-byte answer", len(pkt), len(answer))
		}
		if v == Admit && len(pkt) > 1 && MsgType(pkt[1]) == MsgJoin && !g.secrets.valid(Cookie(pkt[2:]), from, c.t) {
			t.Fatal("a Join without a valid cookie passed")
		}
	})
}

// The cost of screening what a flood sends: garbage, a Join without a
// valid cookie (answered with one, or over budget and dropped), and a
// Ping. Each must stay well under a microsecond and allocate nothing.
func BenchmarkGateScreen(b *testing.B) {
	ping := Probe{Type: MsgPing, To: gateOverlay}.Encode()
	forged := joinPacket(Cookie{}, Nonce{}, make([]byte, 900))
	for _, c := range []struct {
		name    string
		pkt     []byte
		sources int // distinct senders, round robin: 1 spends its budget at once
	}{
		{"garbage", []byte{0xf6, 0x77, 1, 2, 3}, 1},
		{"join-too-short", []byte{0xf6, byte(MsgJoin), 1, 2, 3}, 1},
		{"join-no-cookie-answered", forged, 1 << 20},
		{"join-no-cookie-over-budget", forged, 1},
		{"ping-answered", ping, 1 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := NewGate(GateConfig{Overlay: gateOverlay,
				Answers: BudgetRate{PerSource: 1e9, PerSourceBurst: 1e9, Overall: 1e9, OverallBurst: 1e9}})
			if c.sources == 1 {
				g = NewGate(GateConfig{Overlay: gateOverlay})
			}
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte((i >> 8) % c.sources), byte(i % c.sources)}), uint16(i))
				g.Screen(c.pkt, from, buf)
			}
		})
	}
}
