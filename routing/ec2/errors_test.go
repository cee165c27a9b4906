package ec2

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// A missing permission is named; the rest of the sync goes on.
func TestUnauthorizedNamesThePermission(t *testing.T) {
	s := newStandIn(t)
	dir := t.TempDir()
	c := newClient(t, s, dir, []string{rtbMain}, nil)
	ctx := context.Background()
	if _, err := c.SyncRoutes(ctx, prefixes("172.24.0.0/24"), true); err != nil {
		t.Fatal(err)
	}

	s.Deny("CreateRoute")
	rep, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24"), true)
	var perm *PermissionError
	if !errors.As(err, &perm) || perm.Action != "ec2:CreateRoute" || !strings.Contains(err.Error(), "IAM permission ec2:CreateRoute missing") {
		t.Fatalf("err = %v", err)
	}
	if got := routesTo(s, rtbMain, eni1); len(got) != 0 || len(rep.Applied) != 1 || rep.Applied[0].Op != Delete {
		t.Errorf("the delete did not go on: routes %v, report %v", got, rep)
	}
	if s.Calls("CreateRoute") != 2 {
		t.Errorf("%d CreateRoute calls: a refusal is not retried", s.Calls("CreateRoute"))
	}

	// Granted: the refused route was not recorded as made, and is made now.
	s.Allow("CreateRoute")
	if _, err := c.SyncRoutes(ctx, prefixes("192.168.0.0/24"), true); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(s, rtbMain, eni1); !slices.Equal(got, []string{"192.168.0.0/24"}) {
		t.Errorf("routes %v", got)
	}

	s.Deny("ModifyNetworkInterfaceAttribute")
	if _, err := c.DisableSourceDestCheck(ctx); err == nil || !strings.Contains(err.Error(), "ec2:ModifyNetworkInterfaceAttribute") {
		t.Errorf("source/dest: %v", err)
	}
}

func TestThrottlingRetried(t *testing.T) {
	s := newStandIn(t)
	c := newClient(t, s, t.TempDir(), []string{rtbMain}, nil)
	s.Throttle("CreateRoute", 2)
	s.Fail("DescribeRouteTables", 1)
	if _, err := c.SyncRoutes(context.Background(), prefixes("192.168.0.0/24"), true); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(s, rtbMain, eni1); len(got) != 1 || s.Calls("CreateRoute") != 3 || s.Calls("DescribeRouteTables") != 2 {
		t.Errorf("routes %v after %d CreateRoute, %d DescribeRouteTables", got, s.Calls("CreateRoute"), s.Calls("DescribeRouteTables"))
	}
}

// Retries are bounded, then the error is reported with EC2's code.
func TestThrottlingGivesUp(t *testing.T) {
	s := newStandIn(t)
	c := newClient(t, s, t.TempDir(), []string{rtbMain}, nil)
	s.Throttle("ModifyNetworkInterfaceAttribute", 100)
	_, err := c.DisableSourceDestCheck(context.Background())
	if err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Errorf("err = %v", err)
	}
	if n := s.Calls("ModifyNetworkInterfaceAttribute"); n != fastRetry.Attempts {
		t.Errorf("%d attempts, want %d", n, fastRetry.Attempts)
	}
}
