package ec2

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Candidate is a running instance carrying the join tag: a gateway to try
// to join the mesh through.
type Candidate struct {
	InstanceID string
	PrivateIP  netip.Addr
	PublicIP   netip.Addr // invalid when it has none
}

// JoinCandidates lists the running instances tagged tag ("key=value"),
// other than this one, sorted by instance id.
func (c *Client) JoinCandidates(ctx context.Context, tag string) ([]Candidate, error) {
	key, value, ok := strings.Cut(tag, "=")
	if !ok || key == "" {
		return nil, fmt.Errorf("ec2: join tag %q is not key=value", tag)
	}
	in := &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + key), Values: []string{value}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}}
	var out []Candidate
	for p := ec2.NewDescribeInstancesPaginator(c.api, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2: instances tagged %s: %w", tag, explain(err))
		}
		for _, r := range page.Reservations {
			out = append(out, c.candidates(r.Instances)...)
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out, nil
}

func (c *Client) candidates(is []types.Instance) []Candidate {
	var out []Candidate
	for _, i := range is {
		id := aws.ToString(i.InstanceId)
		if id == c.inst.ID || i.State != nil && i.State.Name != types.InstanceStateNameRunning {
			continue
		}
		priv, _ := netip.ParseAddr(aws.ToString(i.PrivateIpAddress))
		pub, _ := netip.ParseAddr(aws.ToString(i.PublicIpAddress))
		out = append(out, Candidate{InstanceID: id, PrivateIP: priv, PublicIP: pub})
	}
	return out
}
