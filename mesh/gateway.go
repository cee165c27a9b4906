package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/nat"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/routing/ec2"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// resyncEvery bounds how long drift (a route changed by hand, a DNS name
// that moved) can last when no event reports it.
const resyncEvery = 30 * time.Second

// Gateway is one running vpcmesh node. Status and Reload are safe to call
// from other goroutines while Run runs.
type Gateway struct {
	// Version is the binary's version, shown in Status and as the
	// vpcmesh_build_info metric. Set it after Start, before anything
	// reads Status; it does not change afterwards.
	Version string

	log     *slog.Logger
	resolve Resolver
	dev     *tunnel.Device
	packets *nat.Wrapper // the nat stage between the TUN and WireGuard
	mtu     int
	wgKey   tunnel.Key
	members *membership           // nil unless gossip is on
	health  *health               // probes through the tunnels; nil unless gossip is on
	paths   *paths                // direct or relayed, per NATed pair; nil unless gossip is on
	sites   *siteCheck            // pings the sites' probe targets; nil when none
	float   *floating             // the HA sites' floating LAN addresses
	names   *dnsServers           // names for members and for other gateways; nil when not configured
	cloud   atomic.Pointer[cloud] // nil off EC2 (and until detected)
	bg      context.Context       // background work's lifetime: ends at Close
	stopBg  context.CancelFunc
	started time.Time // the hold-down of HA runs from here

	mu       sync.Mutex
	cfg      *configs.Config
	desired  Desired
	policy   nat.Config // the packet rules last applied
	warnings []string
	synced   time.Time
	failover map[string]failoverCount // by HA site
	users    []userMember             // member users, resolved at the last apply
}

type failoverCount struct {
	n    int
	last time.Time
}

// countFailovers notes every HA site whose active member changed to
// another one. Called with g.mu held.
func (g *Gateway) countFailovers(groups []HAGroup) {
	for _, grp := range groups {
		for _, old := range g.desired.HA {
			if old.Site == grp.Site && old.Active != "" && grp.Active != "" && old.Active != grp.Active {
				if g.failover == nil {
					g.failover = map[string]failoverCount{}
				}
				f := g.failover[grp.Site]
				g.failover[grp.Site] = failoverCount{f.n + 1, time.Now()}
				g.log.Warn("HA failover", "site", grp.Site, "from", old.Active, "to", grp.Active)
			}
		}
	}
}

