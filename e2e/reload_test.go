package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// SIGHUP applies a changed config as a diff while a TCP transfer runs over
// the tunnel it leaves alone: the transfer is not interrupted and keeps its
// session. An invalid config is rejected with its file and line, and the
// running one stays.
func TestReloadKeepsTheTunnel(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	must(t, ts.StartAll(ctx))
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))
	before := peerOf(t, ctx, ts.OfficeGW, "vpc-gw")

	transfer := ts.PC.StartTransfer(ctx, ts.Host, scenario.HostA, 512<<20)
	// Once bytes flow, add a static peer for a branch.
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		if p := peerOf(t, ctx, ts.OfficeGW, "vpc-gw"); p.TxBytes < before.TxBytes+(8<<20) {
			return fmt.Errorf("transfer not under way: %d bytes sent", p.TxBytes-before.TxBytes)
		}
		return nil
	}))
	_, branchKey, err := lab.GenKey()
	must(t, err)
	ts.OfficeGW.Peers = append(ts.OfficeGW.Peers, scenario.PeerSpec{Name: "branch", PublicKey: branchKey,
		Endpoint: scenario.BranchPublic + ":51820", Prefixes: []string{scenario.BranchLAN}})
	must(t, ts.OfficeGW.Reload())
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		if !slices.Contains(ownedRoutes(t, ctx, ts.Office.Gateway), scenario.BranchLAN) {
			return fmt.Errorf("no route to %s yet", scenario.BranchLAN)
		}
		return nil
	}))

	// A broken file: rejected, and the running config (branch included) stays.
	good, err := os.ReadFile(ts.OfficeGW.ConfigPath)
	must(t, err)
	bad := strings.Replace(string(good), `prefixes = ["`+scenario.BranchLAN, `prefixes = ["172.16.5.0/33`, 1)
	must(t, os.WriteFile(ts.OfficeGW.ConfigPath, []byte(bad), 0o600))
	must(t, ts.OfficeGW.HUP())
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		if log := ts.OfficeGW.Log(); !strings.Contains(log, "reload: invalid config, keeping the running one") || !strings.Contains(log, ts.OfficeGW.ConfigPath+":") {
			return fmt.Errorf("no rejection naming %s logged yet", ts.OfficeGW.ConfigPath)
		}
		return nil
	}))
	if !slices.Contains(ownedRoutes(t, ctx, ts.Office.Gateway), scenario.BranchLAN) {
		t.Error("the rejected reload removed the running config's route")
	}

	res, err := transfer.Wait()
	must(t, err)
	after := peerOf(t, ctx, ts.OfficeGW, "vpc-gw")
	if after.LastHandshake == nil || before.LastHandshake == nil || !after.LastHandshake.Equal(*before.LastHandshake) {
		t.Errorf("the unchanged tunnel's session changed across the reloads: handshake %v, then %v", before.LastHandshake, after.LastHandshake)
	}
	t.Logf("%d bytes across two reloads in %v, sha256 matched, one session throughout", res.Bytes, res.Duration.Round(time.Millisecond))
}
