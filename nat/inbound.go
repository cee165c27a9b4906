package nat

// Inbound: packets wireguard-go decrypted, on their way to the kernel.
// WireGuard has already checked each source against the sending peer's
// allowed IPs. The Wrapper's Write runs each packet through Table.Inbound,
// in place, and hands the ones that pass to the inner device in one Write:
//
//	wireguard-go ─► Write ─► Inbound ─► compact ─► inner Write, once ─► kernel
//	                           │
//	                           ├─ IPv6 ───────────── ACL default
//	                           ├─ overlay ⇄ overlay ─ untouched
//	                           ├─ ICMP error ─────── ACL on the quoted packet and on the
//	                           │                     outer source, translate quote and outer header
//	                           └─ other ─ dst wire→real ─ ACL ─ (transparent: src wire→real) ─ MSS clamp
//
// The verdict is decided before anything is written; a dropped packet is
// left as it came.

// Inbound applies destination translation, the ACL and the MSS clamp to one
// packet from the mesh, rewriting it in place. It never changes the length.
func (t *Table) Inbound(pkt []byte) Verdict {
	var p ipv4
	if !p.parse(pkt) {
		return t.notIPv4(pkt)
	}
	if t.isOverlay(p.src(), p.dst()) {
		return Pass
	}
	if p.icmpError() {
		return t.inICMPError(&p)
	}
	v := t.inPlain(&p)
	if v == Pass {
		t.clamp(&p)
	}
	return v
}

// inPlain handles a packet from remote source to local destination.
func (t *Table) inPlain(p *ipv4) Verdict {
	src, wdst := p.src(), p.dst()
	dst, le := t.localIn(wdst)
	if v := t.allowIn(le, dst, wdst, src); v != Pass {
		return v
	}
	setAddrs(p, le.remoteIn(src), dst)
	return Pass
}

// inICMPError handles an ICMP error from the mesh about a packet that left
// through it. The quoted packet went local → remote: its source is the local
// wire address to translate back to real, its destination the remote one
// (shown as a real address again to a transparent member). The outer
// destination must be that same local host; the outer source (the remote
// host, a router of its site or its gateway) is translated like the quoted
// destination and must be allowed to reach the local host, as an ordinary
// packet from it would be.
//
// An error about traffic between overlay addresses passed as overlay ⇄
// overlay before this if a gateway sent it; from anybody else its quote
// finds no route, as an ordinary packet to a gateway would.
func (t *Table) inICMPError(p *ipv4) Verdict {
	var q ipv4
	if !q.parseQuote(p) {
		return DropInvalid
	}
	src, qsrc, qdst := p.src(), q.src(), q.dst()
	if p.dst() != qsrc {
		return DropACL
	}
	local, le := t.localIn(qsrc)
	if v := t.allowErrorIn(le, local, qsrc, qdst, src); v != Pass {
		return v
	}
	setQuoteAddrs(p, &q, local, le.remoteIn(qdst))
	setAddrs(p, le.remoteIn(src), local)
	return Pass
}