// Start brings the gateway up: stale routes from an earlier crash removed,
// the tunnel device open, forwarding on, the overlay address set, peers and
// routes applied. On error everything it did is undone.
func Start(ctx context.Context, cfg *configs.Config, resolve Resolver, log *slog.Logger) (*Gateway, error) {
	// Keys and certificates are read first: a bad one changes nothing.
	key, err := tunnel.ReadKeyFile(cfg.Node.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("node.private_key_file: %w", err)
	}
	var id *discovery.Identity
	var root cert.Root
	if gossipOn(cfg) {
		if id, root, err = loadIdentity(cfg, key.Public()); err != nil {
			return nil, err
		}
	}
	// In ec2.mode "on", not finding the instance stops here, before any change.
	var inst *ec2.Instance
	if cfg.EC2.Mode == configs.EC2On {
		if inst, err = detectEC2(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if n, err := routing.Flush(); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("removed stale routes from an earlier run", "count", n)
	}
	if n, err := routing.FlushRules(); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("removed stale rules from an earlier run", "count", n)
	}
	g := &Gateway{log: log, resolve: resolve, cfg: cfg, mtu: tunnelMTU(cfg.Node.MTU, log), wgKey: key,
		float: newFloating(log.With("subsystem", "ha"))}
	g.bg, g.stopBg = context.WithCancel(context.Background())
	g.started = time.Now()
	if g.dev, err = g.openDevice(); err != nil {
		return nil, err
	}
	if err := g.kernelPrerequisites(); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.up(ctx, id, root); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.upCloud(inst); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// upCloud starts the EC2 side: at once for an instance found already, else
// (ec2.mode "auto") after looking for IMDSv2 in the background, so that a
// gateway off EC2 starts no slower.
func (g *Gateway) upCloud(inst *ec2.Instance) error {
	if inst != nil {
		return g.startCloud(inst)
	}
	if g.cfg.EC2.Mode == configs.EC2Off {
		return nil
	}
	go func() {
		inst, err := detectEC2(g.bg, g.cfg)
		switch {
		case g.bg.Err() != nil:
		case err != nil:
			g.log.Warn("EC2 detection", "err", err)
		case inst == nil:
			g.log.Debug("not on EC2: no Source/Dest check or VPC routes to manage")
		default:
			if err := g.startCloud(inst); err != nil {
				g.log.Error("EC2 side not started", "err", err)
			}
		}
	}()
	return nil
}

// config is the running config.
func (g *Gateway) config() *configs.Config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

// gossipOn says whether the config asks for gossip (mesh.root_file set).
func gossipOn(cfg *configs.Config) bool { return cfg.Mesh.RootFile != "" }

// openDevice opens the tunnel with the nat stage in its packet path. The
// stage starts without a table, dropping everything, until the first Sync
// gives it the rules: no packet passes unchecked.
func (g *Gateway) openDevice() (*tunnel.Device, error) {
	return tunnel.Open(tunnel.Config{
		Interface:  g.cfg.Node.Interface,
		MTU:        g.mtu,
		PrivateKey: g.wgKey,
		ListenPort: g.cfg.Node.ListenPort,
		Logger:     g.log.With("subsystem", "tunnel"),
		Wrap: func(inner tun.Device) tun.Device {
			g.packets = nat.Wrap(inner, nil)
			return g.packets
		},
	})
}

func (g *Gateway) up(ctx context.Context, id *discovery.Identity, root cert.Root) error {
	if err := routing.SetupLink(g.dev.Name(), netip.PrefixFrom(g.cfg.Node.OverlayAddress, 32)); err != nil {
		return err
	}
	if err := g.Sync(ctx); err != nil {
		return err
	}
	if id == nil {
		return nil
	}
	// Memberlist binds to the overlay address, which now exists.
	if err := g.startGossip(id, root); err != nil {
		return err
	}
	n := g.cfg.Node
	h, err := startHealth(n.OverlayAddress, time.Duration(n.ProbeIntervalMS)*time.Millisecond, n.ProbeMisses,
		time.Duration(n.HoldDownMS)*time.Millisecond, g.members.signal, g.tunnelRx, g.log.With("subsystem", "health"))
	if err != nil {
		return fmt.Errorf("health probes on %s: %w", n.OverlayAddress, err)
	}
	g.health = h
	targets := map[string]netip.Addr{}
	for _, s := range g.cfg.Sites {
		if s.ProbeTarget.IsValid() {
			targets[s.Name] = s.ProbeTarget
		}
	}
	g.sites, err = startSiteCheck(targets, time.Duration(n.ProbeIntervalMS)*time.Millisecond, n.ProbeMisses,
		time.Duration(n.HoldDownMS)*time.Millisecond, func() { g.publish(false); g.members.signal() }, g.log.With("subsystem", "health"))
	if err != nil {
		return fmt.Errorf("site probes: %w", err)
	}
	for _, w := range expiryWarnings(id.Chain, time.Now()) {
		g.log.Warn(w)
	}
	if g.names, err = startDNS(g.cfg, g.dev.Name(), g.log.With("subsystem", "dns")); err != nil {
		return err
	}
	g.paths = newPaths(g.log.With("subsystem", "paths"))
	go g.pathLoop()
	// The end of the start's hold-down may make this gateway active.
	time.AfterFunc(time.Duration(n.HoldDownMS)*time.Millisecond, g.members.signal)
	g.rejoin(ctx)
	return nil
}

// Sync recomputes the desired state from the current config and applies it.
func (g *Gateway) Sync(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.apply(ctx, g.cfg)
}

// apply makes cfg the running config. Everything is computed and the
// packet rules compiled before anything is touched: a config whose rules do
// not compile changes nothing and is not taken.
func (g *Gateway) apply(ctx context.Context, cfg *configs.Config) error {
	v := g.view()
	d, warnings := Compute(ctx, cfg, g.resolve, v)
	users, err := userMembers(cfg)
	if err != nil {
		return err
	}
	policy := PacketPolicy(cfg, g.mtu)
	policy.Routes = append(policy.Routes, d.Projects...)
	for _, u := range users {
		policy.Members = append(policy.Members, nat.MemberRule{Project: u.project, Source: netip.PrefixFrom(u.addr, 32), Transparent: u.transparent})
	}
	transparent, tw := transparentRoutes(cfg, d.Exports, policy.Routes)
	policy.Transparent, warnings = transparent, append(warnings, tw...)
	table, err := nat.Compile(policy)
	if err != nil {
		return fmt.Errorf("packet rules: %w", err)
	}
	local, err := routing.LocalRoutes()
	if err != nil {
		return err
	}
	routes, rules := kernelPolicy(cfg, d.Routes, policy, users, local)
	g.cfg, g.users = cfg, users
	for _, w := range warnings {
		if !slices.Contains(g.warnings, w) {
			g.log.Warn(w)
		}
	}
	for _, c := range d.Conflicts {
		if !slices.Contains(g.desired.Conflicts, c) {
			g.log.Warn("conflict", "detail", c)
		}
	}
	g.packets.SetTable(table)
	if err := g.dev.SetPeers(d.Peers); err != nil {
		return err
	}
	diff, err := routing.Sync(g.dev.Name(), routes)
	if rd, rerr := routing.SyncRules(rules); rerr != nil {
		err = errors.Join(err, rerr)
	} else if rd.Added+rd.Removed > 0 {
		g.log.Info("rules synced", "added", rd.Added, "removed", rd.Removed)
	}
	if c := g.cloud.Load(); c != nil {
		var settlingSince time.Time
		if time.Since(g.started) < time.Duration(cfg.Node.HoldDownMS)*time.Millisecond {
			settlingSince = g.started
		}
		c.want(cloudState{vpcPrefixes(cfg, d.Routes), activeForSites(cfg, v, settlingSince, g.sites.down()), g.knownENIs()})
	}
	if diff.Added+diff.Removed > 0 {
		g.log.Info("routes synced", "added", diff.Added, "removed", diff.Removed)
	}
	settling := time.Since(g.started) < time.Duration(cfg.Node.HoldDownMS)*time.Millisecond
	wants, fw := floatWants(cfg, v, settling, g.sites.down(), g.health.anyAnswering(), g.float.ifaceFor)
	g.float.apply(wants)
	warnings = append(warnings, fw...)
	if g.names != nil { // no names to compute on a gateway without DNS
		g.names.set(namesFrom(cfg, v, d))
	}
	g.countFailovers(d.HA)
	g.desired, g.policy, g.warnings, g.synced = d, policy, warnings, time.Now()
	return err
}

// Run keeps the kernel and the device matching the config until ctx ends:
// routes deleted by hand come back at once, other drift at the next tick,
// and configs sent on reload are applied as diffs.
func (g *Gateway) Run(ctx context.Context, reload <-chan *configs.Config) error {
	deleted, err := routing.WatchDeletes(ctx)
	if err != nil {
		return err
	}
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	var control <-chan controlPacket
	var changes <-chan struct{}
	var rejoin <-chan time.Time
	if m := g.members; m != nil {
		control, changes = m.control, m.changes
		t := time.NewTicker(rejoinAlone)
		defer t.Stop()
		rejoin = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case cp := <-control:
			g.handleControl(ctx, cp)
		case <-changes:
			g.logSync(ctx, "membership changed")
			g.remember()
		case now := <-rejoin:
			if g.members.rejoinDue(now) {
				g.rejoin(ctx)
			}
		case _, ok := <-deleted:
			if !ok {
				return errors.New("route watch ended")
			}
			g.logSync(ctx, "route deleted outside vpcmesh")
		case <-tick.C:
			g.logSync(ctx, "resync")
		case cfg := <-reload:
			g.log.Info("reload", "config", cfg.Path)
			if err := g.Reload(ctx, cfg); err != nil {
				g.log.Error("reload rejected, keeping the running config", "err", err)
			}
		}
	}
}

