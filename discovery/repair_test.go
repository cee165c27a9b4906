package discovery

import (
	"testing"
	"time"
)

// A record still missing after the quick repair attempts is asked for
// again once repairBackoff has passed, not left to the next push/pull.
func TestRepairKeepsAskingAfterQuickAttempts(t *testing.T) {
	m := newTestMesh(t)
	_, nodes := startSettled(t, m, 3) // queued broadcasts would bring the record back by themselves

	g := nodes[0]
	g.mu.Lock()
	delete(g.records, "gw-3")
	now := time.Now()
	g.missingSince["gw-3"] = now.Add(-time.Minute)
	g.repairs["gw-3"] = repairState{n: repairAttempts, last: now.Add(-repairBackoff - time.Second)}
	before := g.bytes.Repairs
	g.mu.Unlock()

	start := time.Now()
	for {
		g.mu.Lock()
		ok, asked := g.usable("gw-3"), g.bytes.Repairs-before
		g.mu.Unlock()
		if ok {
			t.Logf("gw-3's record back at gw-1 after %v, %d request(s)", time.Since(start).Round(time.Millisecond), asked)
			if asked == 0 {
				t.Error("the record came back without a repair request (push/pull): repair gave up")
			}
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("gw-3's record not back at gw-1 after 5s; %d repair request(s) sent", asked)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
