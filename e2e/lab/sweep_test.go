package lab

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// A lab whose owner died is swept, processes inside included; a lab whose
// owner lives is left alone.
func TestSweepStale(t *testing.T) {
	netnstest.Require(t)
	live, err := New(t.Logf)
	must(t, err)
	t.Cleanup(func() { live.Close() })
	_, err = live.NS("y")
	must(t, err)

	stale, err := New(t.Logf)
	must(t, err)
	t.Cleanup(func() { stale.Close() })
	ns, err := stale.NS("x")
	must(t, err)
	p, err := ns.Start("sleeper", "sleep", "60")
	must(t, err)
	dead := exec.Command("true")
	must(t, dead.Run())
	must(t, os.WriteFile(filepath.Join(stale.Dir, ownerFile), []byte(strconv.Itoa(dead.Process.Pid)), 0o600))

	n, err := SweepStale(t.Logf)
	must(t, err)
	if n != 1 {
		t.Errorf("swept %d labs, want 1", n)
	}
	if left := labNamespaces(t, stale); len(left) != 0 {
		t.Errorf("stale lab's namespaces left: %v", left)
	}
	if _, err := os.Stat(stale.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale lab's dir left: %v", err)
	}
	must(t, Eventually(context.Background(), 5*time.Second, func() error { return gone(p.Pid()) }))
	if left := labNamespaces(t, live); len(left) != 1 {
		t.Errorf("live lab's namespaces = %v, want its one", left)
	}
}
