package mesh

import (
	"testing"
	"time"
)

// Two Welcomes from one gateway (its two endpoints) while the first join
// is still connecting start one memberlist join; another gateway's starts
// its own; once the first ended, the next Welcome starts another.
func TestJoinOncePerGateway(t *testing.T) {
	m := &membership{joining: map[string]bool{}}
	release := make(chan struct{})
	ended := make(chan struct{}, 3)
	join := func() {
		<-release
		ended <- struct{}{}
	}
	if !m.joinOnce("gw-a2", join) {
		t.Fatal("the first Welcome of gw-a2 started no join")
	}
	if m.joinOnce("gw-a2", join) {
		t.Fatal("a second Welcome of gw-a2 started another join while the first was under way")
	}
	if !m.joinOnce("gw-b", join) {
		t.Fatal("gw-b's Welcome started no join while gw-a2's was under way")
	}
	close(release)
	<-ended
	<-ended
	// The bookkeeping ends just after a join returns.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		busy := len(m.joining) > 0
		m.mu.Unlock()
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("joins still counted as under way after they ended: %v", m.joining)
		}
		time.Sleep(time.Millisecond)
	}
	if !m.joinOnce("gw-a2", join) {
		t.Fatal("a Welcome of gw-a2 after its join ended started no join")
	}
	<-ended
}
