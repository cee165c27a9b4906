package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
	"github.com/vpcmesh/vpcmesh/mesh"
)

// tunnelSites are three gateways of the reference gossip mesh: vpc1 and
// vpc2 behind 1:1 NAT (their routers send 10.0.0.0/8 to them), the branch
// on the internet itself.
var tunnelSites = []scenario.GossipSiteSpec{
	{Name: "vpc1", NAT: lab.NATOneToOne, Public: "203.0.113.20", LAN: "10.1.0.0/24", Host: "10.1.0.20", Join: "203.0.113.21:51820", Overlay: "100.96.0.1"},
	{Name: "vpc2", NAT: lab.NATOneToOne, Public: "203.0.113.21", LAN: "10.2.0.0/24", Host: "10.2.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.2"},
	{Name: "branch", NAT: lab.NATNone, Public: "198.51.100.30", LAN: "10.30.0.0/24", Host: "10.30.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.6"},
}

// startTunnelMesh builds and starts the three gateways and waits until
// every pair of hosts answers and every gateway lists the two others.
func startTunnelMesh(t *testing.T) (context.Context, *scenario.GossipMesh) {
	t.Helper()
	l, ctx := newLab(t)
	trust, err := scenario.NewTrust(l, vpcmeshBin, "lab")
	must(t, err)
	m := &scenario.GossipMesh{Trust: trust}
	for _, spec := range tunnelSites {
		s, err := scenario.AddGossipSite(l, vpcmeshBin, trust, spec)
		must(t, err)
		m.Sites = append(m.Sites, s)
	}
	t.Cleanup(func() { dumpLogsIfAsked(t, m) })
	must(t, m.Start(ctx))
	_, err = m.WaitConnected(ctx, m.Pairs(), 30*time.Second)
	must(t, err)
	membersComplete(t, ctx, m)
	return ctx, m
}

// Gossip (memberlist, 7946) and the health probes (7947) listen on a
// gateway's overlay address, and Linux takes a packet for a local address
// on any interface: a host of vpc1's LAN that routes the overlay range to
// its gateway reached both. For 20 s it sends forged memberlist "dead"
// notices for the two other gateways (20/s), 3,000 made-up live members
// (one a datagram), probe requests, and tries memberlist's TCP port. None
// of it may get in: vpc1-gw's routes do not change at all (polled every
// 100 ms), no gateway's membership changes, no made-up member appears
// anywhere, no probe is answered and no TCP connection is accepted.
func TestGossipOnlyThroughTunnel(t *testing.T) {
	ctx, m := startTunnelMesh(t)
	vpc1 := m.Site("vpc1")
	gwOverlay := netip.MustParseAddr(tunnelSites[0].Overlay)
	// The host sends the overlay range to its gateway, as anybody on the
	// LAN can.
	must(t, vpc1.Host.Route("100.96.0.0/16", vpc1.GatewayIP))
	// What it sends reaches the gateway's overlay address (the kernel
	// answers a ping there): only the sockets may refuse it.
	must(t, vpc1.Host.Ping(ctx, gwOverlay.String()))

	before := membership(t, ctx, m)
	baseline := stableRoutes(t, ctx, vpc1.Gateway)

	var udp *net.UDPConn
	must(t, vpc1.Host.Do(func() (err error) {
		udp, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}))
	defer udp.Close()
	gossipAddr := netip.AddrPortFrom(gwOverlay, discovery.GossipPort)
	probeAddr := netip.AddrPortFrom(gwOverlay, mesh.HealthPort)

	// Whatever comes back to the host: a probe answer means the probe
	// socket took the request.
	var answers atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if from == probeAddr && n == 5 && buf[0] == 'R' {
				answers.Add(1)
			}
		}
	}()

	const attack = 20 * time.Second
	ctx2, stop := context.WithTimeout(ctx, attack)
	defer stop()
	var wg sync.WaitGroup
	var deadSent, aliveSent, probesSent, tcpTried, tcpAccepted atomic.Int64
	// paced calls f n times spread over the attack, catching up when the
	// machine was busy.
	began := time.Now()
	paced := func(n int, f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < n; {
				select {
				case <-ctx2.Done():
					return
				case <-tick.C:
				}
				for due := int(int64(n) * int64(time.Since(began)) / int64(attack)); i < min(due, n); i++ {
					f(i)
				}
			}
		}()
	}
	victims := []string{m.Site("vpc2").GW.Name, m.Site("branch").GW.Name}
	paced(20*20, func(i int) { // 20/s
		msg := memberlistMsg(t, mlDeadMsg, mlDead{Incarnation: 1<<20 + 2*uint32(i), Node: victims[i%2], From: "lan-host"})
		if _, err := udp.WriteToUDPAddrPort(msg, gossipAddr); err == nil {
			deadSent.Add(1)
		}
	})
	paced(3000, func(i int) { // 150/s
		a := netip.AddrFrom4([4]byte{100, 96, 200 + byte(i/250%50), byte(1 + i%250)}).As4()
		msg := memberlistMsg(t, mlAliveMsg, mlAlive{Incarnation: 1, Node: fmt.Sprintf("ghost-%d", i), Addr: a[:],
			Port: discovery.GossipPort, Vsn: []uint8{1, 5, 2, 0, 0, 0}})
		if _, err := udp.WriteToUDPAddrPort(msg, gossipAddr); err == nil {
			aliveSent.Add(1)
		}
	})
	paced(10*20, func(i int) { // 10/s
		msg := []byte{'P', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(msg[1:], uint32(i))
		if _, err := udp.WriteToUDPAddrPort(msg, probeAddr); err == nil {
			probesSent.Add(1)
		}
	})
	paced(20, func(int) {
		tcpTried.Add(1)
		var c net.Conn
		err := vpc1.Host.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", gossipAddr.String(), 500*time.Millisecond)
			return err
		})
		if err == nil {
			tcpAccepted.Add(1)
			c.Close()
		}
	})

	// vpc1-gw's routes, every 100 ms while the attack lasts.
	var changes []string
	var ghosts []string
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	checkGhosts := time.NewTicker(2 * time.Second)
	defer checkGhosts.Stop()
	polls := 0
