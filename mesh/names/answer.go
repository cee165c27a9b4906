package names

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Answer turns the site's reply m (to r.Ask) into the reply to q, in place:
//   - the question section becomes q again; owner names equal to r.Ask.Name (case-insensitively) become q.Name (for PTR asked as the real address);
//   - with r.Rewrite, every A record (answer and additional sections) whose address is inside r.Export.Real is rewritten into r.Export.Wire, host bits kept; other records untouched; TTLs untouched;
//   - RRSIG records covering a changed RRset are removed, and the AD bit is cleared, whenever anything was changed (a rewritten answer is not what the zone signed);
//   - it never panics on any message, and returns the number of records rewritten.
//
// Records count as rewritten when their owner was renamed or their address
// translated (once each). Renaming drops every RRSIG at the asked name, and
// clears AD even when only the question changed: the reply is now about
// another name than the one signed.
func Answer(m *dns.Msg, q dns.Question, r Route) int {
	if m == nil {
		return 0
	}
	m.Question = append(m.Question[:0], q)

	// Owners differing only in case are the same name: nothing to rename.
	rename := r.Ask.Name != "" && !strings.EqualFold(r.Ask.Name, q.Name)
	rewrite := r.Rewrite && r.Export != nil && validPair(r.Export.Real, r.Export.Wire)
	var real, wire netip.Prefix
	if rewrite {
		real, wire = r.Export.Real.Masked(), r.Export.Wire.Masked()
	}

	var buf [8]rrset
	changed := buf[:0] // the RRsets touched, by their owner as the site sent it
	n := 0
	// A records are rewritten in the answer and additional sections; the
	// authority section holds no addresses a member would use.
	sections := [...]struct {
		rrs       []dns.RR
		addresses bool
	}{{m.Answer, true}, {m.Ns, false}, {m.Extra, true}}
	for _, section := range sections {
		for _, rr := range section.rrs {
			if rr == nil {
				continue
			}
			h := rr.Header()
			if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeOPT {
				continue // signatures are dealt with below; OPT is no record
			}
			set := rrset{h.Name, h.Rrtype}
			did := false
			if rename && strings.EqualFold(h.Name, r.Ask.Name) {
				h.Name = q.Name
				did = true
			}
			if a, ok := rr.(*dns.A); ok && rewrite && section.addresses {
				if addr, ok := netip.AddrFromSlice(a.A); ok {
					addr = addr.Unmap()
					if addr.Is4() && real.Contains(addr) {
						if w := translate(addr, real, wire); w != addr {
							a.A = w.AsSlice()
							did = true
						}
					}
				}
			}
			if did {
				n++
				changed = append(changed, set)
			}
		}
	}

	if n == 0 && !rename {
		return 0
	}
	m.AuthenticatedData = false
	stale := func(rr dns.RR) bool {
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			return false
		}
		if rename && strings.EqualFold(sig.Hdr.Name, r.Ask.Name) {
			return true
		}
		return slices.ContainsFunc(changed, func(s rrset) bool {
			return s.typ == sig.TypeCovered && strings.EqualFold(s.name, sig.Hdr.Name)
		})
	}
	m.Answer = slices.DeleteFunc(m.Answer, stale)
	m.Ns = slices.DeleteFunc(m.Ns, stale)
	m.Extra = slices.DeleteFunc(m.Extra, stale)
	return n
}

// rrset names an RRset: owner and type (the class is the question's).
type rrset struct {
	name string
	typ  uint16
}
