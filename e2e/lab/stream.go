package lab

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"time"
)

var seqRE = regexp.MustCompile(`icmp_seq=(\d+)`)

// PingStream pings dst count times at 10 per second, calls event (if any)
// after delay, and returns the longest run of lost replies as a duration:
// the interruption a failover caused, as a user's ping would show it.
func (n *NS) PingStream(ctx context.Context, dst string, count int, delay time.Duration, event func()) time.Duration {
	return n.PingStreamEvery(ctx, dst, 100*time.Millisecond, count, delay, event)
}

// PingStreamEvery is PingStream with a ping every interval (root may go
// below ping's 200 ms floor for users).
func (n *NS) PingStreamEvery(ctx context.Context, dst string, every time.Duration, count int, delay time.Duration, event func()) time.Duration {
	out := make(chan string, 1)
	go func() {
		o, _ := n.Exec(ctx, "ping", "-n", "-i", strconv.FormatFloat(every.Seconds(), 'f', 3, 64), "-W", "1", "-c", strconv.Itoa(count), dst)
		out <- o
	}()
	if event != nil {
		// The stream must be under way: this is when the event happens,
		// not a wait for a condition.
		select {
		case <-time.After(delay):
			event()
		case <-ctx.Done():
		}
	}
	var got []int
	for _, m := range seqRE.FindAllStringSubmatch(<-out, -1) {
		s, _ := strconv.Atoi(m[1])
		got = append(got, s)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	longest, prev := 0, 0
	for _, s := range append(got, count+1) {
		longest = max(longest, s-prev-1)
		prev = s
	}
	return time.Duration(longest) * every
}
