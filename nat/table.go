package nat

import "net/netip"

// Mapping is a local export's translation: Real is the site's CIDR, Wire is
// how it appears in the mesh, a prefix of the same length. Real == Wire when
// the export is not mapped.
type Mapping struct{ Real, Wire netip.Prefix }

// ProjectRoute says that a wire prefix, local or remote, belongs to a project.
type ProjectRoute struct {
	Project string
	Wire    netip.Prefix
}

// MemberRule lets local sources in Source use the routes of Project.
// Transparent asks for transparent mode: a source that is a member of
// Project alone reaches its TransparentRoutes by their real prefixes. It
// is a choice per member because it is stateless: replies from such a
// VPC come back from the real address, so a transparent member cannot use
// the wire address at the same time.
type MemberRule struct {
	Project     string
	Source      netip.Prefix
	Transparent bool
}

// TransparentRoute lets the members of Project that belong to no other
// project reach a remote site by its real prefix: outbound, a destination in
// Real becomes the same host in Wire, and replies from Wire come back from
// Real (docs/ARCHITECTURE.md, A packet's way: transparent mode). Wire must be
// a route of Project.
type TransparentRoute struct {
	Project    string
	Real, Wire netip.Prefix
}

// Config is what the mesh computes for one gateway: plain data, IPv4 only.
type Config struct {
	Mappings    []Mapping
	Routes      []ProjectRoute
	Members     []MemberRule
	Transparent []TransparentRoute

	// Overlay is the mesh's overlay range. Packets whose source and
	// destination both lie in it (gossip, probes, status between gateways)
	// are always allowed and never translated.
	Overlay netip.Prefix

	MTU      int  // the tunnel MTU; MSS clamping lowers the MSS to MTU-40
	MSSClamp bool // clamp the MSS of TCP SYN and SYN-ACK in both directions

	// ACL turns the per-project ACL on. Off, packets are translated and
	// clamped and everything is allowed.
	ACL bool
}

// Verdict says what happened to a packet.
type Verdict uint8

const (
	Pass        Verdict = iota // forwarded, possibly rewritten
	DropACL                    // the local side may not talk to that remote prefix
	DropNoRoute                // the remote prefix is unknown
	DropInvalid                // too short or malformed
	numVerdicts
)

var verdictNames = [numVerdicts]string{"pass", "acl", "no_route", "invalid"}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Table is a compiled Config. It is immutable and safe for concurrent use.
type Table struct {
	local   *lpm4[*localEntry] // real space on this side: exports and members
	wire    *lpm4[*wireEntry]  // wire space: every project route
	overlay prefix4
	mss     uint16 // clamp limit; 0 = no clamping
	acl     bool
}

// localEntry describes a local real prefix, merged with every prefix that
// contains it, so that one longest-prefix lookup answers for all of them.
type localEntry struct {
	projects projectSet // projects whose routes this source may use
	members  projectSet // the part of projects that comes from member rules
	toWire   xlat       // real → wire for a mapped export; identity otherwise
	// wantsTrans is set by a transparent member rule; trans holds the
	// routes when the source is a member of one project alone.
	wantsTrans bool
	trans      *transparent
}

// wireEntry describes a wire prefix.
type wireEntry struct {
	projects projectSet
	toReal   xlat // wire → real for a local export; identity otherwise

	// local is the entry of a local export's real prefix when no other
	// local prefix lies inside it: then it answers for every address of the
	// export, and inbound needs no second lookup.
	local *localEntry

	// prefix is the wire prefix itself. Wire prefixes do not overlap, so
	// this is the entry of every address in it.
	prefix prefix4
}

// transparent holds one project's transparent routes, both ways.
type transparent struct {
	out *lpm4[xlat] // remote real → wire
	in  *lpm4[xlat] // wire → remote real
}

// lookupLocal returns the entry for local real address a, or nil.
func (t *Table) lookupLocal(a uint32) *localEntry {
	e, _ := t.local.lookup(a)
	return e
}

// lookupWire returns the entry for wire address a, or nil.
func (t *Table) lookupWire(a uint32) *wireEntry {
	e, _ := t.wire.lookup(a)
	return e
}

// realOf translates a wire address to the real address of a local export.
func (t *Table) realOf(a uint32) uint32 {
	if e := t.lookupWire(a); e != nil {
		return e.toReal.apply(a)
	}
	return a
}

// localIn translates wire address a to the real address of a local export
// and returns it with its local entry (nil when it has none).
func (t *Table) localIn(a uint32) (uint32, *localEntry) {
	we := t.lookupWire(a)
	if we == nil {
		return a, t.lookupLocal(a)
	}
	real := we.toReal.apply(a)
	if we.local != nil {
		return real, we.local
	}
	return real, t.lookupLocal(real)
}

// wireOf translates local real address a, which e describes, to wire.
func (e *localEntry) wireOf(a uint32) uint32 {
	if e == nil {
		return a
	}
	return e.toWire.apply(a)
}

// remoteOut rewrites a transparent member's remote real destination a to
// its wire address.
func (e *localEntry) remoteOut(a uint32) uint32 {
	if e == nil || e.trans == nil {
		return a
	}
	return lookupXlat(e.trans.out, a)
}

// remoteIn rewrites a remote wire address a back to the real address a
// transparent member used.
func (e *localEntry) remoteIn(a uint32) uint32 {
	if e == nil || e.trans == nil {
		return a
	}
	return lookupXlat(e.trans.in, a)
}

func lookupXlat(t *lpm4[xlat], a uint32) uint32 {
	if x, ok := t.lookup(a); ok {
		return x.apply(a)
	}
	return a
}

// isOverlay reports whether a and b both lie in the overlay range.
func (t *Table) isOverlay(a, b uint32) bool {
	return t.overlay.contains(a) && t.overlay.contains(b)
}

// prefix4 is an IPv4 prefix as numbers; the zero prefix4 contains nothing.
type prefix4 struct {
	mask, net uint32
	valid     bool
}

func prefix4Of(p netip.Prefix) prefix4 {
	if !p.IsValid() {
		return prefix4{}
	}
	mask := ^(^uint32(0) >> p.Bits())
	return prefix4{mask: mask, net: addrU32(p.Addr()) & mask, valid: true}
}

func (p prefix4) contains(a uint32) bool {
	return p.valid && a&p.mask == p.net
}
