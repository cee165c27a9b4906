package ec2

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

func TestJoinCandidates(t *testing.T) {
	s := newStandIn(t)
	tag := map[string]string{"vpcmesh": "acme"}
	s.AddInstance(ec2test.Instance{ID: testInstance().ID, State: "running", PrivateIP: "10.0.0.10", Tags: tag}) // this one
	s.AddInstance(ec2test.Instance{ID: "i-0bbbbbbbbbbbbbbbb", State: "running", PrivateIP: "10.1.0.10", PublicIP: "203.0.113.7", Tags: tag})
	s.AddInstance(ec2test.Instance{ID: "i-0aaaaaaaaaaaaaaaa", State: "running", PrivateIP: "10.2.0.10", Tags: tag})
	s.AddInstance(ec2test.Instance{ID: "i-0cccccccccccccccc", State: "stopped", PrivateIP: "10.3.0.10", Tags: tag})
	s.AddInstance(ec2test.Instance{ID: "i-0dddddddddddddddd", State: "running", PrivateIP: "10.4.0.10", Tags: map[string]string{"vpcmesh": "other"}})
	c := newClient(t, s, t.TempDir(), nil, nil)
	got, err := c.JoinCandidates(context.Background(), "vpcmesh=acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{
		{InstanceID: "i-0aaaaaaaaaaaaaaaa", PrivateIP: netip.MustParseAddr("10.2.0.10")},
		{InstanceID: "i-0bbbbbbbbbbbbbbbb", PrivateIP: netip.MustParseAddr("10.1.0.10"), PublicIP: netip.MustParseAddr("203.0.113.7")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("JoinCandidates =\n%v\nwant\n%v", got, want)
	}
	if _, err := c.JoinCandidates(context.Background(), "vpcmesh"); err == nil {
		t.Error("a tag without = was accepted")
	}
}
