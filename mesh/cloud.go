package mesh

// The EC2 side of a gateway (docs/ARCHITECTURE.md, Forwarding prerequisites):
// found through IMDSv2, it turns the instance's Source/Dest check off, keeps
// the VPC route tables sending the remote wire prefixes to this instance, and
// lists tagged instances to join. API calls run in their own goroutine: a
// slow, throttled or refused API never holds up the tunnels, and is retried
// at the next change or tick.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/routing/ec2"
)

// cloudResync is how often the VPC routes are checked without a change:
// someone may have edited the route table by hand.
const cloudResync = time.Minute

type cloud struct {
	client *ec2.Client
	log    *slog.Logger
	wanted chan cloudState // the newest; older ones are dropped
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	joins   []netip.Addr      // tagged instances' addresses, from the last listing
	ignored map[string]string // gateway name → the interface of its record not taken over, logged
}

// detectEC2 finds the instance when the config asks for EC2. In mode "on"
// not being on EC2 is an error; in "auto" it is the answer nil.
func detectEC2(ctx context.Context, cfg *configs.Config) (*ec2.Instance, error) {
	if cfg.EC2.Mode == configs.EC2Off {
		return nil, nil
	}
	inst, err := ec2.Detect(ctx, cfg.EC2.IMDSEndpoint)
	switch {
	case err == nil:
		return inst, nil
	case errors.Is(err, ec2.ErrNotEC2) && cfg.EC2.Mode != configs.EC2On:
		return nil, nil
	}
	return nil, fmt.Errorf("ec2.mode = %q: %w", cfg.EC2.Mode, err)
}

// startCloud brings up the EC2 side for inst. Failures of the API are
// logged, not returned: the gateway runs without what they would have done.
func (g *Gateway) startCloud(inst *ec2.Instance) error {
	cfg := g.config()
	log := g.log.With("subsystem", "ec2", "instance", inst.ID, "eni", inst.ENI)
	ctx, cancel := context.WithCancel(context.Background())
	client, err := ec2.New(ctx, ec2.Config{Endpoint: cfg.EC2.Endpoint, RouteTables: cfg.EC2.RouteTables,
		Subnets: cfg.EC2.Subnets, StateDir: cfg.Node.StateDir}, inst)
	if err != nil {
		cancel()
		return err
	}
	c := &cloud{client: client, log: log, wanted: make(chan cloudState, 1), cancel: cancel, done: make(chan struct{})}
	if sd, err := client.DisableSourceDestCheck(ctx); err != nil {
		log.Error("Source/Dest check not turned off: forwarded packets will be dropped by EC2", "err", err)
	} else {
		log.Info("Source/Dest check", "state", sd.String())
	}
	go c.run(ctx, cfg.EC2.JoinTag)
	g.cloud.Store(c)
	if g.members != nil {
		g.publish(false) // with the interface, for an HA partner's takeover
	}
	g.logSync(ctx, "on EC2") // hands the loop its first wanted set
	return nil
}

// cloudState is what the VPC route tables must say: the prefixes to send
// here, whether this gateway is its site's active one, and its HA
// partners' interfaces (routes to them are vpcmesh's, to take over).
type cloudState struct {
	prefixes []netip.Prefix
	active   bool
	peerENIs []string
}

func (a cloudState) equal(b cloudState) bool {
	return slices.Equal(a.prefixes, b.prefixes) && a.active == b.active && slices.Equal(a.peerENIs, b.peerENIs)
}

// want hands the loop the newest state.
func (c *cloud) want(prefixes cloudState) {
	select {
	case <-c.wanted: // drop a set not yet taken: this one is newer
	default:
	}
	c.wanted <- prefixes
}

