package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Finding is one check's result, for `vpcmesh doctor`: State says what was
// found, Fix the exact command or setting that repairs it (empty when OK).
type Finding struct {
	Name  string
	OK    bool
	State string
	Fix   string
}

// Check names.
const (
	CheckSourceDest = "Source/Dest check"
	CheckRoutes     = "VPC routes"
)

// Check reads, and changes nothing: the Source/Dest check, and whether the
// managed route tables send every wanted prefix to this gateway (as the
// last SyncRoutes's active flag asks of it; active until then).
func (c *Client) Check(ctx context.Context, wanted []netip.Prefix) []Finding {
	return []Finding{c.checkSourceDest(ctx), c.checkRoutes(ctx, wanted)}
}

func (c *Client) checkSourceDest(ctx context.Context) Finding {
	f := Finding{Name: CheckSourceDest}
	on, err := c.sourceDestCheck(ctx)
	switch {
	case err != nil:
		f.State, f.Fix = err.Error(), fixFor(err)
	case on:
		f.State = fmt.Sprintf("on for %s: EC2 drops the packets this gateway forwards", c.inst.ENI)
		f.Fix = fmt.Sprintf("aws ec2 modify-network-interface-attribute --region %s --network-interface-id %s --no-source-dest-check", c.inst.Region, c.inst.ENI)
	default:
		f.OK, f.State = true, "off for "+c.inst.ENI
	}
	return f
}

func (c *Client) checkRoutes(ctx context.Context, wanted []netip.Prefix) Finding {
	f := Finding{Name: CheckRoutes}
	c.mu.Lock()
	defer c.mu.Unlock()
	tables, ids, err := c.tables(ctx)
	switch {
	case err != nil:
		f.State, f.Fix = err.Error(), fixFor(err)
		return f
	case len(ids) == 0 && len(wantedSet(wanted)) > 0:
		f.State = "no route table managed: hosts in the VPC have no route back to the remote prefixes"
		f.Fix = `set route_tables = ["rtb-…"] or subnets = ["subnet-…"] in the [ec2] section of the config`
		return f
	}
	var states, fixes []string
	for _, a := range Plan(wanted, c.inst.ENI, tables, c.owned(tables), c.active) {
		if a.Op != Forget {
			states = append(states, problem(a))
			fixes = append(fixes, c.cli(a))
		}
	}
	f.OK = len(states) == 0
	f.State = strings.Join(states, "; ")
	if f.OK {
		f.State = fmt.Sprintf("%d prefixes to %s in %s", len(wantedSet(wanted)), c.inst.ENI, strings.Join(ids, ", "))
	}
	f.Fix = strings.Join(fixes, "\n")
	return f
}

// problem says what is wrong that a would fix.
func problem(a Action) string {
	switch a.Op {
	case Create:
		return fmt.Sprintf("no route to %s in %s", a.Dst, a.Table)
	case Replace:
		return fmt.Sprintf("%s in %s points at %s, not at this active gateway", a.Dst, a.Table, a.Target)
	case Delete:
		return fmt.Sprintf("%s in %s is vpcmesh's but no longer wanted", a.Dst, a.Table)
	}
	return a.String()
}

// cli is the aws CLI command that carries out a; for a conflict, the one
// that takes the route over, to run only if that route is stale.
func (c *Client) cli(a Action) string {
	at := fmt.Sprintf("--region %s --route-table-id %s --destination-cidr-block %s", c.inst.Region, a.Table, a.Dst)
	switch a.Op {
	case Create:
		return "aws ec2 create-route " + at + " --network-interface-id " + c.inst.ENI
	case Replace:
		return "aws ec2 replace-route " + at + " --network-interface-id " + c.inst.ENI
	case Conflict:
		return "aws ec2 replace-route " + at + " --network-interface-id " + c.inst.ENI + "  # only if the route to " + a.Target + " is stale"
	}
	return "aws ec2 delete-route " + at
}

// fixFor is the fix for an error from the API: a missing permission is
// named, anything else is left to the message.
func fixFor(err error) string {
	var perm *PermissionError
	if errors.As(err, &perm) {
		return "allow " + perm.Action + " to the instance's IAM role (configs/examples/ec2-iam-policy.json)"
	}
	return ""
}
