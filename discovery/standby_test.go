package discovery

import (
	"slices"
	"testing"
	"time"
)

// A gateway that stops cleanly is dropped everywhere, and not held on
// standby: its last record says it is leaving. When it comes back under
// its name, a record that reaches one gateway by admission replaces the
// one it left with, is passed on, and holds it on standby until memberlist
// has it back.
func TestLeftGatewayComesBack(t *testing.T) {
	m := newTestMesh(t)
	ids, nodes := startGossips(t, m, 3)
	waitAll(t, "every gateway knows the other two", func(g *Gossip) bool { return len(g.Nodes()) == 2 }, nodes)

	stopped := time.Now()
	must(t, nodes[2].Publish(Record{Leaving: true}))
	must(t, nodes[2].Leave(time.Second))
	waitAll(t, "gw-3 gone", func(g *Gossip) bool {
		return !slices.Contains(names(g.Nodes()), "gw-3") && !slices.Contains(names(g.Standby()), "gw-3") && g.LeftSince("gw-3", stopped)
	}, nodes[:2])
	if nodes[0].LeftSince("gw-3", time.Now()) || nodes[0].LeftSince("gw-2", stopped) {
		t.Error("LeftSince holds for a time after the leave, or for a live gateway")
	}

	rec, err := ids[2].Sign(Record{Name: "gw-3", Version: uint64(time.Now().UnixNano())})
	must(t, err)
	nodes[0].Offer(rec)
	took := waitAll(t, "gw-3's new record at both", func(g *Gossip) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.usable("gw-3")
	}, nodes[:2])
	t.Logf("gw-3's record offered to gw-1 held by gw-2 too after %v", took.Round(time.Millisecond))
	if took > 5*time.Second { // push/pull, every 10 s, would bring it too
		t.Errorf("gw-2 got the record after %v: gw-1 did not pass it on", took)
	}
	// Memberlist still holds gw-3 as gone: the new record puts it on
	// standby (a tunnel to tell it so), not among the live.
	if got := names(nodes[0].Standby()); !slices.Equal(got, []string{"gw-3"}) || slices.Contains(names(nodes[0].Nodes()), "gw-3") {
		t.Errorf("gw-1: standby %v, live %v; want gw-3 on standby only", got, names(nodes[0].Nodes()))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
