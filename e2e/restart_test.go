package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// kill -9 leaves no cleanup to run; the next start must reconcile away what
// is stale and traffic must resume. A clean stop must leave nothing.
func TestKillRestartThenCleanStop(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	must(t, ts.StartAll(ctx))
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))
	gw := ts.Office.Gateway

	must(t, ts.OfficeGW.Kill())
	// What a crash of a gateway with per-project tables leaves: a vpcmesh
	// route that does not die with the interface.
	_, err = gw.Exec(ctx, "ip", "route", "add", "10.99.0.0/24", "dev", "lan", "proto", "118", "table", "100")
	must(t, err)
	if err := ts.PC.Ping(ctx, scenario.HostA); err == nil {
		t.Fatal("ping answered with the office gateway killed")
	}

	killed := time.Now()
	must(t, ts.OfficeGW.Start(ctx))
	must(t, lab.Eventually(ctx, 15*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))
	t.Logf("restart to traffic resumed: %v", time.Since(killed).Round(time.Millisecond))
	transfer(t, ctx, ts.PC, ts.Host, scenario.HostA, scenario.PCA)

	want := []string{scenario.VPCLAN, scenario.VPCGWMesh}
	if got := ownedRoutes(t, ctx, gw); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("vpcmesh routes after restart = %q, want exactly %q (no duplicate, no stale)", got, want)
	}

	must(t, ts.OfficeGW.Stop())
	if got := ownedRoutes(t, ctx, gw); len(got) != 0 {
		t.Errorf("vpcmesh routes after clean stop: %q", got)
	}
	if out, err := gw.Exec(ctx, "ip", "link", "show", "vpcmesh0"); err == nil {
		t.Errorf("interface left after clean stop:\n%s", out)
	}
	rules, err := gw.Exec(ctx, "ip", "rule", "show")
	must(t, err)
	if n := len(strings.Split(strings.TrimSpace(rules), "\n")); n != 3 {
		t.Errorf("ip rule shows %d rules after stop, want the kernel's 3:\n%s", n, rules)
	}
}

// ownedRoutes lists vpcmesh's routes (proto 118) in every table, in order.
func ownedRoutes(t *testing.T, ctx context.Context, ns *lab.NS) []string {
	t.Helper()
	dsts, err := routesOf(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	return dsts
}

// routesOf is ownedRoutes for polling.
func routesOf(ctx context.Context, ns *lab.NS) ([]string, error) {
	out, err := ns.Exec(ctx, "ip", "-4", "route", "show", "table", "all", "proto", "118")
	if err != nil {
		return nil, fmt.Errorf("list routes in %s: %w", ns.Role, err)
	}
	var dsts []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "unreachable" {
			f = f[1:] // a non-member's twin of a project's route
		}
		if len(f) > 0 {
			dsts = append(dsts, f[0])
		}
	}
	return dsts, nil
}
