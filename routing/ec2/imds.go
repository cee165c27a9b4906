package ec2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// ErrNotEC2 is what Detect returns when no instance metadata service
// answers: the gateway is not on EC2 (or IMDSv2 is off or out of reach).
var ErrNotEC2 = errors.New("not on EC2")

// DefaultIMDSEndpoint is where IMDSv2 answers on every instance.
const DefaultIMDSEndpoint = "http://169.254.169.254"

// Detection timeouts: the first answer decides whether we are on EC2 at
// all, so it gets a short deadline and no retries; elsewhere the link-local
// address does not answer, and start-up must not wait for it.
const (
	detectTimeout   = time.Second
	metadataTimeout = 3 * time.Second
)

// Instance is what IMDSv2 says about the instance the gateway runs on.
type Instance struct {
	ID     string // i-…
	Region string
	MAC    string // of the primary network interface
	ENI    string // eni-…: the primary network interface, the one that forwards
	VPC    string // vpc-…
	Subnet string // subnet-… of the primary interface
}

// Detect asks IMDSv2 (a PUT for a session token, then GETs with it) about
// the instance. endpoint overrides DefaultIMDSEndpoint, for tests. When
// nothing answers within about a second it returns an error that wraps
// ErrNotEC2.
func Detect(ctx context.Context, endpoint string) (*Instance, error) {
	if endpoint == "" {
		endpoint = DefaultIMDSEndpoint
	}
	client := imds.New(imds.Options{
		Endpoint:          endpoint,
		Retryer:           aws.NopRetryer{},
		EnableFallback:    aws.FalseTernary, // IMDSv2 only: never an unauthenticated GET
		ClientEnableState: imds.ClientEnabled,
		HTTPClient:        &http.Client{Transport: &http.Transport{Proxy: nil}}, // never through a proxy
	})
	md := metadata{client: client}
	first, cancel := context.WithTimeout(ctx, detectTimeout)
	id, err := md.get(first, "instance-id")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: no answer from IMDSv2 at %s within %v (%v)", ErrNotEC2, endpoint, detectTimeout, err)
	}
	rest, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	inst := &Instance{ID: id}
	if err := md.fill(rest, inst); err != nil {
		return nil, fmt.Errorf("instance metadata: %w", err)
	}
	return inst, nil
}

type metadata struct{ client *imds.Client }

// fill reads the rest of inst once the instance id answered.
func (m metadata) fill(ctx context.Context, inst *Instance) error {
	var err error
	if inst.Region, err = m.get(ctx, "placement/region"); err != nil {
		return err
	}
	if inst.MAC, err = m.get(ctx, "mac"); err != nil {
		return err
	}
	iface := "network/interfaces/macs/" + inst.MAC + "/"
	for _, f := range []struct {
		path string
		dst  *string
	}{{"interface-id", &inst.ENI}, {"vpc-id", &inst.VPC}, {"subnet-id", &inst.Subnet}} {
		if *f.dst, err = m.get(ctx, iface+f.path); err != nil {
			return err
		}
	}
	return nil
}

// get reads one meta-data path: a short text value.
func (m metadata) get(ctx context.Context, path string) (string, error) {
	out, err := m.client.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return v, nil
}
