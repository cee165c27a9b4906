package names

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	server = netip.MustParseAddrPort("100.64.0.1:53")
)

func positive(t testing.TB, name string, records ...string) (Key, *dns.Msg) {
	t.Helper()
	q := question(name, dns.TypeA)
	return KeyFor(server, q), reply(t, q, records...)
}

// negative is an NXDOMAIN (or, with rcode NOERROR, a NODATA) with the zone's SOA.
func negative(t testing.TB, name string, rcode int, soa string) (Key, *dns.Msg) {
	t.Helper()
	q := question(name, dns.TypeA)
	m := reply(t, q)
	m.Rcode = rcode
	rr, err := dns.NewRR(soa)
	if err != nil {
		t.Fatal(err)
	}
	m.Ns = []dns.RR{rr}
	return KeyFor(server, q), m
}

func ttls(m *dns.Msg) []uint32 {
	var out []uint32
	for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			out = append(out, rr.Header().Ttl)
		}
	}
	return out
}

func TestCacheTTLDecrements(t *testing.T) {
	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.",
		"db.corp.internal. 300 IN A 10.0.0.20",
		"--",
		"ns.corp.internal. 1000 IN A 10.0.0.2",
		"old.corp.internal. 5 IN A 10.0.0.3")
	m.SetEdns0(1232, true) // the OPT "TTL" carries the DO bit: must survive
	c.Put(k, m, t0)

	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{0, "[300 1000 5 32768]"},
		{999 * time.Millisecond, "[300 1000 5 32768]"}, // whole seconds only
		{10 * time.Second, "[290 990 0 32768]"},        // never below zero
		{299 * time.Second, "[1 701 0 32768]"},
	} {
		got := c.Get(k, t0.Add(tc.after))
		if got == nil {
			t.Fatalf("Get after %v = nil", tc.after)
		}
		if s := fmt.Sprint(ttls(got)); s != tc.want {
			t.Errorf("TTLs after %v = %s, want %s", tc.after, s, tc.want)
		}
		if got.IsEdns0() == nil || !got.IsEdns0().Do() {
			t.Errorf("after %v: OPT lost its DO bit", tc.after)
		}
	}
}

func TestCacheExpiresAtTTL(t *testing.T) {
	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.", "db.corp.internal. 60 IN A 10.0.0.20")
	c.Put(k, m, t0)
	if got := c.Get(k, t0.Add(59*time.Second+999*time.Millisecond)); got == nil || got.Answer[0].Header().Ttl != 1 {
		t.Fatalf("Get just before expiry = %v, want TTL 1", got)
	}
	if got := c.Get(k, t0.Add(60*time.Second)); got != nil {
		t.Errorf("Get at the TTL = %v, want nil", got)
	}
	if c.Len() != 0 {
		t.Errorf("Len after expiry = %d, want 0", c.Len())
	}
}

func TestCacheTTLIsTheLeast(t *testing.T) {
	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.",
		"db.corp.internal. 300 IN A 10.0.0.20",
		"db.corp.internal. 300 IN A 10.0.0.21",
		"--",
		"ns.corp.internal. 10 IN A 10.0.0.2") // additional: does not count
	ns, _ := dns.NewRR("corp.internal. 100 IN NS ns.corp.internal.")
	m.Ns = []dns.RR{ns}
	c.Put(k, m, t0)
	if c.Get(k, t0.Add(99*time.Second)) == nil {
		t.Error("expired before the authority's TTL")
	}
	if c.Get(k, t0.Add(100*time.Second)) != nil {
		t.Error("kept past the authority's TTL")
	}
}

func TestCacheCapsAtMaxTTL(t *testing.T) {
	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.", "db.corp.internal. 86400 IN A 10.0.0.20")
	c.Put(k, m, t0)
	if got := c.Get(k, t0.Add(MaxTTL-time.Second)); got == nil || got.Answer[0].Header().Ttl != 86400-3599 {
		t.Errorf("Get before MaxTTL = %v", got)
	}
	if c.Get(k, t0.Add(MaxTTL)) != nil {
		t.Error("kept past MaxTTL")
	}
}

