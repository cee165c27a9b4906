package names

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// MaxTTL caps how long a reply is kept, whatever its records say: a site's
// names may move while the mesh runs.
const MaxTTL = time.Hour

// Key is the question asked of one site's server.
type Key struct {
	Server        netip.AddrPort
	Name          string // lowercased, fully qualified
	Qtype, Qclass uint16
}

// KeyFor is the cache key of q asked of server.
func KeyFor(server netip.AddrPort, q dns.Question) Key {
	return Key{Server: server, Name: canonical(q.Name), Qtype: q.Qtype, Qclass: q.Qclass}
}

// Cache holds the sites' replies by the question asked of them, bounded (least recently used goes first), honouring TTLs.
// It is safe for concurrent use. A reply comes back with the message ID it
// was stored with: the caller sets its own.
type Cache struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // of *entry, most recently used first
	byKey map[Key]*list.Element
}

type entry struct {
	key     Key
	msg     *dns.Msg // never changed once stored: Get copies it
	stored  time.Time
	expires time.Time
}

// NewCache holds at most max replies; with max < 1 it holds none.
func NewCache(max int) *Cache {
	return &Cache{max: max, lru: list.New(), byKey: map[Key]*list.Element{}}
}

// Put stores a copy of m for its TTL: the least TTL of its answer and authority records; for a negative answer (NXDOMAIN or NODATA) the SOA's minimum and TTL (RFC 2308), whichever is less; capped at MaxTTL (1 h). Not stored: truncated replies, rcodes other than NOERROR and NXDOMAIN, TTL 0, a NOERROR with neither answers nor SOA.
// An NXDOMAIN without a SOA is not stored either (RFC 2308 gives it no TTL).
// A negative answer's other records (the answer's CNAMEs, NSEC) may only lower its TTL.
func (c *Cache) Put(k Key, m *dns.Msg, now time.Time) {
	ttl, ok := cacheTTL(m)
	if !ok || c.max < 1 {
		return
	}
	e := &entry{key: k, msg: m.Copy(), stored: now, expires: now.Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.byKey[k] = c.lru.PushFront(e)
	if c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

// cacheTTL is how long m may be kept; false when it is not to be kept.
func cacheTTL(m *dns.Msg) (time.Duration, bool) {
	if m == nil || m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return 0, false
	}
	for _, rr := range m.Extra {
		if rr == nil {
			return 0, false // m.Copy would panic
		}
	}
	least := uint32(MaxTTL / time.Second)
	var soa *dns.SOA
	for _, section := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range section {
			if rr == nil {
				return 0, false
			}
			least = min(least, rr.Header().Ttl)
			if s, ok := rr.(*dns.SOA); ok && soa == nil {
				soa = s
			}
		}
	}
	if m.Rcode == dns.RcodeNameError || len(m.Answer) == 0 {
		if soa == nil {
			return 0, false
		}
		least = min(least, soa.Minttl) // its TTL is among the authority's
	}
	if least == 0 {
		return 0, false
	}
	return time.Duration(least) * time.Second, true
}

// Get returns a copy with every TTL (answer, authority, additional; not OPT) reduced by the time since it was stored, or nil when missing or expired.
func (c *Cache) Get(k Key, now time.Time) *dns.Msg {
	c.mu.Lock()
	el, ok := c.byKey[k]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.remove(el)
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	c.mu.Unlock()

	// Whole seconds gone, rounded down: a record is never older than said.
	age := uint32(max(now.Sub(e.stored), 0) / time.Second)
	m := e.msg.Copy()
	for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT { // OPT's TTL holds flags
				h.Ttl -= min(h.Ttl, age)
			}
		}
	}
	return m
}

// Len is the number of replies held, expired ones included until a Get or an
// eviction drops them.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *Cache) remove(el *list.Element) {
	c.lru.Remove(el)
	delete(c.byKey, el.Value.(*entry).key)
}
