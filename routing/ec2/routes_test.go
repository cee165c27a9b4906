package ec2

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

// Prefixes come and go; the tables follow, by id and by subnet.
func TestSyncRoutesFollowsPrefixes(t *testing.T) {
	s := newStandIn(t)
	c := newClient(t, s, t.TempDir(), []string{rtbMain}, []string{subPriv})
	ctx := context.Background()

	rep, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24", "100.100.1.0/24"), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"100.100.1.0/24", "192.168.0.0/24"}
	for _, table := range []string{rtbMain, rtbPriv} {
		if got := routesTo(s, table, eni1); !slices.Equal(got, want) {
			t.Errorf("%s → %s: %v, want %v", table, eni1, got, want)
		}
	}
	if !slices.Equal(rep.Tables, []string{rtbMain, rtbPriv}) || len(rep.Applied) != 4 {
		t.Errorf("report: %v", rep)
	}

	// Nothing to do the second time.
	if rep, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24", "100.100.1.0/24"), true); err != nil || len(rep.Applied) != 0 {
		t.Errorf("second sync: %v, %v", rep, err)
	}

	// 100.100.1.0/24 goes, 172.24.0.0/24 comes; the internet route stays.
	if _, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24", "172.24.0.0/24"), true); err != nil {
		t.Fatal(err)
	}
	want = []string{"172.24.0.0/24", "192.168.0.0/24"}
	for _, table := range []string{rtbMain, rtbPriv} {
		if got := routesTo(s, table, eni1); !slices.Equal(got, want) {
			t.Errorf("%s → %s: %v, want %v", table, eni1, got, want)
		}
	}
	if got := routesTo(s, rtbMain, "igw-0123456789abcdef0"); !slices.Equal(got, []string{"0.0.0.0/0"}) {
		t.Errorf("internet route: %v", got)
	}

	// All gone.
	if _, err := c.SyncRoutes(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{rtbMain, rtbPriv} {
		if got := routesTo(s, table, eni1); len(got) != 0 {
			t.Errorf("%s still has %v", table, got)
		}
	}
}

