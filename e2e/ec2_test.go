package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

// A VPC gateway on "EC2" (the EC2 API and IMDSv2 stand-ins, served inside
// its namespace, driven by the real SDK in the gateway): it turns the
// instance's Source/Dest check off, routes the office LAN in the VPC route
// table to its interface, follows reloads that add and remove remote
// prefixes, and leaves a route it did not create alone, logging the
// conflict.
func TestEC2SourceDestAndVPCRoutes(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	var api *ec2test.Server
	var imds *ec2test.IMDS
	must(t, ts.VPC.Gateway.Do(func() error {
		apiLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		imdsLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		api = ec2test.NewServerOn(apiLn)
		imds = ec2test.NewIMDSOn(imdsLn, "i-0vpc", "eu-west-1", "02:00:00:00:00:01", "eni-0a1b2c3d4e5f60718", "vpc-0a1b2c3d", "subnet-0a1b2c3d")
		return nil
	}))
	t.Cleanup(api.Close)
	t.Cleanup(imds.Close)
	api.AddENI("eni-0a1b2c3d4e5f60718", true)
	const rtb = "rtb-0123456789abcdef0"
	api.AddTable(ec2test.Table{ID: rtb, VPC: "vpc-0a1b2c3d", Main: true, Routes: []ec2test.Route{
		{Dst: scenario.VPCLAN, Gateway: "local"},
		{Dst: "10.99.0.0/24", ENI: "eni-0ffffffffffffffff"},
	}})
	gw := ts.VPCGW
	gw.EC2 = &scenario.EC2Spec{Mode: "on", Endpoint: api.URL, IMDSEndpoint: imds.URL, RouteTables: []string{rtb}}
	gw.Env = []string{"AWS_ACCESS_KEY_ID=AKIDLAB", "AWS_SECRET_ACCESS_KEY=lab-secret"}
	must(t, gw.WriteConfig())
	started := time.Now()
	must(t, ts.StartAll(ctx))

	routeTo := func(dst string) string {
		for _, r := range api.Routes(rtb) {
			if r.Dst == dst {
				return r.Target()
			}
		}
		return ""
	}
	waitRoute := func(dst, target string) {
		t.Helper()
		must(t, lab.Eventually(ctx, 15*time.Second, func() error {
			if got := routeTo(dst); got != target {
				return fmt.Errorf("route table %s: %s → %q, want %q; log:\n%s", rtb, dst, got, target, tail(gw.Log(), 10))
			}
			return nil
		}))
	}
	waitRoute(scenario.OfficeLAN, "eni-0a1b2c3d4e5f60718")
	t.Logf("office LAN routed to the gateway's interface in the VPC route table %v after start", time.Since(started).Round(10*time.Millisecond))
	if api.SourceDestCheck("eni-0a1b2c3d4e5f60718") {
		t.Error("Source/Dest check still on")
	}
	if n := imds.Untokened(); n != 0 {
		t.Errorf("%d IMDS requests without a token (IMDSv1)", n)
	}
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))

	// A branch and a prefix someone else routes: one route added, the
	// other left as it is and reported.
	_, branchKey, err := lab.GenKey()
	must(t, err)
	gw.Peers = append(gw.Peers, scenario.PeerSpec{Name: "branch", PublicKey: branchKey,
		Prefixes: []string{scenario.BranchLAN, "10.99.0.0/24"}})
	must(t, gw.Reload())
	waitRoute(scenario.BranchLAN, "eni-0a1b2c3d4e5f60718")
	if got := routeTo("10.99.0.0/24"); got != "eni-0ffffffffffffffff" {
		t.Errorf("a route vpcmesh did not create now goes to %q", got)
	}
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		if log := gw.Log(); !strings.Contains(log, "10.99.0.0/24") || !strings.Contains(log, "eni-0ffffffffffffffff") {
			return fmt.Errorf("the conflict over 10.99.0.0/24 is not logged")
		}
		return nil
	}))

	// The branch goes: its route goes too, and only its route.
	gw.Peers = slices.DeleteFunc(gw.Peers, func(p scenario.PeerSpec) bool { return p.Name == "branch" })
	must(t, gw.Reload())
	waitRoute(scenario.BranchLAN, "")
	if routeTo(scenario.OfficeLAN) != "eni-0a1b2c3d4e5f60718" || routeTo("10.99.0.0/24") != "eni-0ffffffffffffffff" || routeTo(scenario.VPCLAN) != "local" {
		t.Errorf("route table after the branch left: %+v", api.Routes(rtb))
	}
	t.Logf("route table %s: %+v", rtb, api.Routes(rtb))

	// doctor sees the same: all well, until someone turns the check back on.
	doctorRun := func() (string, error) {
		return ts.VPC.Gateway.Exec(ctx, append([]string{"env"}, append(gw.Env, vpcmeshBin, "doctor", "-c", gw.ConfigPath)...)...)
	}
	out, err := doctorRun()
	if err != nil || !strings.Contains(out, "instance i-0vpc") || !strings.Contains(out, "off for eni-0a1b2c3d4e5f60718") {
		t.Errorf("doctor on the running EC2 gateway: %v\n%s", err, out)
	}
	api.AddENI("eni-0a1b2c3d4e5f60718", true)
	out, err = doctorRun()
	if err == nil || !strings.Contains(out, "--no-source-dest-check") {
		t.Errorf("doctor with the Source/Dest check on: %v, want a failure with the fix\n%s", err, out)
	}
	t.Logf("doctor with the check turned back on:\n%s", out)

	// The role loses ec2:CreateRoute: the gateway says which permission is
	// missing and goes on forwarding.
	api.Deny("CreateRoute")
	gw.Peers = append(gw.Peers, scenario.PeerSpec{Name: "branch", PublicKey: branchKey, Prefixes: []string{scenario.BranchLAN}})
	must(t, gw.Reload())
	must(t, lab.Eventually(ctx, 15*time.Second, func() error {
		if !strings.Contains(gw.Log(), "ec2:CreateRoute") {
			return fmt.Errorf("no log naming ec2:CreateRoute")
		}
		return nil
	}))
	if !gw.Running() {
		t.Fatal("the gateway stopped over a refused API call")
	}
	must(t, ts.PC.Ping(ctx, scenario.HostA))
}
