package main

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/mesh"
	"github.com/vpcmesh/vpcmesh/routing/doctor"
	"github.com/vpcmesh/vpcmesh/routing/ec2"
)

// ec2Checks are the EC2 rows of `doctor`: whether this is an instance, and
// on one the Source/Dest check and the VPC routes for the prefixes the
// running gateway routes. They share one look at IMDSv2 and the API.
func ec2Checks(cfg *configs.Config) []doctor.Check {
	if cfg.EC2.Mode == configs.EC2Off {
		return nil
	}
	var once sync.Once
	var found []doctor.Finding
	look := func(ctx context.Context) []doctor.Finding {
		once.Do(func() { found = lookAtEC2(ctx, cfg) })
		return found
	}
	checks := []doctor.Check{func(ctx context.Context) doctor.Finding { return look(ctx)[0] }}
	for i := 1; i <= 2; i++ {
		checks = append(checks, func(ctx context.Context) doctor.Finding {
			if f := look(ctx); len(f) > i {
				return f[i]
			}
			return doctor.Finding{Name: []string{"", ec2.CheckSourceDest, ec2.CheckRoutes}[i], OK: true, State: "not on EC2: nothing to check"}
		})
	}
	return checks
}

func lookAtEC2(ctx context.Context, cfg *configs.Config) []doctor.Finding {
	inst, err := ec2.Detect(ctx, cfg.EC2.IMDSEndpoint)
	switch {
	case errors.Is(err, ec2.ErrNotEC2) && cfg.EC2.Mode != configs.EC2On:
		return []doctor.Finding{{Name: "EC2", OK: true, State: "not on EC2 (no IMDSv2 answer)"}}
	case err != nil:
		return []doctor.Finding{{Name: "EC2", State: err.Error(),
			Fix: "on EC2: allow IMDSv2 (http-tokens required is fine; hop limit 2 in containers); elsewhere set mode = \"off\" in [ec2]"}}
	}
	client, err := ec2.New(ctx, ec2.Config{Endpoint: cfg.EC2.Endpoint, RouteTables: cfg.EC2.RouteTables,
		Subnets: cfg.EC2.Subnets, StateDir: cfg.Node.StateDir}, inst)
	if err != nil {
		return []doctor.Finding{{Name: "EC2", State: err.Error()}}
	}
	out := []doctor.Finding{{Name: "EC2", OK: true, State: "instance " + inst.ID + " in " + inst.Region + ", interface " + inst.ENI}}
	for _, f := range client.Check(ctx, runningPrefixes(ctx, cfg)) {
		out = append(out, doctor.Finding(f))
	}
	return out
}

// runningPrefixes are the remote prefixes the running gateway routes, as
// its route table says; none when it does not run.
func runningPrefixes(ctx context.Context, cfg *configs.Config) []netip.Prefix {
	st, err := mesh.FetchStatus(ctx, cfg.Node.ControlSocket)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, r := range st.RouteTable {
		if p, err := netip.ParsePrefix(r.Prefix); err == nil && !cfg.Mesh.OverlayRange.Overlaps(p) {
			out = append(out, p)
		}
	}
	return out
}
