package discovery

import (
	"hash/maphash"
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

// Budget bounds how often something may happen for one source and for all
// sources together: token buckets, the per-source ones in a fixed table
// indexed by a keyed hash of the source's prefix (an IPv4 address, an IPv6
// /64). The table never grows, whatever the sources: two that share a slot
// share its budget, and the random key keeps a sender from aiming at a
// victim's slot.
type Budget struct {
	seed   maphash.Seed
	slots  []*rate.Limiter
	shared *rate.Limiter
}

// BudgetRate is one budget's rates, in events per second, with the burst
// allowed above them.
type BudgetRate struct {
	PerSource, PerSourceBurst int
	Overall, OverallBurst     int
}

// budgetSlots is the size of the per-source table: 4096 slots of about 80
// bytes.
const budgetSlots = 4096

// NewBudget makes a budget.
func NewBudget(r BudgetRate) *Budget {
	b := &Budget{seed: maphash.MakeSeed(), slots: make([]*rate.Limiter, budgetSlots),
		shared: rate.NewLimiter(rate.Limit(r.Overall), r.OverallBurst)}
	for i := range b.slots {
		b.slots[i] = rate.NewLimiter(rate.Limit(r.PerSource), r.PerSourceBurst)
	}
	return b
}

// Allow takes one token for from, from its source's bucket and then from
// the shared one; it reports whether both had one.
func (b *Budget) Allow(from netip.Addr, now time.Time) bool {
	return b.slots[b.slot(from)].AllowN(now, 1) && b.shared.AllowN(now, 1)
}

func (b *Budget) slot(from netip.Addr) uint64 {
	from = from.Unmap()
	if from.Is6() {
		from = netip.PrefixFrom(from, 64).Masked().Addr()
	}
	k := from.As16()
	return maphash.Bytes(b.seed, k[:]) % budgetSlots
}