func TestCacheNegative(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rcode int
		soa   string
		keep  time.Duration
	}{
		{"NXDOMAIN by SOA minimum", dns.RcodeNameError,
			"corp.internal. 3600 IN SOA ns.corp.internal. admin.corp.internal. 1 7200 900 1209600 30", 30 * time.Second},
		{"NODATA by SOA minimum", dns.RcodeSuccess,
			"corp.internal. 3600 IN SOA ns.corp.internal. admin.corp.internal. 1 7200 900 1209600 45", 45 * time.Second},
		{"NXDOMAIN by SOA TTL when less", dns.RcodeNameError,
			"corp.internal. 20 IN SOA ns.corp.internal. admin.corp.internal. 1 7200 900 1209600 300", 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCache(10)
			k, m := negative(t, "nope.corp.internal.", tc.rcode, tc.soa)
			c.Put(k, m, t0)
			got := c.Get(k, t0.Add(tc.keep-time.Second))
			if got == nil {
				t.Fatalf("expired before %v", tc.keep)
			}
			if got.Rcode != tc.rcode || len(got.Ns) != 1 {
				t.Errorf("got rcode %d with %d authority records", got.Rcode, len(got.Ns))
			}
			if c.Get(k, t0.Add(tc.keep)) != nil {
				t.Errorf("kept past %v", tc.keep)
			}
		})
	}
}

func TestCacheDoesNotStore(t *testing.T) {
	soa := "corp.internal. 3600 IN SOA ns.corp.internal. admin.corp.internal. 1 7200 900 1209600 30"
	cases := map[string]func() (Key, *dns.Msg){
		"nil": func() (Key, *dns.Msg) { return KeyFor(server, question("x.", dns.TypeA)), nil },
		"truncated": func() (Key, *dns.Msg) {
			k, m := positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20")
			m.Truncated = true
			return k, m
		},
		"SERVFAIL": func() (Key, *dns.Msg) {
			k, m := negative(t, "db.corp.internal.", dns.RcodeServerFailure, soa)
			return k, m
		},
		"REFUSED": func() (Key, *dns.Msg) {
			k, m := positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20")
			m.Rcode = dns.RcodeRefused
			return k, m
		},
		"TTL 0": func() (Key, *dns.Msg) {
			return positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20", "db.corp.internal. 0 IN A 10.0.0.21")
		},
		"SOA minimum 0": func() (Key, *dns.Msg) {
			return negative(t, "nope.corp.internal.", dns.RcodeNameError,
				"corp.internal. 3600 IN SOA ns.corp.internal. admin.corp.internal. 1 7200 900 1209600 0")
		},
		"NOERROR, no answer, no SOA (a referral)": func() (Key, *dns.Msg) {
			k, m := positive(t, "db.sub.corp.internal.")
			ns, _ := dns.NewRR("sub.corp.internal. 300 IN NS ns.sub.corp.internal.")
			m.Ns = []dns.RR{ns}
			return k, m
		},
		"NOERROR, empty": func() (Key, *dns.Msg) { return positive(t, "db.corp.internal.") },
		"NXDOMAIN without SOA": func() (Key, *dns.Msg) {
			k, m := positive(t, "nope.corp.internal.")
			m.Rcode = dns.RcodeNameError
			return k, m
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			c := NewCache(10)
			k, m := build()
			c.Put(k, m, t0)
			if c.Len() != 0 || c.Get(k, t0) != nil {
				t.Errorf("stored")
			}
		})
	}
}

