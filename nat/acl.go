package nat

import "math/bits"

// The ACL, as plain rules on the two ends of a packet:
//
// Outbound, the local source must be allowed to use a project that contains
// the destination's wire prefix. A source is allowed to use a project when a
// member rule says so or when it lies in a local export of that project
// (hosts of an exported site must be able to answer).
//
// Inbound, the (translated-back) local destination must be allowed to use a
// project that contains the source's wire prefix, under the same rule. The
// wrapper cannot ask which gateway sent the packet: wireguard-go's Write does
// not say. It does not need to: WireGuard's cryptokey routing has already
// dropped any packet whose source lies outside the sending peer's allowed
// IPs, and the mesh gives a peer only the wire prefixes it is authorized to
// export (docs/ARCHITECTURE.md, The model: trust chain). A source in a wire
// prefix of project P therefore came from a gateway authorized for P, and
// checking the source prefix against the projects of the local destination is
// the check that "the sending gateway is authorized for that project".
//
// An ICMP error is judged twice. By the packet it quotes: the error must go
// back to the quoted packet's source (RFC 1812 4.3.2.3), and that packet
// must be one the ACL lets through; otherwise a host could send anything
// anywhere in the shape of an ICMP error. And by its own two ends, as an
// ordinary packet between them would be: the quote is whatever the sender
// wrote, so without this a host of project B could send "fragmentation
// needed" to project A's hosts by quoting one of their packets. Those who
// legitimately answer pass it too: the quoted host, and a router of the
// destination's site inside an export or member prefix of the project (one
// outside them could not be answered through the tunnel either). The
// exception is a gateway, a member of nothing, which answers from its
// overlay address (traceroute shows it as the hop before the site). That
// address cannot be forged from a site: WireGuard accepts it only from the
// gateway it belongs to, whose kernel drops a packet from its LAN claiming
// its own address as a martian. A gateway answering for a project it does
// not carry cannot be told apart here: the Table does not know which
// gateway holds which prefix.

// allow applies the ACL to a packet between a local address described by le
// and the remote wire address remote. An unknown remote prefix is DropNoRoute;
// a local address without a common project is DropACL.
func (t *Table) allow(le *localEntry, remote uint32) Verdict {
	if !t.acl {
		return Pass
	}
	re := t.lookupWire(remote)
	if re == nil {
		return DropNoRoute
	}
	if le == nil || !le.projects.intersects(re.projects) {
		return DropACL
	}
	return Pass
}

// allowIn is allow for a packet from the mesh to local address local, which
// the packet named as wire. A local address must be named by its wire
// address: the real addresses of a mapped export are not on the wire, and
// WireGuard checks only the source of what it receives.
func (t *Table) allowIn(le *localEntry, local, wire, remote uint32) Verdict {
	if v := t.allow(le, remote); v != Pass {
		return v
	}
	if t.acl && le.wireOf(local) != wire {
		return DropACL
	}
	return Pass
}

// allowErrorOut is allow for an ICMP error leaving from a local source about
// a packet that came from remote to a local destination: le describes the
// destination and src the error's source, which must both be allowed to use
// a project of remote, unless gw says the source is a gateway's overlay
// address. One lookup of remote serves both.
func (t *Table) allowErrorOut(le, src *localEntry, gw bool, remote uint32) Verdict {
	if !t.acl {
		return Pass
	}
	re := t.lookupWire(remote)
	switch {
	case re == nil:
		return DropNoRoute
	case le == nil || !le.projects.intersects(re.projects):
		return DropACL
	case src != le && !gw && (src == nil || !src.projects.intersects(re.projects)):
		return DropACL
	}
	return Pass
}

// allowErrorIn is allowIn for an ICMP error from the mesh, from src, about a
// packet that local, named wire, sent to remote: src must be allowed to
// reach local too, unless it is a gateway's overlay address. The remote host
// and a router in its prefix have remote's entry, just checked: they take no
// second lookup.
func (t *Table) allowErrorIn(le *localEntry, local, wire, remote, src uint32) Verdict {
	if !t.acl {
		return Pass
	}
	re := t.lookupWire(remote)
	switch {
	case re == nil:
		return DropNoRoute
	case le == nil || !le.projects.intersects(re.projects) || le.wireOf(local) != wire:
		return DropACL
	case re.prefix.contains(src) || t.overlay.contains(src):
		return Pass
	}
	return t.allow(le, src)
}

// projectSet is a set of project indexes. All sets of one Table have the
// same length, so that intersects needs no bounds logic.
type projectSet []uint64

func newProjectSet(n int) projectSet { return make(projectSet, (n+63)/64) }

func (s projectSet) add(i int) { s[i/64] |= 1 << (i % 64) }

func (s projectSet) addAll(o projectSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

func (s projectSet) intersects(o projectSet) bool {
	for i := range s {
		if s[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

// only returns the one project in s, or -1 when s holds none or several.
func (s projectSet) only() int {
	found := -1
	for i, w := range s {
		if w == 0 {
			continue
		}
		if found >= 0 || w&(w-1) != 0 {
			return -1
		}
		found = i*64 + bits.TrailingZeros64(w)
	}
	return found
}
