package nat

import "sync/atomic"

// Stats counts packets per direction and verdict since the Wrapper was made.
type Stats struct {
	Outbound Counters // kernel → mesh (Read)
	Inbound  Counters // mesh → kernel (Write)
}

// Counters counts one direction's packets by verdict.
type Counters struct {
	Passed  uint64
	ACL     uint64 // dropped: no common project
	NoRoute uint64 // dropped: unknown remote prefix
	Invalid uint64 // dropped: too short or malformed
}

// counters are one direction's live counters, on a cache line of their own
// so that Read and Write do not contend.
type counters struct {
	n [numVerdicts]atomic.Uint64
	_ [64 - 8*numVerdicts]byte
}

// tally counts one batch without atomics; add publishes it.
type tally [numVerdicts]uint64

func (c *counters) add(t *tally) {
	for v, n := range t {
		if n != 0 {
			c.n[v].Add(n)
		}
	}
}

func (c *counters) snapshot() Counters {
	return Counters{
		Passed:  c.n[Pass].Load(),
		ACL:     c.n[DropACL].Load(),
		NoRoute: c.n[DropNoRoute].Load(),
		Invalid: c.n[DropInvalid].Load(),
	}
}