loop:
	for {
		select {
		case <-ctx2.Done():
			break loop
		case <-checkGhosts.C:
			ghosts = append(ghosts, ghostsSeen(ctx, m)...)
		case <-poll.C:
			polls++
			got, err := routeLines(ctx, vpc1.Gateway)
			if err != nil {
				if ctx2.Err() != nil {
					break loop
				}
				t.Fatal(err)
			}
			if got != baseline {
				changes = append(changes, fmt.Sprintf("at %v:\n%s", time.Since(began).Round(10*time.Millisecond), got))
			}
		}
	}
	wg.Wait()
	time.Sleep(time.Second) // what was sent last has arrived, if it could
	ghosts = append(ghosts, ghostsSeen(ctx, m)...)
	after := membership(t, ctx, m)

	t.Logf("sent from %s to %s: %d forged dead notices, %d made-up members, %d probes; %d TCP connects tried; %d route polls",
		vpc1.HostIP, gwOverlay, deadSent.Load(), aliveSent.Load(), probesSent.Load(), tcpTried.Load(), polls)
	if deadSent.Load() < 360 || aliveSent.Load() < 2700 || probesSent.Load() < 180 {
		t.Errorf("too little sent to tell: %d dead, %d alive, %d probes", deadSent.Load(), aliveSent.Load(), probesSent.Load())
	}
	if len(changes) > 0 {
		t.Errorf("vpc1-gw's routes changed %d times in %d polls; before:\n%s\nfirst change %s", len(changes), polls, baseline, changes[0])
	}
	if len(ghosts) > 0 {
		slices.Sort(ghosts)
		ghosts = slices.Compact(ghosts)
		t.Errorf("made-up members got in: %d (gateway, member) pairs, e.g. %v", len(ghosts), ghosts[:min(5, len(ghosts))])
	}
	if n := answers.Load(); n > 0 {
		t.Errorf("the gateway answered %d probes from a LAN host", n)
	}
	if n := tcpAccepted.Load(); n > 0 {
		t.Errorf("memberlist's TCP port accepted %d of %d connections from a LAN host", n, tcpTried.Load())
	}
	for name, b := range before {
		if a := after[name]; a != b {
			t.Errorf("%s's membership changed during the attack: before %s, after %.300s", name, b, a)
		}
	}
}

