package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// A gateway whose certificate comes from another root, and one whose
// certificate has expired, are refused and counted: nothing of theirs
// appears on any gateway of the mesh.
func TestGossipRefusesForeignAndExpired(t *testing.T) {
	l, ctx, m, _ := startGossipMesh(t)
	vpc1 := m.Site("vpc1")
	join := vpc1.PublicIP + ":51820"

	other, err := scenario.NewTrust(l, vpcmeshBin, "other")
	must(t, err)
	rogue, err := scenario.AddGossipSite(l, vpcmeshBin, other, scenario.GossipSiteSpec{
		Name: "rogue", NAT: lab.NATOneToOne, Public: "203.0.113.40", LAN: "10.40.0.0/24",
		Host: "10.40.0.20", Join: join, Overlay: "100.96.0.40"})
	must(t, err)
	stale, err := scenario.AddGossipSite(l, vpcmeshBin, m.Trust, scenario.GossipSiteSpec{
		Name: "stale", NAT: lab.NATOneToOne, Public: "203.0.113.41", LAN: "10.41.0.0/24",
		Host: "10.41.0.20", Join: join, Overlay: "100.96.0.41", ValidFor: time.Second})
	must(t, err)

	// Another root: the gateway runs (its own root trusts it) and keeps
	// knocking; vpc1 refuses every Join as untrusted.
	must(t, rogue.GW.Start(ctx))
	must(t, waitRefused(ctx, vpc1.GW, discovery.RefusedUntrusted, 3))

	// Expired: the gateway itself will not start on it, and says why.
	certFile := filepath.Join(stale.GW.Dir, "gateway.crt")
	chain, err := cert.ReadChainFile(certFile)
	must(t, err)
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		if left := time.Until(chain[0].Body.NotAfter); left >= 0 {
			return fmt.Errorf("certificate valid for %v more", left)
		}
		return nil
	}))
	err = stale.GW.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("starting with an expired certificate: %v; want an error naming %s and saying expired", err, certFile)
	}
	// Its Join, signed with the expired certificate, sent anyway as an
	// old build or a replay would.
	key, err := cert.ReadPrivateKeyFile(filepath.Join(stale.GW.Dir, "signing.key"))
	must(t, err)
	rec, err := (&discovery.Identity{Chain: chain, Key: key}).Sign(discovery.Record{Name: "stale-gw", Version: 1})
	must(t, err)
	_, _, err = knock(stale.Gateway, join, rec, key)
	must(t, err)
	must(t, waitRefused(ctx, vpc1.GW, discovery.RefusedExpired, 1))

	for _, s := range m.Sites {
		st, err := s.GW.Status(ctx)
		must(t, err)
		for _, p := range st.Peers {
			if p.PublicKey == rogue.GW.PublicKey || p.PublicKey == stale.GW.PublicKey {
				t.Errorf("%s has a peer for a refused gateway: %+v", s.GW.Name, p)
			}
		}
		for _, name := range append(st.Gossip.Members, st.Gossip.Unverified...) {
			if name == "rogue-gw" || name == "stale-gw" {
				t.Errorf("%s lists %s in gossip", s.GW.Name, name)
			}
		}
		routes := ownedRoutes(t, ctx, s.Gateway)
		for _, lan := range []string{rogue.LAN.String(), stale.LAN.String()} {
			if slices.Contains(routes, lan) {
				t.Errorf("%s routes %s", s.GW.Name, lan)
			}
		}
	}
	if err := rogue.Host.Ping(ctx, vpc1.HostIP); err == nil {
		t.Error("the rogue site's host reached vpc1's host")
	}
	if log := vpc1.GW.Log(); !strings.Contains(log, "admission refused") {
		t.Errorf("vpc1-gw logged no refused admission:\n%s", tail(log, 20))
	}
	st, err := vpc1.GW.Status(ctx)
	must(t, err)
	t.Logf("vpc1-gw refused: %v", st.Gossip.Refused)
}

// waitRefused waits until g has refused at least n records for reason.
func waitRefused(ctx context.Context, g *scenario.Gateway, reason string, n uint64) error {
	return lab.Eventually(ctx, 15*time.Second, func() error {
		st, err := g.Status(ctx)
		if err != nil {
			return err
		}
		if st.Gossip == nil || st.Gossip.Refused[reason] < n {
			return fmt.Errorf("%s: refused %v, want %d %s", g.Name, st.Gossip, n, reason)
		}
		return nil
	})
}

