package ec2

import (
	"context"
	"strings"
	"testing"
)

func TestDisableSourceDestCheck(t *testing.T) {
	s := newStandIn(t)
	c := newClient(t, s, t.TempDir(), nil, nil)
	ctx := context.Background()
	got, err := c.DisableSourceDestCheck(ctx)
	if err != nil || got.String() != "was on, turned off" {
		t.Fatalf("first: %v, %v", got, err)
	}
	if s.SourceDestCheck(eni1) || !s.SourceDestCheck(eni2) {
		t.Errorf("after: %s check %v, %s check %v", eni1, s.SourceDestCheck(eni1), eni2, s.SourceDestCheck(eni2))
	}
	got, err = c.DisableSourceDestCheck(ctx)
	if err != nil || got.String() != "already off" || s.Calls("ModifyNetworkInterfaceAttribute") != 1 {
		t.Errorf("second: %v, %v, %d modifications", got, err, s.Calls("ModifyNetworkInterfaceAttribute"))
	}
}

// EC2 may show the old value for a moment after the change.
func TestSourceDestCheckVerifiedDespiteLag(t *testing.T) {
	s := newStandIn(t)
	s.AddENI(eni1, true).Lag = 2
	c := newClient(t, s, t.TempDir(), nil, nil)
	got, err := c.DisableSourceDestCheck(context.Background())
	if err != nil || !got.WasOn || s.SourceDestCheck(eni1) {
		t.Fatalf("%v, %v, check %v", got, err, s.SourceDestCheck(eni1))
	}
	if n := s.Calls("DescribeNetworkInterfaceAttribute"); n != 4 {
		t.Errorf("%d reads, want 4: before, 2 stale, 1 fresh", n)
	}
}

// A check that never reads back off is reported, not taken for done.
func TestSourceDestCheckNotVerified(t *testing.T) {
	s := newStandIn(t)
	s.AddENI(eni1, true).Lag = 100
	c := newClient(t, s, t.TempDir(), nil, nil)
	_, err := c.DisableSourceDestCheck(context.Background())
	if err == nil || !strings.Contains(err.Error(), "still on after turning it off") {
		t.Errorf("err = %v", err)
	}
}