func TestCacheLRU(t *testing.T) {
	c := NewCache(2)
	key := func(i int) (Key, *dns.Msg) {
		name := fmt.Sprintf("h%d.corp.internal.", i)
		return positive(t, name, name+" 300 IN A 10.0.0.20")
	}
	k1, m1 := key(1)
	k2, m2 := key(2)
	k3, m3 := key(3)
	c.Put(k1, m1, t0)
	c.Put(k2, m2, t0)
	if c.Get(k1, t0) == nil { // k1 is now the most recently used
		t.Fatal("k1 missing")
	}
	c.Put(k3, m3, t0)
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if c.Get(k2, t0) != nil {
		t.Error("k2, least recently used, was kept")
	}
	if c.Get(k1, t0) == nil || c.Get(k3, t0) == nil {
		t.Error("k1 or k3 evicted instead of k2")
	}

	// Putting a key again refreshes it rather than adding one.
	c.Put(k1, m1, t0.Add(time.Minute))
	if c.Len() != 2 {
		t.Errorf("Len after re-Put = %d, want 2", c.Len())
	}
	if got := c.Get(k1, t0.Add(time.Minute)); got == nil || got.Answer[0].Header().Ttl != 300 {
		t.Errorf("re-Put did not restart the TTL: %v", got)
	}
	c.Put(k2, m2, t0.Add(time.Minute)) // k3 is now the least recently used
	if c.Get(k3, t0.Add(time.Minute)) != nil || c.Get(k1, t0.Add(time.Minute)) == nil {
		t.Error("wrong entry evicted after re-Put")
	}
}

func TestCacheZeroMax(t *testing.T) {
	c := NewCache(0)
	k, m := positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20")
	c.Put(k, m, t0)
	if c.Len() != 0 || c.Get(k, t0) != nil {
		t.Error("a cache of size 0 stored a reply")
	}
}

func TestCacheCopies(t *testing.T) {
	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20")
	c.Put(k, m, t0)
	m.Answer[0].(*dns.A).A[3] = 99 // the caller's message is its own after Put
	m.Answer[0].Header().Ttl = 1

	got := c.Get(k, t0)
	got.Answer[0].(*dns.A).A[3] = 98
	got.Answer[0].Header().Ttl = 2
	got.Answer = append(got.Answer, got.Answer[0])
	got.Rcode = dns.RcodeServerFailure

	again := c.Get(k, t0)
	if len(again.Answer) != 1 || again.Rcode != dns.RcodeSuccess {
		t.Fatalf("stored reply changed: %v", again)
	}
	checkRecords(t, "answer", again.Answer, "db.corp.internal. 300 IN A 10.0.0.20")
}

func TestKeyFor(t *testing.T) {
	a := KeyFor(server, question("DB.Corp.Internal", dns.TypeA))
	b := KeyFor(server, question("db.corp.internal.", dns.TypeA))
	if a != b || a.Name != "db.corp.internal." {
		t.Errorf("KeyFor = %+v and %+v, want one key named db.corp.internal.", a, b)
	}
	for _, other := range []Key{
		KeyFor(netip.MustParseAddrPort("100.64.0.2:53"), question("db.corp.internal.", dns.TypeA)),
		KeyFor(server, question("db.corp.internal.", dns.TypeAAAA)),
		KeyFor(server, dns.Question{Name: "db.corp.internal.", Qtype: dns.TypeA, Qclass: dns.ClassCHAOS}),
	} {
		if other == b {
			t.Errorf("%+v collides with %+v", other, b)
		}
	}

	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20")
	c.Put(k, m, t0)
	if c.Get(a, t0) == nil {
		t.Error("the question in other case missed the cache")
	}
}

// A clock that steps back must not make TTLs grow or wrap.
func TestCacheClockBack(t *testing.T) {
	c := NewCache(10)
	k, m := positive(t, "db.corp.internal.", "db.corp.internal. 300 IN A 10.0.0.20")
	c.Put(k, m, t0)
	if got := c.Get(k, t0.Add(-time.Hour)); got == nil || got.Answer[0].Header().Ttl != 300 {
		t.Errorf("Get before Put = %v, want TTL 300", got)
	}
}
