// Package discovery finds the gateways a node talks to. For now that is the
// static side: endpoints given as addresses or DNS names in the config,
// resolved again on every resync so that a peer whose DNS name moves is
// followed without a restart.
package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Resolve turns "host:port" (an IPv4 literal or a DNS name) into an
// address. A name with several addresses resolves to the first IPv4 one.
func Resolve(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: %w", hostport, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: invalid port", hostport)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: %w", hostport, err)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: no IPv4 address", hostport)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(port)), nil
}
