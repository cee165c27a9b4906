package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Report is what SyncRoutes found and did.
type Report struct {
	Tables    []string // the route tables vpcmesh manages
	Applied   []Action // done: Create, Replace, Delete, Forget
	Conflicts []Action // wanted prefixes held by routes vpcmesh did not create
}

func (r Report) String() string {
	if len(r.Tables) == 0 {
		return "no route table managed"
	}
	parts := []string{strings.Join(r.Tables, ", ")}
	for _, a := range slices.Concat(r.Applied, r.Conflicts) {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, "; ")
}

// SyncRoutes makes the managed route tables send every wanted prefix to
// this instance's interface, by the rules of Plan. active says whether this
// gateway carries the site's traffic (the best of its HA group). It goes on
// past failed steps and returns them joined; the Report lists what was done.
func (c *Client) SyncRoutes(ctx context.Context, wanted []netip.Prefix, active bool) (Report, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = active
	tables, ids, err := c.tables(ctx)
	rep := Report{Tables: ids}
	if tables == nil {
		return rep, err
	}
	actions := Plan(wanted, c.inst.ENI, tables, c.owned(tables), active)
	return rep, errors.Join(err, c.apply(ctx, actions, &rep))
}

// tables describes the VPC's route tables and picks the managed ones, plus
// those that still hold routes vpcmesh made (as Leftover). An error about
// one configured table or subnet comes with the others' tables.
func (c *Client) tables(ctx context.Context) ([]Table, []string, error) {
	all, err := c.describeTables(ctx)
	if err != nil {
		return nil, nil, err
	}
	ids, err := managedTables(all, c.cfg.RouteTables, c.cfg.Subnets)
	return toTables(all, ids, c.ledger.owned()), ids, err
}

func (c *Client) describeTables(ctx context.Context) ([]types.RouteTable, error) {
	in := &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{c.inst.VPC}}}}
	var all []types.RouteTable
	for p := ec2.NewDescribeRouteTablesPaginator(c.api, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2: route tables of %s: %w", c.inst.VPC, explain(err))
		}
		all = append(all, page.RouteTables...)
	}
	return all, nil
}

// managedTables resolves the configured tables and subnets to table ids,
// in config order without duplicates. A subnet without a table of its own
// uses the VPC's main table, as EC2 does.
func managedTables(all []types.RouteTable, tables, subnets []string) ([]string, error) {
	var ids []string
	var errs []error
	add := func(id string) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range tables {
		if slices.ContainsFunc(all, func(t types.RouteTable) bool { return aws.ToString(t.RouteTableId) == id }) {
			add(id)
		} else {
			errs = append(errs, fmt.Errorf("ec2: route table %s is not in this instance's VPC", id))
		}
	}
	for _, s := range subnets {
		if id := subnetTable(all, s); id != "" {
			add(id)
		} else {
			errs = append(errs, fmt.Errorf("ec2: no route table for subnet %s: the VPC has no main route table", s))
		}
	}
	return ids, errors.Join(errs...)
}

// subnetTable is the table associated with subnet, or else the main one.
func subnetTable(all []types.RouteTable, subnet string) string {
	main := ""
	for _, t := range all {
		for _, a := range t.Associations {
			switch {
			case aws.ToString(a.SubnetId) == subnet:
				return aws.ToString(t.RouteTableId)
			case aws.ToBool(a.Main):
				main = aws.ToString(t.RouteTableId)
			}
		}
	}
	return main
}

// toTables keeps the managed tables and those holding recorded routes. A
// recorded table that is gone appears empty, so its record is forgotten.
func toTables(all []types.RouteTable, managed []string, owned map[TableRoute]bool) []Table {
	var out []Table
	seen := map[string]bool{}
	for _, t := range all {
		id := aws.ToString(t.RouteTableId)
		seen[id] = true
		if slices.Contains(managed, id) || holds(owned, id) {
			out = append(out, Table{ID: id, Routes: toRoutes(t.Routes), Leftover: !slices.Contains(managed, id)})
		}
	}
	for r := range owned {
		if !seen[r.Table] {
			seen[r.Table] = true
			out = append(out, Table{ID: r.Table, Leftover: true})
		}
	}
	return out
}

func holds(owned map[TableRoute]bool, table string) bool {
	for r := range owned {
		if r.Table == table {
			return true
		}
	}
	return false
}

func toRoutes(rs []types.Route) []Route {
	var out []Route
	for _, r := range rs {
		p, err := netip.ParsePrefix(aws.ToString(r.DestinationCidrBlock))
		if err != nil { // an IPv6 or prefix-list route
			continue
		}
		out = append(out, Route{Dst: p, Target: target(r), Blackhole: r.State == types.RouteStateBlackhole})
	}
	return out
}

// target names where a route sends traffic, as the console shows it.
func target(r types.Route) string {
	for _, t := range []*string{r.NetworkInterfaceId, r.GatewayId, r.NatGatewayId, r.TransitGatewayId,
		r.VpcPeeringConnectionId, r.EgressOnlyInternetGatewayId, r.LocalGatewayId, r.CarrierGatewayId,
		r.CoreNetworkArn, r.InstanceId} {
		if aws.ToString(t) != "" {
			return *t
		}
	}
	return "unknown"
}

// owned is the record, plus the routes that point at a peer's interface.
func (c *Client) owned(tables []Table) map[TableRoute]bool {
	owned := c.ledger.owned()
	for _, t := range tables {
		for _, r := range t.Routes {
			if c.peers[r.Target] {
				owned[TableRoute{Table: t.ID, Dst: r.Dst}] = true
			}
		}
	}
	return owned
}

// apply carries out actions in order, going on past failures.
func (c *Client) apply(ctx context.Context, actions []Action, rep *Report) error {
	var errs []error
	for _, a := range actions {
		if a.Op == Conflict {
			rep.Conflicts = append(rep.Conflicts, a)
			continue
		}
		if err := c.do(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("ec2: %s: %w", a, err))
			continue
		}
		rep.Applied = append(rep.Applied, a)
	}
	return errors.Join(errs...)
}

// do carries out one action. A route is recorded before it is created, so
// a crash in between cannot leave a route of ours unrecorded; the record
// is undone when EC2 said no.
func (c *Client) do(ctx context.Context, a Action) error {
	switch a.Op {
	case Create:
		return c.recorded(a.TableRoute, func() error {
			_, err := c.api.CreateRoute(ctx, &ec2.CreateRouteInput{
				RouteTableId: &a.Table, DestinationCidrBlock: aws.String(a.Dst.String()), NetworkInterfaceId: &c.inst.ENI})
			return err
		})
	case Replace:
		return c.recorded(a.TableRoute, func() error {
			_, err := c.api.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{
				RouteTableId: &a.Table, DestinationCidrBlock: aws.String(a.Dst.String()), NetworkInterfaceId: &c.inst.ENI})
			return err
		})
	case Delete:
		_, err := c.api.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: &a.Table, DestinationCidrBlock: aws.String(a.Dst.String())})
		if err != nil && errorCode(err) != "InvalidRoute.NotFound" {
			return explain(err)
		}
	}
	return c.ledger.set(a.TableRoute, false) // Delete and Forget
}

// recorded records r, calls change, and forgets r again if EC2 refused
// the change (an API error: nothing was changed).
func (c *Client) recorded(r TableRoute, change func() error) error {
	was := c.ledger.owned()[r]
	if err := c.ledger.set(r, true); err != nil {
		return err
	}
	err := change()
	if err == nil {
		return nil
	}
	if errorCode(err) != "" && !was {
		return errors.Join(explain(err), c.ledger.set(r, false))
	}
	return explain(err)
}
