// Package netnstest runs a test body inside a fresh, throw-away network
// namespace, so that tests of real kernel state (TUN devices, routes,
// sysctls) never touch the machine's own network.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Require skips the test when it cannot create namespaces, except under CI,
// where the namespace tier must run and a skip would hide that it did not.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the network-namespace tier needs root, and CI must run it")
	}
	t.Skip("needs root for network namespaces")
}

// Run calls f on a locked OS thread inside a new namespace with lo up.
// Sockets and devices that f creates stay in that namespace; the namespace
// disappears when the last of them is closed.
func Run(t testing.TB, f func()) {
	t.Helper()
	Require(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New() // also switches this thread into it
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	defer ns.Close()
	defer func() {
		// On failure the thread stays locked, so the runtime discards it
		// instead of reusing a thread stuck in the wrong namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("lo up: %v", err)
	}
	f()
}
