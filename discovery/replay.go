package discovery

import (
	"fmt"
	"slices"
)

// LeftAfter reports whether the record held for n's name says it left, at
// a later version than n: n was captured before a clean stop and is being
// replayed, so admitting it would bring the stopped gateway back.
func (g *Gossip) LeftAfter(n *Node) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	held := g.records[n.Name]
	return held != nil && held.Leaving && held.Version > n.Version
}

// NameHeld refuses n when its name is held by another gateway's
// certificate that n's does not outrank (see heldBy).
func (g *Gossip) NameHeld(n *Node) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.heldBy(n)
}

// heldBy refuses n when the record held under its name comes from another
// issuer that holds the name at least as specifically: two certificates
// claiming one name resolve to the issuer with the narrower grant (an
// authority's over the root's, which delegated that part), never to the
// newer record or the higher version. The same issuer's newer certificate
// (a gateway signed again) replaces its older one; a revoked or expired
// holder yields. Called with g.mu held.
func (g *Gossip) heldBy(n *Node) error {
	old := g.records[n.Name]
	switch {
	case old == nil || g.revs.revoke(old.Fingerprints) || g.cfg.Now().After(old.NotAfter):
		return nil
	case slices.Equal(old.Fingerprints[1:], n.Fingerprints[1:]):
		return nil
	case len(n.Fingerprints) > len(old.Fingerprints):
		return nil
	}
	return refused(RefusedNameHeld, fmt.Errorf("%q is held by a certificate of another issuer, at least as entitled to it", n.Name))
}
