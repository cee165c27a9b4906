// Package e2e holds the network-namespace tier: real TUN devices, kernel
// routes and nftables NAT routers in per-run namespaces, real vpcmesh
// binaries, the reference wireguard-go as a peer. Needs root.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

var vpcmeshBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vpcmesh-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vpcmeshBin = filepath.Join(dir, "vpcmesh")
	build := exec.Command("go", "build", "-o", vpcmeshBin, "../cmd/vpcmesh")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vpcmesh:", err)
		os.Exit(1)
	}
	// Labs of earlier runs that were killed (go test -timeout, SIGKILL)
	// would otherwise stay up for good.
	if os.Geteuid() == 0 {
		if _, err := lab.SweepStale(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }); err != nil {
			fmt.Fprintln(os.Stderr, "sweep stale labs:", err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newLab makes a lab that is torn down when the test ends.
func newLab(t *testing.T) (*lab.Lab, context.Context) {
	t.Helper()
	netnstest.Require(t)
	// The lab's set-up steps only with -v: in a failed test's output they
	// would bury the failure. What the processes said last is shown instead.
	logf := func(string, ...any) {}
	if testing.Verbose() {
		logf = t.Logf
	}
	l, err := lab.New(logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab %s: the end of each process's log:\n%s", l.ID, l.Tails(4000))
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return l, ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
