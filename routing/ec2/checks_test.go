package ec2

import (
	"context"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

func TestCheck(t *testing.T) {
	s := newStandIn(t)
	s.SetRoute(rtbMain, ec2test.Route{Dst: "172.24.0.0/24", Gateway: "vgw-0123456789abcdef0"})
	c := newClient(t, s, t.TempDir(), []string{rtbMain}, nil)
	ctx := context.Background()
	wanted := prefixes("192.168.0.0/24", "172.24.0.0/24")

	got := c.Check(ctx, wanted)
	sd, routes := got[0], got[1]
	if sd.Name != CheckSourceDest || sd.OK || sd.Fix != "aws ec2 modify-network-interface-attribute --region eu-west-1 --network-interface-id "+eni1+" --no-source-dest-check" {
		t.Errorf("source/dest: %+v", sd)
	}
	wantFix := "aws ec2 create-route --region eu-west-1 --route-table-id " + rtbMain + " --destination-cidr-block 192.168.0.0/24 --network-interface-id " + eni1
	if routes.Name != CheckRoutes || routes.OK || !strings.Contains(routes.Fix, wantFix) || !strings.Contains(routes.State, "vgw-0123456789abcdef0 was not created by vpcmesh") {
		t.Errorf("routes: %+v", routes)
	}
	if s.Calls("CreateRoute")+s.Calls("ModifyNetworkInterfaceAttribute") != 0 {
		t.Error("Check changed something")
	}

	if _, err := c.DisableSourceDestCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SyncRoutes(ctx, wanted[:1], true); err != nil {
		t.Fatal(err)
	}
	got = c.Check(ctx, wanted[:1])
	if !got[0].OK || !got[1].OK || got[1].Fix != "" {
		t.Errorf("after fixing: %+v", got)
	}

	s.Deny("DescribeRouteTables")
	if f := c.Check(ctx, wanted)[1]; f.OK || !strings.Contains(f.Fix, "allow ec2:DescribeRouteTables") {
		t.Errorf("denied: %+v", f)
	}
}

func TestCheckNoTable(t *testing.T) {
	s := newStandIn(t)
	c := newClient(t, s, t.TempDir(), nil, nil)
	f := c.Check(context.Background(), prefixes("192.168.0.0/24"))[1]
	if f.OK || !strings.Contains(f.Fix, "route_tables") {
		t.Errorf("%+v", f)
	}
}
