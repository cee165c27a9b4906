package routing

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Rule is one desired policy rule (`ip rule`): packets from Src, or from
// local processes of the users in UIDs, look up Table. A rule with neither
// matches everything. Rules carry Protocol too, so that vpcmesh finds its
// own after a crash and touches nobody else's.
type Rule struct {
	Priority int
	Src      netip.Prefix
	UIDs     *[2]uint32 // first and last uid, inclusive
	Table    int
}

func (r Rule) String() string {
	from := "all"
	if r.Src.IsValid() {
		from = r.Src.String()
	}
	if r.UIDs != nil {
		from += fmt.Sprintf(" uidrange %d-%d", r.UIDs[0], r.UIDs[1])
	}
	return fmt.Sprintf("%d: from %s lookup %d", r.Priority, from, r.Table)
}

// OwnedRules lists every IPv4 rule that carries Protocol.
func OwnedRules() ([]netlink.Rule, error) {
	// The library filters rules by neither protocol nor anything else
	// that marks ours: filter here, or the kernel's own rules would go.
	rs, err := netlink.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list vpcmesh rules: %w", err)
	}
	return slices.DeleteFunc(rs, func(r netlink.Rule) bool { return r.Protocol != uint8(Protocol) }), nil
}

// SyncRules makes the kernel's vpcmesh rules exactly want.
func SyncRules(want []Rule) (Diff, error) {
	have, err := OwnedRules()
	if err != nil {
		return Diff{}, err
	}
	var d Diff
	var errs []error
	for _, r := range have {
		if !slices.ContainsFunc(want, func(w Rule) bool { return ruleMatches(r, w) }) {
			errs = append(errs, ignoreMissing(netlink.RuleDel(&r)))
			d.Removed++
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(have, func(r netlink.Rule) bool { return ruleMatches(r, w) }) {
			errs = append(errs, netlink.RuleAdd(kernelRule(w)))
			d.Added++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return d, fmt.Errorf("sync rules: %w", err)
	}
	return d, nil
}

// FlushRules removes every vpcmesh rule.
func FlushRules() (int, error) {
	have, err := OwnedRules()
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, r := range have {
		errs = append(errs, ignoreMissing(netlink.RuleDel(&r)))
	}
	return len(have), errors.Join(errs...)
}

func ruleMatches(r netlink.Rule, w Rule) bool {
	var src netip.Prefix
	if r.Src != nil {
		src = prefixOf(r.Src)
	}
	if src.Bits() == 0 && !src.Addr().IsValid() || src == netip.PrefixFrom(netip.IPv4Unspecified(), 0) {
		src = netip.Prefix{}
	}
	sameUIDs := (r.UIDRange == nil) == (w.UIDs == nil) &&
		(w.UIDs == nil || r.UIDRange.Start == w.UIDs[0] && r.UIDRange.End == w.UIDs[1])
	return r.Priority == w.Priority && r.Table == w.Table && src == w.Src && sameUIDs && !r.Invert
}

func kernelRule(w Rule) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = unix.AF_INET
	r.Priority, r.Table, r.Protocol = w.Priority, w.Table, uint8(Protocol)
	if w.Src.IsValid() {
		r.Src = &net.IPNet{IP: w.Src.Addr().AsSlice(), Mask: net.CIDRMask(w.Src.Bits(), 32)}
	}
	if w.UIDs != nil {
		r.UIDRange = netlink.NewRuleUIDRange(w.UIDs[0], w.UIDs[1])
	}
	return r
}
