package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// Flushing the office router's conntrack table in the middle of a TCP
// transfer (what a router reboot or a NAT mapping timeout does), even into
// a new source port, costs the tunnel a short interruption, not the
// transfer: WireGuard follows the office to its new address.
func TestConntrackFlushMidTransfer(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	must(t, ts.StartAll(ctx))
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return ts.PC.Ping(ctx, scenario.HostA) }))
	before := peerOf(t, ctx, ts.OfficeGW, "vpc-gw")

	transfer := ts.PC.StartTransfer(ctx, ts.Host, scenario.HostA, 1<<30)
	must(t, lab.Eventually(ctx, 10*time.Second, func() error {
		if p := peerOf(t, ctx, ts.OfficeGW, "vpc-gw"); p.TxBytes < before.TxBytes+(16<<20) {
			return fmt.Errorf("transfer not under way")
		}
		return nil
	}))
	// First the same mapping comes back (masquerade keeps the port when it
	// is free); then the router maps to random ports, as after a reboot
	// into another NAT, and the office appears from a new port.
	orig := peerOf(t, ctx, ts.VPCGW, "office-gw").Endpoint
	for _, step := range []struct {
		what   string
		random bool
	}{{"conntrack flushed", false}, {"conntrack flushed, new source port", true}} {
		if step.random {
			must(t, ts.Office.Router.Masquerade("wan", true))
		}
		mark := peerOf(t, ctx, ts.VPCGW, "office-gw")
		flushed := time.Now()
		_, err = ts.Office.Router.Exec(ctx, "conntrack", "-F")
		must(t, err)
		// The interruption: until the VPC gateway has received 16 MiB from
		// the office again (more than its socket buffer can hold from before
		// the flush), from the office's new address when the port moved.
		must(t, lab.Eventually(ctx, 20*time.Second, func() error {
			p := peerOf(t, ctx, ts.VPCGW, "office-gw")
			if step.random && p.Endpoint == orig {
				return fmt.Errorf("vpc-gw still sends to the office at %s", p.Endpoint)
			}
			if p.RxBytes < mark.RxBytes+(16<<20) {
				return fmt.Errorf("vpc-gw receives nothing from the office yet")
			}
			return nil
		}))
		now := peerOf(t, ctx, ts.VPCGW, "office-gw")
		t.Logf("%s mid-transfer: 16 MiB from the office again %v later; office seen at %s, then %s",
			step.what, time.Since(flushed).Round(10*time.Millisecond), mark.Endpoint, now.Endpoint)
	}
	res, err := transfer.Wait()
	must(t, err)
	t.Logf("%d bytes in %v across both, sha256 matched", res.Bytes, res.Duration.Round(time.Millisecond))
}
