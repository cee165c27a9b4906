package names

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Export is one remote export whose zones members may ask, as the gateways' records say.
type Export struct {
	Gateway string         // the gateway that carries it, for status and errors
	Server  netip.AddrPort // where its site's names are asked (the carrier's overlay address, port 53)
	Project string
	Real    netip.Prefix // its real CIDR (IPv4)
	Wire    netip.Prefix // its wire prefix, same length (equal to Real when not mapped)
	Zones   []string     // forward zones, e.g. "corp.internal" or "Corp.Internal." (normalised: lowercase, fully qualified)
}

// Asker is a member source: the projects it is in, and those it uses transparently (a subset).
type Asker struct {
	Projects    []string
	Transparent []string
}

// Route is where a question goes and how its answer comes back.
type Route struct {
	Export  *Export
	Ask     dns.Question // the question to ask the export's site: the asked one, or for a PTR of a wire address, the PTR of the real address
	Rewrite bool         // A records inside Export.Real are rewritten into Export.Wire (false for a transparent asker)
}

// Table answers Route. It is immutable once built, so safe for concurrent use.
type Table struct {
	exports []Export                    // normalised copies, sorted; routes point into it
	zones   map[string][]*Export        // zone → one export per project, by project name
	rev     map[netip.Prefix][]revEntry // wire and real prefixes → exports, by project name
	revBits []int                       // the prefix lengths in rev, longest first
}

// revEntry is one export under one of its prefixes.
type revEntry struct {
	export *Export
	real   bool // keyed by its real prefix: only for askers using the project transparently
}

// NewTable indexes exports by zone and by reverse zone. It returns, as plain sentences, the conflicts it resolved:
// two exports of one project claiming one zone (the first by gateway name, then wire prefix, wins: say which), and
// zones that several projects answer ("zone corp.internal. is answered by projects alpha and beta; members of both get alpha's").
// Exports without an IPv4 real and wire prefix of one length or without a server, and
// zones that are no forward zone (the root, anything under in-addr.arpa), are left out
// and said so too.
func NewTable(exports []Export) (*Table, []string) {
	t := &Table{zones: map[string][]*Export{}, rev: map[netip.Prefix][]revEntry{}}
	var notes []string
	for _, e := range exports {
		e.Real, e.Wire = e.Real.Masked(), e.Wire.Masked()
		if !validPair(e.Real, e.Wire) {
			notes = append(notes, fmt.Sprintf("%s is left out: real %s and wire %s are not IPv4 prefixes of one length", describe(&e), e.Real, e.Wire))
			continue
		}
		if !e.Server.IsValid() {
			notes = append(notes, fmt.Sprintf("%s is left out: it has no name server address", describe(&e)))
			continue
		}
		e.Zones, notes = normaliseZones(&e, notes)
		t.exports = append(t.exports, e)
	}
	// One order decides every tie: project, then gateway, then wire prefix.
	slices.SortStableFunc(t.exports, func(a, b Export) int {
		return cmp.Or(strings.Compare(a.Project, b.Project), strings.Compare(a.Gateway, b.Gateway),
			a.Wire.Addr().Compare(b.Wire.Addr()), cmp.Compare(a.Wire.Bits(), b.Wire.Bits()),
			a.Real.Addr().Compare(b.Real.Addr()))
	})

	claims := map[string][]*Export{} // zone → its exports, in the order above
	for i := range t.exports {
		e := &t.exports[i]
		for _, z := range e.Zones {
			claims[z] = append(claims[z], e)
		}
		t.rev[e.Wire] = append(t.rev[e.Wire], revEntry{export: e})
		t.rev[e.Real] = append(t.rev[e.Real], revEntry{export: e, real: true})
	}
	for _, z := range slices.Sorted(maps.Keys(claims)) {
		var answering []*Export
		es := claims[z]
		for len(es) > 0 {
			n := 1 // es[:n] is one project's claims; es[0] wins them
			for n < len(es) && es[n].Project == es[0].Project {
				n++
			}
			group := es[:n]
			es = es[n:]
			if len(group) > 1 {
				var all []string
				for _, e := range group {
					all = append(all, fmt.Sprintf("gateway %s wire %s", e.Gateway, e.Wire))
				}
				notes = append(notes, fmt.Sprintf("zone %s is claimed by %d exports of project %s (%s); the one via gateway %s, wire %s, answers",
					z, len(group), group[0].Project, strings.Join(all, ", "), group[0].Gateway, group[0].Wire))
			}
			answering = append(answering, group[0])
		}
		if len(answering) > 1 {
			var projects []string
			for _, e := range answering {
				projects = append(projects, e.Project)
			}
			if len(projects) == 2 {
				notes = append(notes, fmt.Sprintf("zone %s is answered by projects %s and %s; members of both get %s's", z, projects[0], projects[1], projects[0]))
			} else {
				notes = append(notes, fmt.Sprintf("zone %s is answered by projects %s; a member of several gets the first of its projects in that order", z, joinAnd(projects)))
			}
		}
		t.zones[z] = answering
	}
	for p := range t.rev {
		if !slices.Contains(t.revBits, p.Bits()) {
			t.revBits = append(t.revBits, p.Bits())
		}
	}
	slices.SortFunc(t.revBits, func(a, b int) int { return b - a })
	return t, notes
}

