package discovery

import (
	"slices"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// A revocation list given to one gateway spreads, and every gateway drops
// the revoked one and refuses its records from then on.
func TestRevocationSpreadsAndDrops(t *testing.T) {
	m := newTestMesh(t)
	ids, nodes := startGossips(t, m, 4)
	waitAll(t, "every gateway knows the other three", func(g *Gossip) bool { return len(g.Nodes()) == 3 }, nodes)

	list, err := cert.SignRevocations(cert.RevocationBody{Mesh: "lab", Serial: 1, Issued: time.Now(),
		Revoked: []string{cert.Fingerprint(ids[3].Leaf())}}, m.key)
	if err != nil {
		t.Fatal(err)
	}
	if taken, err := nodes[0].SetRevocations(list); !taken || err != nil {
		t.Fatalf("SetRevocations: %v %v", taken, err)
	}
	took := waitAll(t, "gw-4 dropped everywhere", func(g *Gossip) bool { return !slices.Contains(names(g.Nodes()), "gw-4") }, nodes[:3])
	t.Logf("revocation of gw-4 applied by the other three gateways after %v", took.Round(time.Millisecond))

	// gw-4 publishes a new record: refused as revoked.
	before := nodes[1].Refused()[RefusedRevoked]
	if err := nodes[3].Publish(Record{}); err == nil {
		waitAll(t, "gw-4's new record refused", func(g *Gossip) bool { return g.Refused()[RefusedRevoked] > before }, nodes[1:2])
	}
	// An older or foreign list is not taken.
	if taken, _ := nodes[1].SetRevocations(list); taken {
		t.Error("the same serial was taken again")
	}
	other := newTestMesh(t)
	forged, _ := cert.SignRevocations(cert.RevocationBody{Mesh: "lab", Serial: 9, Revoked: []string{cert.Fingerprint(ids[0].Leaf())}}, other.key)
	if taken, err := nodes[1].SetRevocations(forged); taken || err == nil {
		t.Errorf("a list from another root: taken %v, err %v", taken, err)
	}
}
