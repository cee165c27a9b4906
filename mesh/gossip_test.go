package mesh

import (
	"sync/atomic"
	"testing"
	"time"
)

// Two Welcomes from one gateway (its two endpoints) while the first join
// is still connecting start one memberlist join; once it ended, the next
// Welcome starts another.
func TestJoinOncePerGateway(t *testing.T) {
	m := &membership{joining: map[string]bool{}}
	var runs atomic.Int32
	release := make(chan struct{})
	ended := make(chan struct{}, 3)
	join := func() {
		runs.Add(1)
		<-release
		ended <- struct{}{}
	}
	m.joinOnce("gw-a2", join)
	m.joinOnce("gw-a2", join)
	m.joinOnce("gw-b", func() { runs.Add(1); ended <- struct{}{} })
	<-ended // gw-b's
	close(release)
	<-ended // gw-a2's first
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d joins ran for two Welcomes of gw-a2 and one of gw-b, want 2", n)
	}
	// The first join's bookkeeping ends just after it returns.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		busy := m.joining["gw-a2"]
		m.mu.Unlock()
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gw-a2's join still counted as under way after it ended")
		}
		time.Sleep(time.Millisecond)
	}
	m.joinOnce("gw-a2", join)
	<-ended
	if n := runs.Load(); n != 3 {
		t.Fatalf("%d joins ran, want a third after the first ended", n)
	}
}