func (g *Gateway) logSync(ctx context.Context, why string) {
	if err := g.Sync(ctx); err != nil {
		g.log.Error("sync failed", "why", why, "err", err)
	}
}

// Reload swaps in a new config. What needs a new device (interface, port,
// key, MTU, overlay address) cannot change without a restart and is
// refused, leaving the running config in place.
func (g *Gateway) Reload(ctx context.Context, cfg *configs.Config) error {
	g.mu.Lock()
	old := g.cfg
	g.mu.Unlock()
	if err := restartOnly(old, cfg); err != nil {
		return err
	}
	// A revocation list that does not verify rejects the reload whole.
	if g.members != nil {
		if err := checkRevocationsFile(cfg, g.members.root); err != nil {
			return err
		}
		if err := cfg.ResolveAuto(certifiedWire(g.members.id.Leaf())); err != nil {
			return err
		}
	}
	g.mu.Lock()
	err := g.apply(ctx, cfg)
	g.mu.Unlock()
	if err == nil && g.members != nil {
		g.publish(false) // members may have changed
		err = g.loadRevocations(cfg)
	}
	return err
}

func restartOnly(old, new *configs.Config) error {
	o, n := old.Node, new.Node
	switch {
	case o.Interface != n.Interface:
		return errors.New("node.interface changed: restart needed")
	case o.ListenPort != n.ListenPort:
		return errors.New("node.listen_port changed: restart needed")
	case o.PrivateKeyFile != n.PrivateKeyFile:
		return errors.New("node.private_key_file changed: restart needed")
	case o.MTU != n.MTU:
		return errors.New("node.mtu changed: restart needed")
	case o.OverlayAddress != n.OverlayAddress:
		return errors.New("node.overlay_address changed: restart needed")
	case !slices.Equal(old.DNS.Listen, new.DNS.Listen):
		return errors.New("dns.listen changed: restart needed")
	case (len(zonesOf(old)) > 0) != (len(zonesOf(new)) > 0):
		return errors.New("dns_zones added to or removed from every export: restart needed")
	}
	return nil
}

// Close tears down everything the gateway installed: the device (and with
// it the interface and the kernel routes through it) and any vpcmesh route
// left in other tables.
func (g *Gateway) Close() error {
	g.stopBg()
	if c := g.cloud.Load(); c != nil {
		c.stop()
	}
	if g.health != nil {
		g.health.stop() // its goodbye first: the partner takes the address over at once
	}
	g.float.close()
	g.names.stop()
	g.sites.stop()
	g.stopGossip()
	g.dev.Close()
	_, err := routing.Flush()
	_, rerr := routing.FlushRules()
	return errors.Join(err, rerr)
}
