package discovery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// A revocation list given to one gateway spreads, and every gateway drops
// the revoked one and refuses its records from then on.
func TestRevocationSpreadsAndDrops(t *testing.T) {
	m := newTestMesh(t)
	network := &memberlist.MockNetwork{}
	ids := []*Identity{}
	transports := []*memberlist.MockTransport{}
	for i := range 4 {
		ids = append(ids, m.issue(t, i+1, time.Now().Add(time.Hour)))
		transports = append(transports, network.NewTransport(fmt.Sprintf("gw-%d", i+1)))
	}
	var nodes []*Gossip
	for i, id := range ids {
		g, err := StartGossip(GossipConfig{Identity: id, Root: m.root, Transport: transports[i],
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Record{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Shutdown() })
		if i > 0 {
			if _, err := g.JoinAddrs(nodes[0].Addr()); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, g)
	}
	waitFor := func(what string, cond func(g *Gossip) bool, gs []*Gossip) time.Duration {
		t.Helper()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for {
			ok := true
			for _, g := range gs {
				ok = ok && cond(g)
			}
			if ok {
				return time.Since(start)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("not within 20s: %s", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	names := func(g *Gossip) []string {
		var out []string
		for _, n := range g.Nodes() {
			out = append(out, n.Name)
		}
		return out
	}
	waitFor("every gateway knows the other three", func(g *Gossip) bool { return len(g.Nodes()) == 3 }, nodes)

	list, err := cert.SignRevocations(cert.RevocationBody{Mesh: "lab", Serial: 1, Issued: time.Now(),
		Revoked: []string{cert.Fingerprint(ids[3].Leaf())}}, m.key)
	if err != nil {
		t.Fatal(err)
	}
	if taken, err := nodes[0].SetRevocations(list); !taken || err != nil {
		t.Fatalf("SetRevocations: %v %v", taken, err)
	}
	took := waitFor("gw-4 dropped everywhere", func(g *Gossip) bool { return !slices.Contains(names(g), "gw-4") }, nodes[:3])
	t.Logf("revocation of gw-4 applied by the other three gateways after %v", took.Round(time.Millisecond))

	// gw-4 publishes a new record: refused as revoked.
	before := nodes[1].Refused()[RefusedRevoked]
	if err := nodes[3].Publish(Record{}); err == nil {
		waitFor("gw-4's new record refused", func(g *Gossip) bool { return g.Refused()[RefusedRevoked] > before }, nodes[1:2])
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
