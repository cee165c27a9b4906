package discovery

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// testMesh is a mesh root that issues gateway identities for tests.
type testMesh struct {
	root cert.Root
	key  ed25519.PrivateKey
}

func newTestMesh(t testing.TB) *testMesh {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testMesh{root: cert.Root{Key: pub}, key: priv}
}

// issue makes gateway i's identity: overlay 100.96.x.y, site 10.x.y.0/24
// exported to project "lab".
func (m *testMesh) issue(t testing.TB, i int, notAfter time.Time) *Identity {
	t.Helper()
	return m.issueIn(t, "lab", i, notAfter)
}

// issueIn is issue for a gateway of the named mesh.
func (m *testMesh) issueIn(t testing.TB, mesh string, i int, notAfter time.Time) *Identity {
	t.Helper()
	wg, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	spub, spriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	c, err := cert.Sign(cert.Body{
		Version: 1, Kind: cert.KindGateway, Mesh: mesh, Name: fmt.Sprintf("gw-%d", i),
		WireGuardKey: wg.Public().String(), SigningKey: spub,
		Overlay: netip.AddrFrom4([4]byte{100, 96, byte(i >> 8), byte(i)}),
		Sites: []cert.Site{{Name: fmt.Sprintf("site-%d", i), CIDRs: []netip.Prefix{cidr}, Priority: 100,
			Exports: []cert.Export{{Project: "lab", CIDR: cidr, Wire: cidr}}}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
	}, m.key)
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{Chain: []*cert.Cert{c}, Key: spriv}
}
