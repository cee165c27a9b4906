package discovery

// LeftAfter reports whether the record held for n's name says it left, at
// a later version than n: n was captured before a clean stop and is being
// replayed, so admitting it would bring the stopped gateway back.
func (g *Gossip) LeftAfter(n *Node) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	held := g.records[n.Name]
	return held != nil && held.Leaving && held.Version > n.Version
}
