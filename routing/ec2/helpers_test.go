package ec2

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

// The test VPC: this gateway (eni1) and its HA peer (eni2) in vpc, a main
// table with the internet route, a private subnet's table, and a table of
// another VPC.
const (
	vpc      = "vpc-0a1b2c3d4e5f60718"
	eni1     = "eni-0aaaaaaaaaaaaaaa1"
	eni2     = "eni-0bbbbbbbbbbbbbbb2"
	rtbMain  = "rtb-0000000000000000a"
	rtbPriv  = "rtb-0000000000000000b"
	rtbOther = "rtb-0000000000000000c"
	subPub   = "subnet-0000000000000001"
	subPriv  = "subnet-0000000000000002"
)

var fastRetry = Retry{Attempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond}

func testInstance() *Instance {
	return &Instance{ID: "i-0123456789abcdef0", Region: "eu-west-1", MAC: "0a:00:00:00:00:01", ENI: eni1, VPC: vpc, Subnet: subPub}
}

func newStandIn(t *testing.T) *ec2test.Server {
	t.Helper()
	s := ec2test.NewServer()
	t.Cleanup(s.Close)
	s.AddENI(eni1, true)
	s.AddENI(eni2, true)
	s.AddTable(ec2test.Table{ID: rtbMain, VPC: vpc, Main: true, Routes: []ec2test.Route{
		{Dst: "10.0.0.0/16", Gateway: "local"}, {Dst: "0.0.0.0/0", Gateway: "igw-0123456789abcdef0"}}})
	s.AddTable(ec2test.Table{ID: rtbPriv, VPC: vpc, Subnets: []string{subPriv}, Routes: []ec2test.Route{
		{Dst: "10.0.0.0/16", Gateway: "local"}}})
	s.AddTable(ec2test.Table{ID: rtbOther, VPC: "vpc-0ffffffffffffffff", Routes: []ec2test.Route{
		{Dst: "172.31.0.0/16", Gateway: "local"}}})
	return s
}

// awsEnv gives the SDK static credentials and nothing else to find: no
// shared files, no instance role.
func awsEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// newClient is the real client against the stand-in, managing the tables
// given and keeping its record in dir.
func newClient(t *testing.T, s *ec2test.Server, dir string, tables, subnets []string) *Client {
	t.Helper()
	awsEnv(t)
	c, err := New(context.Background(), Config{Endpoint: s.URL, RouteTables: tables, Subnets: subnets, StateDir: dir, Retry: fastRetry}, testInstance())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// routesTo lists, sorted, the destinations in table that point at target.
func routesTo(s *ec2test.Server, table, target string) []string {
	var out []string
	for _, r := range s.Routes(table) {
		if r.Target() == target {
			out = append(out, r.Dst)
		}
	}
	slices.Sort(out)
	return out
}
