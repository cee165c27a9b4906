package ec2

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retry bounds how the client retries throttling (RequestLimitExceeded,
// Throttling) and server errors (5xx): exponential backoff with full
// jitter, Base doubling up to Max, at most Attempts tries in all. The
// SDK's standard retryer classifies the errors; this sets only the
// timings, so that tests can make them fast. Zero fields take defaults.
type Retry struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

// Retry defaults: about 10 s at worst before an error is reported.
const (
	defaultAttempts = 5
	defaultBase     = 500 * time.Millisecond
	defaultMax      = 5 * time.Second
)

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = defaultAttempts
	}
	if r.Base <= 0 {
		r.Base = defaultBase
	}
	if r.Max <= 0 {
		r.Max = defaultMax
	}
	return r
}

// retryer is the SDK's standard retryer with these timings and without its
// client-side retry quota: a gateway makes few calls, and a quota would
// turn a throttled burst into errors with no wait at all.
func (r Retry) retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = r.Attempts
		o.MaxBackoff = r.Max
		o.Backoff = r
		o.RateLimiter = ratelimit.None
	})
}

// BackoffDelay is the wait before retry number attempt (1 for the first).
func (r Retry) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := r.Base << min(attempt-1, 30)
	if d <= 0 || d > r.Max {
		d = r.Max
	}
	return rand.N(d) + 1, nil
}

// sleep waits before poll number attempt, or until ctx ends.
func (r Retry) sleep(ctx context.Context, attempt int) error {
	d, _ := r.BackoffDelay(attempt, nil)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