// A member's "dead" verdict on another, which memberlist takes from any
// member without proof, does not take the accused's routes while probes
// through its tunnel are answered. vpc2-gw, a member in good standing,
// sends vpc1-gw forged dead notices for the branch through its tunnel for
// 10 s: memberlist takes them (the branch shows as standby in vpc1-gw's
// status) but vpc1-gw's routes do not change.
func TestGossipDeadVerdictNeedsProbes(t *testing.T) {
	ctx, m := startTunnelMesh(t)
	vpc1, vpc2, branch := m.Site("vpc1"), m.Site("vpc2"), m.Site("branch")
	baseline := stableRoutes(t, ctx, vpc1.Gateway)
	if !strings.Contains(baseline, branch.LAN.String()) {
		t.Fatalf("vpc1-gw does not route the branch's %s:\n%s", branch.LAN, baseline)
	}

	var udp *net.UDPConn
	must(t, vpc2.Gateway.Do(func() (err error) {
		udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(tunnelSites[1].Overlay)})
		return err
	}))
	defer udp.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr(tunnelSites[0].Overlay), discovery.GossipPort)

	const attack = 10 * time.Second
	ctx2, stop := context.WithTimeout(ctx, attack)
	defer stop()
	var sent atomic.Int64
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx2.Done():
				return
			case <-tick.C:
			}
			msg := memberlistMsg(t, mlDeadMsg, mlDead{Incarnation: 1<<20 + 2*uint32(i), Node: branch.GW.Name, From: vpc2.GW.Name})
			if _, err := udp.WriteToUDPAddrPort(msg, to); err == nil {
				sent.Add(1)
			}
		}
	}()

	var changes []string
	standby := false
	began := time.Now()
	polls := 0
	for ctx2.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		polls++
		got, err := routeLines(ctx, vpc1.Gateway)
		must(t, err)
		if got != baseline {
			changes = append(changes, fmt.Sprintf("at %v:\n%s", time.Since(began).Round(10*time.Millisecond), got))
		}
		if polls%10 == 0 && !standby {
			standby = peerOf(t, ctx, vpc1.GW, branch.GW.Name).Standby
		}
	}
	t.Logf("vpc2-gw sent %d forged dead notices for %s to vpc1-gw through its tunnel; %d route polls", sent.Load(), branch.GW.Name, polls)
	if !standby {
		t.Errorf("vpc1-gw never showed %s as given up: the forged notices did not reach memberlist, so this proves nothing", branch.GW.Name)
	}
	if len(changes) > 0 {
		t.Errorf("vpc1-gw's routes changed %d times in %d polls while %s answered its probes; before:\n%s\nfirst change %s",
			len(changes), polls, branch.GW.Name, baseline, changes[0])
	}
}

// memberlist's wire format (net.go, util.go of hashicorp/memberlist): a
// message type byte, then the message in msgpack.
const (
	mlAliveMsg = 4
	mlDeadMsg  = 5
)

type mlAlive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

type mlDead struct {
	Incarnation uint32
	Node        string
	From        string
}

func memberlistMsg(t *testing.T, kind byte, msg any) []byte {
	var buf bytes.Buffer
	buf.WriteByte(kind)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(msg); err != nil {
		t.Error(err)
	}
	return buf.Bytes()
}

// routeLines is every vpcmesh route of a gateway, all tables, as `ip`
// prints them.
func routeLines(ctx context.Context, ns *lab.NS) (string, error) {
	out, err := ns.Exec(ctx, "ip", "-4", "route", "show", "table", "all", "proto", "118")
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}

// stableRoutes waits until a gateway's routes have not changed for 2 s and
// returns them.
func stableRoutes(t *testing.T, ctx context.Context, ns *lab.NS) string {
	t.Helper()
	var last string
	since := time.Now()
	must(t, lab.Eventually(ctx, 30*time.Second, func() error {
		got, err := routeLines(ctx, ns)
		if err != nil {
			return err
		}
		if got != last {
			last, since = got, time.Now()
		}
		if time.Since(since) < 2*time.Second {
			return errors.New("routes still changing")
		}
		return nil
	}))
	return last
}

// membership is each gateway's gossip members and unverified members.
func membership(t *testing.T, ctx context.Context, m *scenario.GossipMesh) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range m.Sites {
		st, err := s.GW.Status(ctx)
		must(t, err)
		if st.Gossip == nil {
			t.Fatalf("%s: no gossip in status", s.GW.Name)
		}
		out[s.GW.Name] = fmt.Sprintf("members %v, unverified %v", st.Gossip.Members, st.Gossip.Unverified)
	}
	return out
}

// ghostsSeen lists the made-up members any gateway knows of.
func ghostsSeen(ctx context.Context, m *scenario.GossipMesh) []string {
	var out []string
	for _, s := range m.Sites {
		st, err := s.GW.Status(ctx)
		if err != nil || st.Gossip == nil {
			continue
		}
		for _, n := range slices.Concat(st.Gossip.Members, st.Gossip.Unverified) {
			if strings.HasPrefix(n, "ghost-") {
				out = append(out, s.GW.Name+": "+n)
			}
		}
	}
	return out
}
