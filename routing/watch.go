package routing

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WatchDeletes reports on the returned channel (coalesced, never blocking
// the kernel socket reader) whenever a vpcmesh route is deleted by someone
// else, so that the reconciler re-adds it at once instead of at the next
// resync tick. The subscription is made before it returns, in the caller's
// network namespace; the channel closes when ctx ends or the subscription
// fails.
func WatchDeletes(ctx context.Context) (<-chan struct{}, error) {
	updates := make(chan netlink.RouteUpdate, 64)
	if err := netlink.RouteSubscribeWithOptions(updates, ctx.Done(), netlink.RouteSubscribeOptions{}); err != nil {
		return nil, fmt.Errorf("subscribe to route changes: %w", err)
	}
	changed := make(chan struct{}, 1)
	go func() {
		defer close(changed)
		for u := range updates {
			if u.Type == unix.RTM_DELROUTE && u.Protocol == Protocol {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	return changed, nil
}
