package discovery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// At least 200 gateways on memberlist's in-memory transport, each joined
// through the first one only, end up holding every other gateway's
// verified record; a gateway of another mesh is seen by memberlist but
// never trusted.
func TestGossipConvergesAt200Nodes(t *testing.T) {
	if testing.Short() {
		t.Skip("200 in-process gateways take about half a minute")
	}
	const n = 200
	m := newTestMesh(t)
	network := &memberlist.MockNetwork{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// MockNetwork's maps are not safe for concurrent use: every transport
	// is made before any node runs.
	transports := map[string]*udpLike{}
	for _, i := range append(seq(n+1), 999) {
		name := fmt.Sprintf("gw-%d", i)
		transports[name] = newUDPLike(network, name)
	}
	start := func(id *Identity, root *testMesh) *Gossip {
		g, err := StartGossip(GossipConfig{
			Identity: id, Root: root.root, Log: quiet,
			Transport: transports[id.Leaf().Body.Name],
		}, Record{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Shutdown() })
		return g
	}
	var nodes []*Gossip
	began := time.Now()
	for i := range n {
		g := start(m.issue(t, i+1, time.Now().Add(time.Hour)), m)
		if i > 0 {
			if _, err := g.JoinAddrs(nodes[0].Addr()); err != nil {
				t.Fatalf("node %d join: %v", i, err)
			}
		}
		nodes = append(nodes, g)
	}
	joined := time.Since(began)
	other := newTestMesh(t)
	stranger := start(other.issue(t, 999, time.Now().Add(time.Hour)), other)
	if _, err := stranger.JoinAddrs(nodes[0].Addr()); err != nil {
		t.Fatal(err)
	}

	everywhere := func(want int, limit time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		for {
			behind := 0
			for _, g := range nodes {
				if len(g.Nodes()) != want {
					behind++
				}
			}
			if behind == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d of %d nodes still without every record after %v: %s", behind, len(nodes), limit, whyBehind(nodes))
			// Polling 200 nodes is not free (each Nodes call takes the
			// node's lock and sorts): a quarter second apart leaves the
			// CPU to the gossip it measures.
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if err := everywhere(n-1, 150*time.Second); err != nil {
		t.Fatal(err)
	}
	converged := time.Since(began)
	t.Logf("converged after %v; gw-2 %+v", converged, nodes[1].Traffic())
	// The figure that matters once a mesh runs: one more gateway joins
	// through one member and every other gateway holds its record.
	before := nodes[0].Traffic()
	late := time.Now()
	newcomer := start(m.issue(t, n+1, time.Now().Add(time.Hour)), m)
	if _, err := newcomer.JoinAddrs(nodes[0].Addr()); err != nil {
		t.Fatal(err)
	}
	if err := everywhere(n, 60*time.Second); err != nil {
		t.Logf("newcomer: nodes %d members %d traffic %+v", len(newcomer.Nodes()), newcomer.NumMembers(), newcomer.Traffic())
		for _, g := range nodes[:3] {
			t.Logf("%s: nodes %d members %d unverified %v refused %v traffic %+v", g.name, len(g.Nodes()), g.NumMembers(), g.Unverified(), g.Refused(), g.Traffic())
		}
		t.Fatal(err)
	}
	lateJoin := time.Since(late)
	after := nodes[0].Traffic()
	nodes = append(nodes, newcomer)

	var traffic Traffic
	refused := uint64(0)
	for _, g := range nodes {
		tr := g.Traffic()
		traffic.BroadcastBytes += tr.BroadcastBytes
		traffic.StateBytesOut += tr.StateBytesOut
		refused += g.Refused()[RefusedUntrusted]
		for _, o := range g.Nodes() {
			if o.Name == "gw-999" {
				t.Fatalf("%s trusts the other mesh's gateway", g.name)
			}
		}
	}
	if refused == 0 {
		t.Error("no gateway counted the other mesh's record as refused")
	}
	t.Logf("%d gateways started together: joined in %v, every record everywhere after %v; per node %s of broadcasts and %s of push/pull state sent; the other mesh's record refused %d times",
		n, joined.Round(time.Millisecond), converged.Round(time.Millisecond),
		kib(traffic.BroadcastBytes/uint64(n)), kib(traffic.StateBytesOut/uint64(n)), refused)
	t.Logf("gateway %d joining the running mesh: its record everywhere after %v; the contacted node sent %s of broadcasts and %s of push/pull state for it",
		n+1, lateJoin.Round(time.Millisecond), kib(after.BroadcastBytes-before.BroadcastBytes), kib(after.StateBytesOut-before.StateBytesOut))
}

// whyBehind tells what the nodes lack: how many hold each count of
// records and of live members, and which records the most are missing.
func whyBehind(nodes []*Gossip) string {
	held, live := map[int]int{}, map[int]int{}
	missing := map[string]int{}
	for _, g := range nodes {
		have := map[string]bool{g.name: true}
		for _, n := range g.Nodes() {
			have[n.Name] = true
		}
		held[len(have)-1]++
		live[g.NumMembers()]++
		for _, o := range nodes {
			if !have[o.name] {
				missing[o.name]++
			}
		}
	}
	names := slices.SortedFunc(maps.Keys(missing), func(a, b string) int { return missing[b] - missing[a] })
	var worst []string
	for _, name := range names[:min(len(names), 8)] {
		worst = append(worst, fmt.Sprintf("%s by %d", name, missing[name]))
	}
	return fmt.Sprintf("nodes holding n records %v, seeing n live members %v; missing: %s", held, live, strings.Join(worst, ", "))
}

func kib(b uint64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }

// seq is 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
