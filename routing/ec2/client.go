// Package ec2 does on AWS what a forwarding gateway needs besides the kernel
// (docs/ARCHITECTURE.md, Forwarding prerequisites): it finds the instance
// through IMDSv2, turns off the Source/Dest check of its network interface,
// keeps VPC route table entries for the remote wire prefixes pointing at that
// interface, and lists the instances to join the mesh through by their tag.
//
//	Detect ──► New ──► DisableSourceDestCheck
//	                   SyncRoutes: DescribeRouteTables → Plan (pure) → Create/Replace/DeleteRoute
//	                   JoinCandidates, Check (for vpcmesh doctor)
//
// EC2 routes cannot be tagged, so the routes vpcmesh created are recorded
// in a file in the state directory; a route that is not recorded there is
// never changed. Errors name the IAM action that is missing; throttling and
// server errors are retried with bounded backoff. Nothing here panics or
// exits.
package ec2

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// Config is what the client needs from the gateway's configuration
// ([ec2] and node.state_dir).
type Config struct {
	Endpoint    string   // EC2 API URL; empty: the region's public endpoint
	RouteTables []string // rtb-…: route tables to keep routes in
	Subnets     []string // subnet-…: their associated route tables, or the VPC's main one
	StateDir    string   // where the record of created routes is kept
	Retry       Retry    // zero: defaults
}

// Client talks to the EC2 API on behalf of one instance. Its methods may be
// called from several goroutines; route changes are serialized.
type Client struct {
	api    *ec2.Client
	inst   Instance
	cfg    Config
	retry  Retry
	ledger *ledger

	mu     sync.Mutex // serializes SyncRoutes; guards the fields below
	peers  map[string]bool
	active bool
}

// New builds a client for inst with the standard credential chain
// (environment, shared files, the instance role through IMDS) and the
// region inst is in. It makes no API call: a missing permission shows up on
// the first call that needs it.
func New(ctx context.Context, cfg Config, inst *Instance) (*Client, error) {
	if inst == nil || inst.Region == "" || inst.ENI == "" {
		return nil, errors.New("ec2: no instance: call Detect first")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("ec2: no state directory for the record of created routes")
	}
	r := cfg.Retry.withDefaults()
	awsCfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(inst.Region),
		config.WithRetryer(r.retryer))
	if err != nil {
		return nil, fmt.Errorf("ec2: aws config: %w", err)
	}
	api := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	l, err := openLedger(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("ec2: %w", err)
	}
	return &Client{api: api, inst: *inst, cfg: cfg, retry: r, ledger: l, active: true}, nil
}

// Instance is the instance the client acts for.
func (c *Client) Instance() Instance { return c.inst }

// SetPeers names the network interfaces of the other vpcmesh gateways of
// this site (its HA group), as their gossip records give them. A route
// that points at one of them was made by vpcmesh, so the active gateway
// may take it over although its own record does not list it.
func (c *Client) SetPeers(enis []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peers = make(map[string]bool, len(enis))
	for _, e := range enis {
		if e != c.inst.ENI {
			c.peers[e] = true
		}
	}
}