// normaliseZones lowercases and qualifies e's zones, drops duplicates, and
// leaves out those that are no forward zone, with a note.
func normaliseZones(e *Export, notes []string) ([]string, []string) {
	var zones []string
	for _, z := range e.Zones {
		n := canonical(z)
		switch {
		case n == "." || !validName(n):
			notes = append(notes, fmt.Sprintf("zone %q of %s is left out: not a domain name below the root", z, describe(e)))
		case n == "arpa." || n == "in-addr.arpa." || strings.HasSuffix(n, ".in-addr.arpa."):
			// PTR questions are routed by the exports' prefixes; a reverse
			// zone here would capture addresses that are no mesh names.
			notes = append(notes, fmt.Sprintf("zone %q of %s is left out: reverse names are answered from the exports' prefixes", z, describe(e)))
		case !slices.Contains(zones, n):
			zones = append(zones, n)
		}
	}
	return zones, notes
}

// validName reports whether n is a domain name that can go on the wire.
func validName(n string) bool {
	_, ok := dns.IsDomainName(n)
	return ok
}

func describe(e *Export) string {
	return fmt.Sprintf("the export %s of project %s via gateway %s", e.Real, e.Project, e.Gateway)
}

// Route picks the export that answers q for asker a; false when q is no mesh name for a (then the caller asks its upstream or refuses).
//   - Forward names: the export of one of a's projects whose zone is the longest suffix of q.Name (label-wise, case-insensitive); among projects tied on the same zone, the project name first in sort order. Ask = q, Rewrite = project not in a.Transparent.
//   - PTR (q.Qtype == dns.TypePTR) under in-addr.arpa with all four octets: an address inside the Wire prefix of an export of a's projects is asked as the PTR of the matching real address (host bits kept); an address inside the Real prefix of an export whose project a uses transparently is asked as is. Ask.Name is the reverse name of the real address (the question itself when it asks for that already, case kept). Only exports of a's projects count; a wire address of another project's export is not a mesh name for a.
//     The longest matching prefix wins; among equal ones, the project name first in sort order.
//   - Any other qtype for a forward name routes as well (AAAA, TXT, MX …): only A records are rewritten.
func (t *Table) Route(a Asker, q dns.Question) (Route, bool) {
	if t == nil {
		return Route{}, false
	}
	name := canonical(q.Name)
	if q.Qtype == dns.TypePTR {
		if addr, ok := parseReverse(name); ok {
			return t.routeReverse(a, q, addr)
		}
	}
	return t.routeForward(a, q, name)
}

func (t *Table) routeForward(a Asker, q dns.Question, name string) (Route, bool) {
	// Walk the suffixes from the whole name down: the first zone one of a's
	// projects answers is the longest.
	for off := 0; ; {
		for _, e := range t.zones[name[off:]] {
			if slices.Contains(a.Projects, e.Project) {
				return Route{Export: e, Ask: q, Rewrite: !slices.Contains(a.Transparent, e.Project)}, true
			}
		}
		next, end := dns.NextLabel(name, off)
		if end {
			return Route{}, false
		}
		off = next
	}
}

func (t *Table) routeReverse(a Asker, q dns.Question, addr netip.Addr) (Route, bool) {
	for _, bits := range t.revBits {
		p, _ := addr.Prefix(bits)
		for _, c := range t.rev[p] {
			e := c.export
			if !slices.Contains(a.Projects, e.Project) {
				continue
			}
			transparent := slices.Contains(a.Transparent, e.Project)
			if c.real && !transparent {
				continue
			}
			ask := q
			if real := translate(addr, e.Wire, e.Real); !c.real && real != addr {
				ask.Name = reverseName(real)
			}
			return Route{Export: e, Ask: ask, Rewrite: !transparent}, true
		}
	}
	return Route{}, false
}

// parseReverse reads "d.c.b.a.in-addr.arpa." (lowercase, qualified) as a.b.c.d.
func parseReverse(name string) (netip.Addr, bool) {
	s, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i := 3; i >= 0; i-- {
		label := s
		if i > 0 {
			var found bool
			if label, s, found = strings.Cut(s, "."); !found {
				return netip.Addr{}, false
			}
		}
		n, ok := octet(label)
		if !ok {
			return netip.Addr{}, false
		}
		b[i] = n
	}
	return netip.AddrFrom4(b), true
}

// octet reads a decimal octet as written in reverse names: no sign, no
// leading zero.
func octet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return byte(n), n <= 255
}

// reverseName is the in-addr.arpa name of an IPv4 address.
func reverseName(a netip.Addr) string {
	b := a.As4()
	buf := make([]byte, 0, len("255.255.255.255.in-addr.arpa."))
	for i := 3; i >= 0; i-- {
		buf = strconv.AppendUint(buf, uint64(b[i]), 10)
		buf = append(buf, '.')
	}
	return string(append(buf, "in-addr.arpa."...))
}

// translate maps a (inside from) to the same host in to: the 1:1 stateless
// translation of the mesh. from and to must pass validPair.
func translate(a netip.Addr, from, to netip.Prefix) netip.Addr {
	host := ^uint32(0) >> from.Bits() // 0 for a /32
	ab, tb := a.As4(), to.Addr().As4()
	v := binary.BigEndian.Uint32(tb[:])&^host | binary.BigEndian.Uint32(ab[:])&host
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], v)
	return netip.AddrFrom4(out)
}

// validPair reports whether real and wire can be translated into each other.
func validPair(real, wire netip.Prefix) bool {
	return real.IsValid() && wire.IsValid() && real.Addr().Is4() && wire.Addr().Is4() && real.Bits() == wire.Bits()
}

// canonical lowercases (ASCII only, as DNS compares names) and qualifies a
// name; it allocates only when it changes something.
func canonical(s string) string {
	s = dns.Fqdn(s)
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
