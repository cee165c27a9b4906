package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
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

// A project authority acts only within what the root granted it. A rogue
// one — the beta project's — tries what a review found possible: making
// its hosts members of another project, and taking another gateway's name,
// overlay address or HA site. Every gateway refuses, counts the refusal,
// and nothing changes, also after the rogue gateways are revoked.
func TestGossipAuthorityStaysInItsGrant(t *testing.T) {
	l, ctx, m, _ := startGossipMesh(t)
	vpc1, vpc2 := m.Site("vpc1"), m.Site("vpc2")
	beta, err := m.Trust.Authority(l, "lab", "beta-ca", scenario.Grant{Projects: []string{"beta"}, Prefixes: []string{"10.70.0.0/16"},
		Names: []string{"beta"}, Sites: []string{"beta"}, Overlays: []string{"100.96.0.64/27"}})
	must(t, err)

	// (1) A beta gateway, signed for project beta, whose config then makes
	// its LAN a member of "lab", the project of every VPC here. Our gateway
	// will not run so; a modified one would announce it: its record, signed
	// with its own key, is refused everywhere, and no gateway routes
	// replies to beta's LAN.
	rogue, err := scenario.AddGossipSite(l, vpcmeshBin, beta, scenario.GossipSiteSpec{Name: "beta", NAT: lab.NATOneToOne,
		Public: "203.0.113.70", LAN: "10.70.0.0/24", Host: "10.70.0.20", Join: vpc1.PublicIP + ":51820", Overlay: "100.96.0.70", Project: "beta"})
	must(t, err)
	rogue.GW.Members = []scenario.MemberSpec{{Project: "lab", Sources: []string{"10.70.0.0/24"}}}
	must(t, rogue.GW.WriteConfig())
	if err := rogue.GW.Start(ctx); err == nil || !strings.Contains(err.Error(), `member 10.70.0.0/24 of site "beta" in project "lab" is outside`) {
		t.Fatalf("beta-gw started with members in a project its certificate does not grant: %v", err)
	}
	chain, err := cert.ReadChainFile(filepath.Join(rogue.GW.Dir, "gateway.crt"))
	must(t, err)
	key, err := cert.ReadPrivateKeyFile(filepath.Join(rogue.GW.Dir, "signing.key"))
	must(t, err)
	rec, err := (&discovery.Identity{Chain: chain, Key: key}).Sign(discovery.Record{Name: "beta-gw", Version: uint64(time.Now().UnixNano()),
		Members: []discovery.Member{{Site: "beta", Project: "lab", Wire: netip.MustParsePrefix("10.70.0.0/24")}}})
	must(t, err)
	_, _, err = knock(rogue.Gateway, vpc1.PublicIP+":51820", rec, key)
	must(t, err)
	must(t, waitRefused(ctx, vpc1.GW, discovery.RefusedConstraint, 1))
	for _, s := range m.Sites {
		if slices.Contains(ownedRoutes(t, ctx, s.Gateway), "10.70.0.0/24") {
			t.Errorf("%s routes beta's LAN", s.GW.Name)
		}
	}
	if err := rogue.Host.PingWithin(ctx, vpc1.HostIP, 500*time.Millisecond); err == nil {
		t.Error("beta's host reached vpc1's host (project lab) by ping")
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = rogue.Host.TCPTransfer(tctx, vpc1.Host, vpc1.HostIP, 1<<10)
	cancel()
	if err == nil {
		t.Error("beta's host reached vpc1's host (project lab) by TCP")
	}
	// The same transfer from a member of lab goes through: the check can tell.
	_, err = vpc2.Host.TCPTransfer(ctx, vpc1.Host, vpc1.HostIP, 1<<10)
	must(t, err)

	// (2) Beta-signed identities of others, made by hand with beta's key
	// (`ca sign` refuses them): vpc1-gw's name, vpc2-gw's overlay address,
	// vpc1's site at a higher priority. Each knocks at every public gateway.
	routesBefore := ownedRoutes(t, ctx, vpc2.Gateway)
	steal := []struct {
		what string
		edit func(*cert.Body)
	}{
		{"vpc1-gw's name", func(b *cert.Body) { b.Name = "vpc1-gw" }},
		{"vpc2-gw's overlay address", func(b *cert.Body) { b.Overlay = netip.MustParseAddr("100.96.0.2") }},
		{"vpc1's site", func(b *cert.Body) { b.Sites[0].Name, b.Sites[0].Priority = "vpc1", 1000 }},
	}
	var files []string
	for i, s := range steal {
		rec, key, file := rogueIdentity(t, beta.AuthorityDir(), fmt.Sprintf("beta-%d", i), s.edit)
		files = append(files, file)
		for _, gw := range []*scenario.GossipSite{vpc1, vpc2, m.Site("branch")} {
			_, _, err := knock(rogue.Host, gw.PublicIP+":51820", rec, key)
			must(t, err)
		}
	}
	must(t, waitRefused(ctx, vpc2.GW, discovery.RefusedConstraint, uint64(len(steal))))
	unchanged := func(when string) {
		t.Helper()
		if got := ownedRoutes(t, ctx, vpc2.Gateway); !slices.Equal(routeSet(got), routeSet(routesBefore)) {
			t.Errorf("%s: vpc2-gw's routes changed: %v, were %v", when, got, routesBefore)
		}
		for _, s := range m.Sites {
			st, err := s.GW.Status(ctx)
			must(t, err)
			for _, ha := range st.HA {
				if ha.Site == "vpc1" && ha.Active != "vpc1-gw" {
					t.Errorf("%s: %s has %s active for site vpc1", when, s.GW.Name, ha.Active)
				}
			}
			for _, name := range st.Gossip.Members {
				if name == "beta-gw" || name == "beta-0" || name == "beta-1" || name == "beta-2" {
					t.Errorf("%s: %s lists %s as a member", when, s.GW.Name, name)
				}
			}
		}
		_, err := m.WaitConnected(ctx, m.Pairs(), 10*time.Second)
		must(t, err)
	}
	unchanged("after the attempts")

	// (3) The beta authority revokes its impostors: still nothing changes,
	// vpc1-gw above all stays in.
	list, err := beta.RevokeFiles(l, "lab", append(files, filepath.Join(rogue.GW.Dir, "gateway.crt"))...)
	must(t, err)
	vpc2.GW.RevocationsFile = list
	must(t, vpc2.GW.Reload())
	unchanged("after beta revoked them")
	st, err := vpc2.GW.Status(ctx)
	must(t, err)
	t.Logf("vpc2-gw refused: %v", st.Gossip.Refused)
}

// rogueIdentity signs, with the authority in dir, a gateway certificate for
// name (site name, overlay address and prefixes within beta's grant), edited
// by edit, and a record of it; the chain is written to a file for revoking.
func rogueIdentity(t *testing.T, dir, name string, edit func(*cert.Body)) ([]byte, ed25519.PrivateKey, string) {
	t.Helper()
	key, err := cert.ReadPrivateKeyFile(filepath.Join(dir, "authority.key"))
	must(t, err)
	authority, err := cert.ReadChainFile(filepath.Join(dir, "authority.crt"))
	must(t, err)
	spub, spriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	_, wgPub, err := lab.GenKey()
	must(t, err)
	lan := netip.MustParsePrefix("10.70.9.0/24")
	b := cert.Body{Version: cert.Version, Kind: cert.KindGateway, Mesh: "lab", Name: name,
		WireGuardKey: wgPub, SigningKey: spub, Overlay: netip.MustParseAddr("100.96.0.90"),
		Sites: []cert.Site{{Name: "beta-site", CIDRs: []netip.Prefix{lan}, Priority: 100,
			Exports: []cert.Export{{Project: "beta", CIDR: lan, Wire: lan}}}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	edit(&b)
	leaf, err := cert.Sign(b, key)
	must(t, err)
	chain := append([]*cert.Cert{leaf}, authority...)
	file := filepath.Join(dir, name+".crt")
	must(t, cert.WriteChainFile(file, chain))
	rec, err := (&discovery.Identity{Chain: chain, Key: spriv}).Sign(discovery.Record{Name: b.Name, Version: uint64(time.Now().UnixNano())})
	must(t, err)
	return rec, spriv, file
}