// knock sends a Join for rec, signed with key, from inside ns to a
// gateway, as a gateway would: first without a cookie, then again with the
// cookie the gateway answers. It returns that cookie and the port the
// Joins came from.
func knock(ns *lab.NS, to string, rec []byte, key ed25519.PrivateKey) (cookie discovery.Cookie, port uint16, err error) {
	err = ns.Do(func() error {
		c, err := net.Dial("udp", to)
		if err != nil {
			return err
		}
		defer c.Close()
		port = uint16(c.LocalAddr().(*net.UDPAddr).Port)
		join := discovery.Admission{Type: discovery.MsgJoin, Record: rec}
		if _, err := c.Write(join.Encode(key)); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("no cookie from %s: %w", to, err)
		}
		reply, err := discovery.DecodeCookieReply(buf[:n])
		if err != nil {
			return fmt.Errorf("answer from %s: %w", to, err)
		}
		cookie, join.Cookie = reply.Cookie, reply.Cookie
		_, err = c.Write(join.Encode(key))
		return err
	})
	return cookie, port, err
}

// Two sites exporting the same prefix: every gateway makes the same
// choice (the smaller site name), and every gateway, the two involved
// included, logs the conflict and shows it in status.
func TestGossipConflictShown(t *testing.T) {
	l, ctx, m, _ := startGossipMesh(t)
	vpc1, vpc2 := m.Site("vpc1"), m.Site("vpc2")
	dup, err := scenario.AddGossipSite(l, vpcmeshBin, m.Trust, scenario.GossipSiteSpec{
		Name: "zz-dup", NAT: lab.NATOneToOne, Public: "203.0.113.42", LAN: vpc1.LAN.String(),
		Host: "10.1.0.21", Join: vpc2.PublicIP + ":51820", Overlay: "100.96.0.42"})
	must(t, err)
	must(t, dup.GW.Start(ctx))

	all := append(slices.Clone(m.Sites), dup)
	began := time.Now()
	must(t, lab.Eventually(ctx, 15*time.Second, func() error {
		for _, s := range all {
			st, err := s.GW.Status(ctx)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(st.Conflicts, func(c string) bool {
				return strings.Contains(c, vpc1.LAN.String()) && strings.Contains(c, "zz-dup")
			}) {
				return fmt.Errorf("%s shows conflicts %q", s.GW.Name, st.Conflicts)
			}
		}
		return nil
	}))
	for _, s := range all {
		if log := s.GW.Log(); !strings.Contains(log, "msg=conflict") {
			t.Errorf("%s logged no conflict", s.GW.Name)
		}
	}
	st, err := vpc2.GW.Status(ctx)
	must(t, err)
	t.Logf("every gateway showed the conflict %v after zz-dup-gw started: vpc2-gw: %q", time.Since(began).Round(10*time.Millisecond), st.Conflicts)
	// vpc1 keeps the prefix everywhere: "vpc1" < "zz-dup".
	must(t, vpc2.Host.Ping(ctx, vpc1.HostIP))
	if err := vpc2.Host.Ping(ctx, "10.1.0.21"); err == nil {
		t.Error("the losing site's host answered at the contested prefix")
	}
}