// A route someone else made is left alone and reported with its target.
func TestSyncRoutesLeavesForeignRoutes(t *testing.T) {
	s := newStandIn(t)
	s.SetRoute(rtbMain, ec2test.Route{Dst: "192.168.0.0/24", Gateway: "vgw-0123456789abcdef0"})
	c := newClient(t, s, t.TempDir(), []string{rtbMain}, nil)
	rep, err := c.SyncRoutes(context.Background(), prefixes("192.168.0.0/24", "172.24.0.0/24"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := routesTo(s, rtbMain, "vgw-0123456789abcdef0"); !slices.Equal(got, []string{"192.168.0.0/24"}) {
		t.Errorf("foreign route changed: %v", s.Routes(rtbMain))
	}
	if len(rep.Conflicts) != 1 || !strings.Contains(rep.String(), "192.168.0.0/24 in "+rtbMain+" → vgw-0123456789abcdef0 was not created by vpcmesh") {
		t.Errorf("report: %v", rep)
	}
	// Not wanted any more: still not ours to delete.
	if _, err := c.SyncRoutes(context.Background(), nil, true); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(s, rtbMain, "vgw-0123456789abcdef0"); len(got) != 1 {
		t.Errorf("foreign route deleted: %v", s.Routes(rtbMain))
	}
}

// HA: the peer's route is taken over only by the active gateway, and each
// gateway's record survives a restart.
func TestSyncRoutesFailover(t *testing.T) {
	s := newStandIn(t)
	wanted := prefixes("192.168.0.0/24")
	ctx := context.Background()

	// gw2 (eni2) is active first: in the test it is a client for eni2.
	awsEnv(t)
	inst2 := testInstance()
	inst2.ID, inst2.ENI = "i-0222222222222222b", eni2
	c2, err := New(ctx, Config{Endpoint: s.URL, RouteTables: []string{rtbMain}, StateDir: t.TempDir(), Retry: fastRetry}, inst2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.SyncRoutes(ctx, wanted, true); err != nil {
		t.Fatal(err)
	}

	dir1 := t.TempDir()
	c1 := newClient(t, s, dir1, []string{rtbMain}, nil)
	c1.SetPeers([]string{eni1, eni2})
	rep, err := c1.SyncRoutes(ctx, wanted, false)
	if err != nil || len(rep.Applied)+len(rep.Conflicts) != 0 || !slices.Equal(routesTo(s, rtbMain, eni2), []string{"192.168.0.0/24"}) {
		t.Fatalf("standby changed something: %v, %v, %v", rep, err, s.Routes(rtbMain))
	}
	if _, err := c1.SyncRoutes(ctx, wanted, true); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(s, rtbMain, eni1); !slices.Equal(got, []string{"192.168.0.0/24"}) {
		t.Fatalf("not taken over: %v", s.Routes(rtbMain))
	}

	// gw1 restarts and no longer serves the prefix: its record says the
	// route is its own, so it removes it.
	c1 = newClient(t, s, dir1, []string{rtbMain}, nil)
	if _, err := c1.SyncRoutes(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	if got := s.Routes(rtbMain); slices.ContainsFunc(got, func(r ec2test.Route) bool { return r.Dst == "192.168.0.0/24" }) {
		t.Errorf("route left after restart: %v", got)
	}
}

// Without SetPeers a route to another interface is someone else's.
func TestSyncRoutesUnknownInterfaceIsAConflict(t *testing.T) {
	s := newStandIn(t)
	s.SetRoute(rtbMain, ec2test.Route{Dst: "192.168.0.0/24", ENI: eni2})
	c := newClient(t, s, t.TempDir(), []string{rtbMain}, nil)
	rep, err := c.SyncRoutes(context.Background(), prefixes("192.168.0.0/24"), true)
	if err != nil || len(rep.Conflicts) != 1 || rep.Conflicts[0].Target != eni2 {
		t.Errorf("%v, %v", rep, err)
	}
}

// A table taken out of the config loses vpcmesh's routes, nothing else.
func TestSyncRoutesTableRemovedFromConfig(t *testing.T) {
	s := newStandIn(t)
	dir := t.TempDir()
	ctx := context.Background()
	c := newClient(t, s, dir, []string{rtbMain, rtbPriv}, nil)
	if _, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24"), true); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, s, dir, []string{rtbMain}, nil)
	if _, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24"), true); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(s, rtbPriv, eni1); len(got) != 0 {
		t.Errorf("%s still has %v", rtbPriv, got)
	}
	if got := routesTo(s, rtbMain, eni1); len(got) != 1 {
		t.Errorf("%s has %v", rtbMain, got)
	}
	b, err := os.ReadFile(filepath.Join(dir, LedgerFile))
	if err != nil || strings.Contains(string(b), rtbPriv) || !strings.Contains(string(b), `"destination": "192.168.0.0/24"`) {
		t.Errorf("record: %s, %v", b, err)
	}
}

func TestSyncRoutesUnknownTable(t *testing.T) {
	s := newStandIn(t)
	c := newClient(t, s, t.TempDir(), []string{rtbOther, rtbMain}, nil)
	rep, err := c.SyncRoutes(context.Background(), prefixes("192.168.0.0/24"), true)
	if err == nil || !strings.Contains(err.Error(), "route table "+rtbOther+" is not in this instance's VPC") {
		t.Errorf("err = %v", err)
	}
	if got := routesTo(s, rtbMain, eni1); len(got) != 1 || !slices.Equal(rep.Tables, []string{rtbMain}) {
		t.Errorf("the known table was not synced: %v, %v", got, rep)
	}
}

func TestLedgerCorrupt(t *testing.T) {
	s := newStandIn(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LedgerFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	awsEnv(t)
	_, err := New(context.Background(), Config{Endpoint: s.URL, StateDir: dir}, testInstance())
	if err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("err = %v", err)
	}
}
