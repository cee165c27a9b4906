package discovery

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// Two certificates that both lawfully claim the name gw-7 (the root's own,
// and one from an authority the root gave the "gw-" names) resolve to the
// authority, which holds that part of the namespace, whatever the versions;
// two authorities that both hold it resolve to the first one heard, never
// to the higher version.
func TestNameResolvesToItsHolder(t *testing.T) {
	m := newTestMesh(t)
	now := time.Now()
	authA, keyA := m.authority(t, "a-ca")
	authB, keyB := m.authority(t, "b-ca")
	record := func(issuer ed25519.PrivateKey, above []*cert.Cert, version uint64) []byte {
		t.Helper()
		wg, _ := tunnel.GenerateKey()
		spub, spriv, _ := ed25519.GenerateKey(rand.Reader)
		lan := netip.MustParsePrefix("10.0.7.0/24")
		c, err := cert.Sign(cert.Body{Version: 1, Kind: cert.KindGateway, Mesh: "lab", Name: "gw-7",
			WireGuardKey: wg.Public().String(), SigningKey: spub, Overlay: netip.MustParseAddr("100.96.0.7"),
			Sites: []cert.Site{{Name: "gw-site", CIDRs: []netip.Prefix{lan}, Priority: 100,
				Exports: []cert.Export{{Project: "lab", CIDR: lan, Wire: lan}}}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, issuer)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := (&Identity{Chain: append([]*cert.Cert{c}, above...), Key: spriv}).Sign(Record{Name: "gw-7", Version: version})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	fresh := func() *Gossip {
		return &Gossip{cfg: GossipConfig{Identity: m.issue(t, 1, now.Add(time.Hour)), Root: m.root, Now: time.Now},
			records: map[string]*Node{}, refused: map[string]uint64{}}
	}
	held := func(g *Gossip) int { return len(g.records["gw-7"].Fingerprints) }

	g := fresh()
	g.accept(record(m.key, nil, 10))
	if g.accept(record(keyA, authA, 5)) != nil {
		t.Fatal("an older record replaced the held one")
	}
	if g.accept(record(keyA, authA, 11)) == nil || held(g) != 2 {
		t.Fatal("the authority holding the gw- names did not take gw-7 from the root's certificate")
	}
	if g.accept(record(m.key, nil, 99)) != nil || held(g) != 2 {
		t.Fatal("the root's certificate took gw-7 back with a higher version")
	}
	if g.accept(record(keyB, authB, 100)) != nil {
		t.Fatal("another authority holding the same names took gw-7 with a higher version")
	}
	if g.refused[RefusedNameHeld] != 2 {
		t.Errorf("name_held counted %d, want 2", g.refused[RefusedNameHeld])
	}
	if g.accept(record(keyA, authA, 101)) == nil {
		t.Fatal("the holder's own newer record was not taken")
	}
}

// authority makes an authority of project lab under m's root with the
// gw- names and sites and the whole overlay range.
func (m *testMesh) authority(t *testing.T, name string) ([]*cert.Cert, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cert.Sign(cert.Body{Version: 1, Kind: cert.KindAuthority, Mesh: "lab", Name: name, SigningKey: pub,
		Projects: []string{"lab"}, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		NamePrefixes: []string{"gw-"}, SitePrefixes: []string{"gw-"}, Overlays: []netip.Prefix{netip.MustParsePrefix("100.96.0.0/16")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, m.key)
	if err != nil {
		t.Fatal(err)
	}
	return []*cert.Cert{c}, priv
}
