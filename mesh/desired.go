// Package mesh is the reconciler: it computes the desired state (WireGuard
// peers, their allowed IPs, kernel routes) from the local config as plain
// data, and has tunnel and routing make the device and kernel match it.
package mesh

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Desired is everything the gateway should have installed.
type Desired struct {
	Address netip.Prefix // overlay address on the mesh interface
	Peers   []tunnel.Peer
	Routes  []routing.Route
	Names   map[tunnel.Key]string // peer key → configured name, for status
	// Projects are the remote wire prefixes gossip brought, by project:
	// added to the packet rules PacketPolicy derives from the config.
	Projects  []nat.ProjectRoute
	Exports   []remoteExport // remote mapped exports, for transparent mode
	Conflicts []string       // announcements refused, and why
	HA        []HAGroup      // remote sites served by several gateways
}

// Resolver turns a configured "host:port" into an address.
type Resolver func(ctx context.Context, hostport string) (netip.AddrPort, error)

// Compute derives the desired state from a validated config and what is
// known of the other gateways. A static peer whose endpoint does not
// resolve is still installed, without an endpoint (it can still dial us),
// and the problem is returned as a warning; the next resync tries again.
func Compute(ctx context.Context, cfg *configs.Config, resolve Resolver, v View) (Desired, []string) {
	d := Desired{
		Address: netip.PrefixFrom(cfg.Node.OverlayAddress, 32),
		Names:   map[tunnel.Key]string{},
	}
	var warnings []string
	for _, p := range cfg.Peers {
		peer, err := staticPeer(ctx, cfg, p, resolve)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("peer %s: %v", p.Name, err))
		}
		if peer.PublicKey.IsZero() {
			continue
		}
		d.Peers = append(d.Peers, peer)
		d.Names[peer.PublicKey] = p.Name
		for _, pfx := range p.Prefixes {
			d.Routes = append(d.Routes, routing.Route{Dst: pfx})
		}
	}
	r := fromView(cfg, v)
	d.Peers = append(d.Peers, r.peers...)
	d.Routes = append(d.Routes, r.routes...)
	for k, n := range r.names {
		d.Names[k] = n
	}
	d.Projects, d.Exports, d.Conflicts, d.HA = r.projects, r.exports, r.conflicts, r.ha
	return d, warnings
}

func staticPeer(ctx context.Context, cfg *configs.Config, p configs.Peer, resolve Resolver) (tunnel.Peer, error) {
	key, err := tunnel.ParseKey(p.PublicKey)
	if err != nil {
		return tunnel.Peer{}, fmt.Errorf("public key: %w", err)
	}
	peer := tunnel.Peer{
		PublicKey:  key,
		AllowedIPs: p.Prefixes,
		Keepalive:  cfg.KeepaliveFor(p),
	}
	if p.Endpoint == "" {
		return peer, nil
	}
	peer.Endpoint, err = resolve(ctx, p.Endpoint)
	return peer, err
}