// A project's authority, without the root key, signs a gateway for a new
// VPC of its project: it joins, and its site is reachable for the
// project's members. A gateway its authority signed for another project
// joins too, but no member of "lab" reaches it.
func TestGossipAuthoritySignsItsProject(t *testing.T) {
	l, ctx, m, _ := startGossipMesh(t)
	labCA, err := m.Trust.Authority(l, "lab", "lab-ca", scenario.Grant{Projects: []string{"lab"}, Prefixes: []string{"10.50.0.0/16"},
		Names: []string{"vpc9"}, Sites: []string{"vpc9"}, Overlays: []string{"100.96.0.50/32"}})
	must(t, err)
	alphaCA, err := m.Trust.Authority(l, "lab", "alpha-ca", scenario.Grant{Projects: []string{"alpha"}, Prefixes: []string{"10.60.0.0/16"},
		Names: []string{"alpha"}, Sites: []string{"alpha"}, Overlays: []string{"100.96.0.51/32"}})
	must(t, err)
	join := m.Site("vpc2").PublicIP + ":51820"
	vpc9, err := scenario.AddGossipSite(l, vpcmeshBin, labCA, scenario.GossipSiteSpec{
		Name: "vpc9", NAT: lab.NATOneToOne, Public: "203.0.113.50", LAN: "10.50.0.0/24",
		Host: "10.50.0.20", Join: join, Overlay: "100.96.0.50"})
	must(t, err)
	alpha, err := scenario.AddGossipSite(l, vpcmeshBin, alphaCA, scenario.GossipSiteSpec{
		Name: "alpha", NAT: lab.NATOneToOne, Public: "203.0.113.51", LAN: "10.60.0.0/24",
		Host: "10.60.0.20", Join: join, Overlay: "100.96.0.51", Project: "alpha"})
	must(t, err)
	began := time.Now()
	must(t, vpc9.GW.Start(ctx))
	must(t, alpha.GW.Start(ctx))

	var pairs []scenario.Pair
	for _, s := range m.Sites {
		pairs = append(pairs, scenario.Pair{A: s, B: vpc9})
	}
	_, err = m.WaitConnected(ctx, pairs, 20*time.Second)
	must(t, err)
	t.Logf("the authority-signed gateway's site is reachable from all 6 sites %v after it started", time.Since(began).Round(10*time.Millisecond))

	// alpha-gw is a verified member everywhere, yet "lab" has no route to
	// alpha's prefix: nobody here is an alpha member.
	must(t, lab.Eventually(ctx, 15*time.Second, func() error {
		for _, s := range m.Sites {
			st, err := s.GW.Status(ctx)
			if err != nil {
				return err
			}
			if st.Gossip == nil || !slices.Contains(st.Gossip.Members, "alpha-gw") {
				return fmt.Errorf("%s: members %v, want alpha-gw among them", s.GW.Name, st.Gossip)
			}
		}
		return nil
	}))
	for _, s := range m.Sites {
		if err := s.Host.Ping(ctx, alpha.HostIP); err == nil {
			t.Errorf("%s's host, not an alpha member, reached alpha's host", s.Name)
		}
	}

	// The project removes its gateway itself: lab-ca's revocation list,
	// given to vpc1 alone, takes vpc9 out everywhere. The root-signed
	// gateways stay.
	list, err := labCA.Revoke(l, "lab", vpc9.GW)
	must(t, err)
	vpc1 := m.Site("vpc1")
	vpc1.GW.RevocationsFile = list
	revoked := time.Now()
	must(t, vpc1.GW.Reload())
	m.Sites = append(m.Sites, vpc9)
	gone, err := routeGone(ctx, m, vpc9, vpc9.LAN.String(), 15*time.Second)
	m.Sites = m.Sites[:len(m.Sites)-1]
	must(t, err)
	t.Logf("lab-ca revoked vpc9-gw: its routes gone from the other 6 gateways %v after vpc1's reload", time.Since(revoked).Round(10*time.Millisecond))
	if gone > 5*time.Second {
		t.Errorf("the authority's revocation took %v to apply everywhere, want at most 5 s", gone)
	}
	_, err = m.WaitConnected(ctx, m.Pairs(), 10*time.Second)
	must(t, err)
}

// The root revokes vpc3's certificate; the list, given to vpc1 alone,
// spreads by gossip, and every gateway drops vpc3's tunnel and routes.
func TestGossipRevocation(t *testing.T) {
	l, ctx, m, _ := startGossipMesh(t)
	vpc1, vpc3 := m.Site("vpc1"), m.Site("vpc3")
	list, err := m.Trust.Revoke(l, "lab", vpc3.GW)
	must(t, err)
	vpc1.GW.RevocationsFile = list
	began := time.Now()
	must(t, vpc1.GW.Reload())
	gone, err := routeGone(ctx, m, vpc3, vpc3.LAN.String(), 15*time.Second)
	must(t, err)
	t.Logf("revocation given to vpc1 only: vpc3's routes gone from the other 5 gateways %v after the reload", time.Since(began).Round(10*time.Millisecond))
	if gone > 5*time.Second {
		t.Errorf("revocation took %v to apply everywhere, want at most 5 s", gone)
	}
	for _, s := range m.Sites {
		if s == vpc3 {
			continue
		}
		st, err := s.GW.Status(ctx)
		must(t, err)
		for _, p := range st.Peers {
			if p.PublicKey == vpc3.GW.PublicKey {
				t.Errorf("%s still has vpc3-gw as a peer", s.GW.Name)
			}
		}
	}
	// vpc3 keeps knocking; it is refused as revoked, and stays out.
	must(t, waitRefused(ctx, vpc1.GW, "revoked", 1))
	if err := vpc1.Host.Ping(ctx, vpc3.HostIP); err == nil {
		t.Error("vpc1's host still reaches the revoked site")
	}
}