func (c *cloud) run(ctx context.Context, joinTag string) {
	defer close(c.done)
	tick := time.NewTicker(cloudResync)
	defer tick.Stop()
	var cur cloudState
	synced := false
	c.listJoins(ctx, joinTag)
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-c.wanted:
			if synced && w.equal(cur) {
				continue
			}
			if w.active != cur.active {
				c.log.Info("HA role", "active", w.active)
			}
			cur = w
		case <-tick.C:
			c.listJoins(ctx, joinTag)
		}
		c.client.SetPeers(cur.peerENIs)
		rep, err := c.client.SyncRoutes(ctx, cur.prefixes, cur.active)
		synced = err == nil
		if len(rep.Applied)+len(rep.Conflicts) > 0 {
			c.log.Info("VPC routes", "report", rep.String())
		}
		if err != nil && ctx.Err() == nil {
			c.log.Error("VPC routes not all in place; retried at the next change or in a minute", "err", err)
		}
	}
}

// listJoins refreshes the tagged instances' addresses.
func (c *cloud) listJoins(ctx context.Context, tag string) {
	if tag == "" {
		return
	}
	cands, err := c.client.JoinCandidates(ctx, tag)
	if err != nil {
		c.log.Warn("tagged instances not listed", "tag", tag, "err", err)
		return
	}
	var addrs []netip.Addr
	for _, cd := range cands {
		for _, a := range []netip.Addr{cd.PrivateIP, cd.PublicIP} {
			if a.IsValid() {
				addrs = append(addrs, a)
			}
		}
	}
	c.mu.Lock()
	c.joins = addrs
	c.mu.Unlock()
}

// joinTargets are the tagged instances, at this gateway's port (a mesh's
// gateways share it).
func (c *cloud) joinTargets(port int) []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(c.joins))
	for _, a := range c.joins {
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	return out
}

func (c *cloud) stop() {
	c.cancel()
	<-c.done
}

// vpcPrefixes are the routes the VPC must send to this gateway: every
// remote prefix it routes into the mesh, except the overlay range, which
// only gateways use.
func vpcPrefixes(cfg *configs.Config, routes []routing.Route) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range routes {
		if !cfg.Mesh.OverlayRange.Overlaps(r.Dst) {
			out = append(out, r.Dst)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// knownENIs are the EC2 interfaces of this gateway's HA partners whose
// record is held, failed ones included: routes pointing at them were made
// by vpcmesh, and the active member takes them over. The interface is the
// record's word only, so only a partner's counts (partnerENIs); the others
// are logged once.
func (g *Gateway) knownENIs() []string {
	if g.members == nil {
		return nil
	}
	known, ignored := partnerENIs(g.members.id.Leaf().Body.Sites, g.members.gossip.Known())
	if c := g.cloud.Load(); c != nil {
		c.logIgnored(ignored)
	}
	return known
}

// partnerENIs splits the interfaces that records name: those of the
// gateways whose certificate names a site this gateway's certificate (own)
// names too, its HA partners, are known. Any other gateway could name an
// interface of the VPC to have the routes to it re-pointed here: those
// are ignored, by gateway name.
func partnerENIs(own []cert.Site, nodes []*discovery.Node) (known []string, ignored map[string]string) {
	for _, n := range nodes {
		if n.ENI == "" {
			continue
		}
		partner := slices.ContainsFunc(n.Sites, func(s cert.Site) bool {
			return slices.ContainsFunc(own, func(o cert.Site) bool { return o.Name == s.Name })
		})
		switch {
		case partner:
			known = append(known, n.ENI)
		case ignored == nil:
			ignored = map[string]string{n.Name: n.ENI}
		default:
			ignored[n.Name] = n.ENI
		}
	}
	return known, ignored
}

// logIgnored logs each gateway whose interface is ignored, once for each
// interface it names.
func (c *cloud) logIgnored(ignored map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, eni := range ignored {
		if c.ignored[name] == eni {
			continue
		}
		if c.ignored == nil {
			c.ignored = map[string]string{}
		}
		c.ignored[name] = eni
		c.log.Info("interface in a gateway's record ignored: it shares no HA site with this gateway, so VPC routes to it are not taken over", "gateway", name, "eni", eni)
	}
}
