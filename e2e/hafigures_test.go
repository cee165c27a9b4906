package e2e

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// The HA figures (e2e/ha-figures.sh), not part of the suite: with
// VPCMESH_HA_RUNS=N, N rounds in one LAN HA lab with default settings,
// each a kill -9 of the active member, its return (failback), a clean
// stop and a second return; prints the medians and maxima of the ping
// gaps, and the probe packets each gateway sent per second.
func TestHAFigures(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("VPCMESH_HA_RUNS"))
	if runs <= 0 {
		t.Skip("set VPCMESH_HA_RUNS to a number of rounds (e2e/ha-figures.sh)")
	}
	_, _, h := newLANHA(t)
	// Longer than a lab's usual three minutes: about 50 s a round.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs+1)*90*time.Second)
	defer cancel()
	must(t, h.Start(ctx))
	sentAt := func(g *scenario.Gateway) (uint64, time.Time) {
		st, err := g.Status(ctx)
		must(t, err)
		return st.Health.ProbesSent, time.Now()
	}
	remote0, at0 := sentAt(h.Remote)
	gw20, _ := sentAt(h.GW2)

	var kills, stops, backs []time.Duration
	failback := func() {
		gaps := make(chan time.Duration, 1)
		// 15 s: the hold-down, the start and a margin.
		go func() { gaps <- h.PC.PingStreamEvery(ctx, scenario.HostA, pingEvery, 300, 0, nil) }()
		must(t, h.GW1.Start(ctx))
		must(t, h.WaitHolder(ctx, h.GW1, 25*time.Second))
		backs = append(backs, <-gaps)
	}
	for i := range runs {
		gap := h.PC.PingStreamEvery(ctx, scenario.HostA, pingEvery, 120, 2*time.Second, func() { must(t, h.GW1.Kill()) })
		kills = append(kills, gap)
		must(t, h.WaitHolder(ctx, h.GW2, 5*time.Second))
		failback()
		gap = h.PC.PingStreamEvery(ctx, scenario.HostA, pingEvery, 80, 2*time.Second, func() { must(t, h.GW1.Stop()) })
		stops = append(stops, gap)
		must(t, h.WaitHolder(ctx, h.GW2, 5*time.Second))
		failback()
		t.Logf("round %d: kill -9 %v, clean stop %v, failbacks %v and %v", i+1, kills[i], stops[i], backs[2*i], backs[2*i+1])
	}
	remote1, at1 := sentAt(h.Remote)
	gw21, _ := sentAt(h.GW2)
	secs := at1.Sub(at0).Seconds()
	t.Logf("over %d rounds, default settings, 20/s ping stream from the office:", runs)
	for _, f := range []struct {
		what string
		d    []time.Duration
	}{{"kill -9 of the active member", kills}, {"clean stop of the active member", stops}, {"failback after the hold-down", backs}} {
		slices.Sort(f.d)
		t.Logf("  %-32s median %v, max %v (%d samples)", f.what, f.d[len(f.d)/2], f.d[len(f.d)-1], len(f.d))
	}
	t.Logf("probe packets sent per second over %.0f s: vpc-gw %.1f, office-gw2 %.1f (3 gateways; both office members are an HA pair's)",
		secs, float64(remote1-remote0)/secs, float64(gw21-gw20)/secs)
}
