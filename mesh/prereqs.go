package mesh

// What a gateway needs from the kernel besides its tunnel: a tunnel MTU
// that fits the underlay, forwarding on, and no strict reverse-path filter
// on the links it forwards across. `vpcmesh doctor` checks the same.

import (
	"log/slog"
	"net/netip"
	"slices"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/routing"
)

// WireGuardOverhead is the worst case (IPv6 outer header) so that the
// tunnel MTU is safe whichever underlay family carries it.
const WireGuardOverhead = 80

// tunnelMTU is TunnelMTU for this machine's underlay.
func tunnelMTU(configured int, log *slog.Logger) int {
	_, under, err := routing.Underlay()
	if configured == 0 && (err != nil || under == 0) {
		log.Info("no underlay MTU found, using 1420", "err", err)
	}
	return TunnelMTU(configured, under)
}

// TunnelMTU is the configured MTU, else the underlay's (0: unknown) minus
// the WireGuard overhead but at least 1280, else 1420 (a 1500-byte
// underlay).
func TunnelMTU(configured, underlay int) int {
	switch {
	case configured > 0:
		return configured
	case underlay == 0:
		return 1420
	}
	return max(1280, underlay-WireGuardOverhead)
}

// kernelPrerequisites turns forwarding on and loosens a strict reverse-path
// filter on the links the gateway forwards across, logging each change.
func (g *Gateway) kernelPrerequisites() error {
	links, err := ForwardingLinks(g.cfg)
	if err != nil {
		return err
	}
	changes, err := routing.ApplyPrerequisites(links...)
	for _, c := range changes {
		g.log.Info("kernel setting changed", "key", c.Key, "was", c.Was, "now", c.Now)
	}
	return err
}

// ForwardingLinks are the links a gateway forwards across, whose reverse-path
// filter matters: its tunnel interface (which may not exist yet), the link
// of the default route and those of its sites' networks.
func ForwardingLinks(cfg *configs.Config) ([]string, error) {
	var sites []netip.Prefix
	for _, s := range cfg.Sites {
		sites = append(sites, s.CIDRs...)
	}
	links, err := routing.ForwardingLinks(sites)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(links, cfg.Node.Interface) {
		links = append([]string{cfg.Node.Interface}, links...)
	}
	return links, nil
}
