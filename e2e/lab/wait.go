package lab

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is how often Eventually retries: short enough that the times
// tests report (e.g. "route back after") are not dominated by it.
const pollInterval = 50 * time.Millisecond

// Eventually calls cond until it returns nil, at once and then every
// pollInterval, for at most timeout. On timeout it returns cond's last error;
// when ctx ends first, ctx's error with the last one. The lab's tests wait
// only this way, never by sleeping a fixed time.
func Eventually(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		t := time.NewTimer(min(pollInterval, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
