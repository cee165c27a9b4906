package ec2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// SourceDest is what DisableSourceDestCheck found.
type SourceDest struct{ WasOn bool }

func (s SourceDest) String() string {
	if s.WasOn {
		return "was on, turned off"
	}
	return "already off"
}

// DisableSourceDestCheck turns off the Source/Dest check of the instance's
// primary interface, without which EC2 drops every packet the gateway
// forwards, and reads it back to be sure.
func (c *Client) DisableSourceDestCheck(ctx context.Context) (SourceDest, error) {
	on, err := c.sourceDestCheck(ctx)
	if err != nil || !on {
		return SourceDest{}, err
	}
	_, err = c.api.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: &c.inst.ENI,
		SourceDestCheck:    &types.AttributeBooleanValue{Value: aws.Bool(false)},
	})
	if err != nil {
		return SourceDest{}, fmt.Errorf("ec2: turn off the source/dest check of %s: %w", c.inst.ENI, explain(err))
	}
	return SourceDest{WasOn: true}, c.verifyOff(ctx)
}

// verifyOff reads the check back until it is off: EC2 is eventually
// consistent, so a read right after the change may still see it on.
func (c *Client) verifyOff(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		on, err := c.sourceDestCheck(ctx)
		switch {
		case err != nil:
			return err
		case !on:
			return nil
		case attempt >= c.retry.Attempts:
			return fmt.Errorf("ec2: the source/dest check of %s is still on after turning it off", c.inst.ENI)
		}
		if err := c.retry.sleep(ctx, attempt); err != nil {
			return err
		}
	}
}

// sourceDestCheck says whether the check is on.
func (c *Client) sourceDestCheck(ctx context.Context) (bool, error) {
	out, err := c.api.DescribeNetworkInterfaceAttribute(ctx, &ec2.DescribeNetworkInterfaceAttributeInput{
		NetworkInterfaceId: &c.inst.ENI,
		Attribute:          types.NetworkInterfaceAttributeSourceDestCheck,
	})
	if err != nil {
		return false, fmt.Errorf("ec2: read the source/dest check of %s: %w", c.inst.ENI, explain(err))
	}
	if out.SourceDestCheck == nil || out.SourceDestCheck.Value == nil {
		return false, fmt.Errorf("ec2: no source/dest check in the answer about %s", c.inst.ENI)
	}
	return *out.SourceDestCheck.Value, nil
}
