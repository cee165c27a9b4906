package nat

// Outbound: packets the kernel routed into the TUN, on their way into the
// mesh. The Wrapper's Read runs each one through Table.Outbound, in place;
// wireguard-go then picks the peer by the (wire) destination:
//
//	kernel ─► inner Read ─► Outbound ─► Read's caller: wireguard-go
//	                           │
//	                           ├─ IPv6 ───────────── ACL default
//	                           ├─ overlay ⇄ overlay ─ untouched
//	                           ├─ ICMP error ─────── ACL on the quoted packet and on the
//	                           │                     outer source, translate quote and outer header
//	                           └─ other ─ ACL ─ src real→wire (transparent: dst real→wire) ─ MSS clamp
//
// The verdict is decided before anything is written; a dropped packet is
// left as it came.

// Outbound applies the ACL, source translation and MSS clamp to one packet
// read from the kernel, rewriting it in place. It never changes the length:
// the packet is pkt[:len(pkt)] before and after.
func (t *Table) Outbound(pkt []byte) Verdict {
	var p ipv4
	if !p.parse(pkt) {
		return t.notIPv4(pkt)
	}
	if t.isOverlay(p.src(), p.dst()) {
		return Pass
	}
	if p.icmpError() {
		return t.outICMPError(&p)
	}
	v := t.outPlain(&p)
	if v == Pass {
		t.clamp(&p)
	}
	return v
}

// outPlain handles a packet from local source to remote destination.
func (t *Table) outPlain(p *ipv4) Verdict {
	src := p.src()
	le := t.lookupLocal(src)
	dst := le.remoteOut(p.dst())
	if v := t.allow(le, dst); v != Pass {
		return v
	}
	setAddrs(p, le.wireOf(src), dst)
	return Pass
}

// outICMPError handles an ICMP error a local host or router sends about a
// packet that came in from the mesh. The quoted packet went remote → local,
// so its destination is the local address to translate real→wire and its
// source is the remote one (a real address if the member is transparent).
// The outer destination must be that same remote host, reached through the
// translation the quoted destination's entry gives; the outer source (the
// local host, a local router or this gateway) must be allowed to reach it.
//
// An error about traffic between overlay addresses only comes from a
// gateway's overlay address and passed as overlay ⇄ overlay before this: here
// its quote finds no wire prefix, as an ordinary packet to a gateway would.
func (t *Table) outICMPError(p *ipv4) Verdict {
	var q ipv4
	if !q.parseQuote(p) {
		return DropInvalid
	}
	src, qsrc, qdst := p.src(), q.src(), q.dst()
	if p.dst() != qsrc {
		return DropACL
	}
	le := t.lookupLocal(qdst)
	from := le // the host answering for itself, the common case: no lookup
	if src != qdst {
		from = t.lookupLocal(src)
	}
	remote := le.remoteOut(qsrc)
	if v := t.allowErrorOut(le, from, t.overlay.contains(src), remote); v != Pass {
		return v
	}
	setQuoteAddrs(p, &q, remote, le.wireOf(qdst))
	setAddrs(p, from.wireOf(src), remote)
	return Pass
}

// notIPv4 judges a packet ipv4.parse refused: IPv6 gets the ACL's default,
// anything else is invalid.
func (t *Table) notIPv4(pkt []byte) Verdict {
	switch {
	case len(pkt) == 0 || pkt[0]>>4 != 6 || len(pkt) < ipv6Header:
		return DropInvalid
	case t.acl:
		return DropACL
	}
	return Pass
}
