package names

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func BenchmarkRoute(b *testing.B) {
	table, _ := twoProjects(b)
	q := question("db.corp.internal.", dns.TypeA)
	for b.Loop() {
		if _, ok := table.Route(alphaAndBeta, q); !ok {
			b.Fatal("no route")
		}
	}
}

func BenchmarkRoutePTR(b *testing.B) {
	table, _ := twoProjects(b)
	q := question("20.1.100.100.in-addr.arpa.", dns.TypePTR)
	for b.Loop() {
		if _, ok := table.Route(alphaOnly, q); !ok {
			b.Fatal("no route")
		}
	}
}

func BenchmarkAnswerRewrite(b *testing.B) {
	q := question("db.corp.internal.", dns.TypeA)
	r := routeFor(b, alphaOnly, q)
	m := reply(b, r.Ask,
		"db.corp.internal. 300 IN A 10.0.0.20",
		"db.corp.internal. 300 IN A 10.0.0.21",
		"db.corp.internal. 300 IN A 10.0.0.22",
		"db.corp.internal. 300 IN A 10.0.0.23")
	var real []net.IP // Answer replaces the A slices, so putting these back undoes it
	for _, rr := range m.Answer {
		real = append(real, rr.(*dns.A).A)
	}
	for b.Loop() {
		for i, rr := range m.Answer {
			rr.(*dns.A).A = real[i]
		}
		if n := Answer(m, q, r); n != 4 {
			b.Fatalf("rewrote %d, want 4", n)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(1000)
	k, m := positive(b, "db.corp.internal.",
		"db.corp.internal. 300 IN A 10.0.0.20",
		"db.corp.internal. 300 IN A 10.0.0.21")
	c.Put(k, m, t0)
	now := t0.Add(10 * time.Second)
	for b.Loop() {
		if c.Get(k, now) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkCacheMissPut(b *testing.B) {
	c := NewCache(1000)
	k, m := positive(b, "db.corp.internal.",
		"db.corp.internal. 300 IN A 10.0.0.20",
		"db.corp.internal. 300 IN A 10.0.0.21")
	i := uint16(0)
	for b.Loop() {
		i++
		k.Qtype = i // a new key every time: the cache is full after 1000
		if c.Get(k, t0) != nil {
			b.Fatal("hit")
		}
		c.Put(k, m, t0)
	}
}