// A gateway certificate that its project authority signed beyond the
// authority's projects and prefixes (here: VPC 1's prefix, of project
// "lab", from an authority of project "alpha") is refused by the gateway
// it contacts, visibly in status and metrics; VPC 1's traffic keeps going to
// VPC 1.
func TestGossipRefusesBeyondAuthority(t *testing.T) {
	l, ctx := newLab(t)
	m, err := scenario.BuildGossipMesh(l, vpcmeshBin)
	must(t, err)
	defer dumpLogsIfAsked(t, m)
	vpc1, vpc2 := m.Site("vpc1"), m.Site("vpc2")
	const metricsAddr = "127.0.0.1:9586"
	vpc1.GW.MetricsListen = metricsAddr
	must(t, vpc1.GW.WriteConfig())
	must(t, m.Start(ctx))
	_, err = m.WaitConnected(ctx, m.Pairs(), 30*time.Second)
	must(t, err)
	alphaCA, err := m.Trust.Authority(l, "lab", "alpha-ca", scenario.Grant{Projects: []string{"alpha"}, Prefixes: []string{"10.60.0.0/16"},
		Names: []string{"alpha", "grabber"}, Sites: []string{"alpha", "grabber"}, Overlays: []string{"100.96.0.64/26"}})
	must(t, err)
	dir := alphaCA.AuthorityDir()
	key, err := cert.ReadPrivateKeyFile(filepath.Join(dir, "authority.key"))
	must(t, err)
	authority, err := cert.ReadChainFile(filepath.Join(dir, "authority.crt"))
	must(t, err)
	// What `ca sign --authority` refuses to sign, made by hand.
	spub, spriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	_, wgPub, err := lab.GenKey()
	must(t, err)
	lan := netip.MustParsePrefix(vpc1.LAN.String())
	leaf, err := cert.Sign(cert.Body{Version: cert.Version, Kind: cert.KindGateway, Mesh: "lab", Name: "grabber-gw",
		WireGuardKey: wgPub, SigningKey: spub, Overlay: netip.MustParseAddr("100.96.0.77"),
		Sites: []cert.Site{{Name: "grabber", CIDRs: []netip.Prefix{lan}, Priority: 100,
			Exports: []cert.Export{{Project: "lab", CIDR: lan, Wire: lan}}}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}, key)
	must(t, err)
	rec, err := (&discovery.Identity{Chain: append([]*cert.Cert{leaf}, authority...), Key: spriv}).Sign(discovery.Record{Name: "grabber-gw", Version: 1})
	must(t, err)
	_, _, err = knock(vpc2.Host, vpc1.PublicIP+":51820", rec, spriv)
	must(t, err)
	must(t, waitRefused(ctx, vpc1.GW, discovery.RefusedConstraint, 1))
	samples, err := scrape(vpc1.Gateway, metricsAddr)
	must(t, err)
	if got := samples[`vpcmesh_gossip_refused_records_total{reason="constraint"}`]; got < 1 {
		t.Errorf("metrics: refused constraint = %v, want ≥ 1", got)
	}
	for _, s := range m.Sites {
		st, err := s.GW.Status(ctx)
		must(t, err)
		if slices.Contains(st.Gossip.Members, "grabber-gw") {
			t.Errorf("%s lists grabber-gw", s.GW.Name)
		}
		for _, p := range st.Peers {
			if p.PublicKey == wgPub {
				t.Errorf("%s has a peer for grabber-gw", s.GW.Name)
			}
		}
	}
	must(t, vpc2.Host.Ping(ctx, vpc1.HostIP))
	if log := vpc1.GW.Log(); !strings.Contains(log, "admission refused") || !strings.Contains(log, "alpha") {
		t.Errorf("vpc1-gw did not log the refusal naming the authority's limits:\n%s", tail(log, 10))
	}
}
