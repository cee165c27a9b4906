package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
	"github.com/vpcmesh/vpcmesh/mesh"
)

// `vpcmesh routes --json` agrees with the kernel and says which peer and
// project carry each prefix; a route deleted by hand shows as not
// installed until the gateway puts it back.
func TestRoutesJSONMatchesTheKernel(t *testing.T) {
	l, ctx := newLab(t)
	o, err := scenario.BuildOverlap(l, vpcmeshBin)
	must(t, err)
	must(t, o.StartAll(ctx))
	gw := o.Office.Gateway
	routes := func() []mesh.RouteStatus {
		t.Helper()
		out, err := exec.CommandContext(ctx, vpcmeshBin, "routes", "--json", "-s", o.OfficeGW.Socket).Output()
		must(t, err)
		var rt []mesh.RouteStatus
		must(t, json.Unmarshal(out, &rt))
		return rt
	}
	rt := routes()
	want := map[string]mesh.RouteStatus{
		scenario.VPCAWire: {Prefix: scenario.VPCAWire, Peer: "gw-a", Projects: []string{"alpha"}, Installed: true},
		scenario.VPCBWire: {Prefix: scenario.VPCBWire, Peer: "gw-b", Projects: []string{"beta"}, Installed: true},
	}
	kernel := kernelPrefixes(t, ctx, gw)
	for _, r := range rt {
		if r.Installed != slices.Contains(kernel, r.Prefix) {
			t.Errorf("routes says %s installed=%v; the kernel's vpcmesh routes are %v", r.Prefix, r.Installed, kernel)
		}
		if w, ok := want[r.Prefix]; ok {
			if r.Peer != w.Peer || !slices.Equal(r.Projects, w.Projects) || !r.Installed {
				t.Errorf("routes: %+v, want %+v", r, w)
			}
			delete(want, r.Prefix)
		}
	}
	if len(want) > 0 {
		t.Errorf("routes lacks %v; got %+v", want, rt)
	}
	t.Logf("routes --json: %+v", rt)
	// status --json lists the projects: what each reaches, who is a member.
	st, err := o.OfficeGW.Status(ctx)
	must(t, err)
	wantProjects := map[string][2]string{"alpha": {scenario.VPCAWire, scenario.PCA + "/32"}, "beta": {scenario.VPCBWire, scenario.PCB + "/32"}}
	for _, p := range st.Projects {
		if w, ok := wantProjects[p.Project]; ok {
			if !slices.Contains(p.Routes, w[0]) || !slices.Equal(p.Members, []string{w[1]}) {
				t.Errorf("status project %s: %+v, want route %s and member %s", p.Project, p, w[0], w[1])
			}
			delete(wantProjects, p.Project)
		}
	}
	if len(wantProjects) > 0 {
		t.Errorf("status lacks projects %v: %+v", wantProjects, st.Projects)
	}
	// Deleted by hand from alpha's table: the gateway puts it back and
	// routes shows it again.
	out, err := gw.Exec(ctx, "ip", "-4", "route", "show", "table", "all", "proto", "118", scenario.VPCAWire)
	must(t, err)
	table := ""
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[0] == scenario.VPCAWire && f[1] == "dev" {
			table = f[slices.Index(f, "table")+1]
		}
	}
	if table == "" {
		t.Fatalf("%s is in no project table:\n%s", scenario.VPCAWire, out)
	}
	_, err = gw.Exec(ctx, "ip", "route", "del", scenario.VPCAWire, "table", table)
	must(t, err)
	must(t, lab.Eventually(ctx, 5*time.Second, func() error {
		for _, r := range routes() {
			if r.Prefix == scenario.VPCAWire && r.Installed && slices.Contains(kernelPrefixes(t, ctx, gw), r.Prefix) {
				return nil
			}
		}
		return fmt.Errorf("%s not back in routes --json and the kernel", scenario.VPCAWire)
	}))
}

// kernelPrefixes is ownedRoutes with host routes written as /32, as
// prefixes are everywhere else (ip route prints them bare).
func kernelPrefixes(t *testing.T, ctx context.Context, ns *lab.NS) []string {
	t.Helper()
	var out []string
	for _, r := range ownedRoutes(t, ctx, ns) {
		if !strings.Contains(r, "/") {
			r += "/32"
		}
		out = append(out, r)
	}
	return out
}

// `vpcmesh ping GATEWAY` on a gateway reaches the other gateway through
// its tunnel and says which way it went.
func TestPingAGateway(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	must(t, ts.StartAll(ctx))
	out, err := ts.Office.Gateway.Exec(ctx, vpcmeshBin, "ping", "vpc-gw", "-n", "3", "--json", "-s", ts.OfficeGW.Socket)
	must(t, err)
	var res struct {
		Gateway, Address, Path, Endpoint string
		Sent, Received                   int
		RTTs                             []float64 `json:"rtt_ms"`
	}
	must(t, json.Unmarshal([]byte(out), &res))
	if res.Address != scenario.VPCGWMesh || res.Endpoint != scenario.VPCPublic+":51820" || res.Path != "direct" || res.Received != 3 || len(res.RTTs) != 3 {
		t.Errorf("ping vpc-gw: %+v", res)
	}
	t.Logf("ping vpc-gw: %s", strings.TrimSpace(out))
	if out, err := ts.Office.Gateway.Exec(ctx, vpcmeshBin, "ping", "nosuch-gw", "-s", ts.OfficeGW.Socket); err == nil || !strings.Contains(out+err.Error(), `no gateway "nosuch-gw" among the peers of office-gw: vpc-gw`) {
		t.Errorf("ping of an unknown gateway: %v\n%s", err, out)
	}
}
