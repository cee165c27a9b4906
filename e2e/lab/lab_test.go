package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// newTestLab makes a lab closed at the end of the test; the test runs in
// parallel with the others, which the per-run names allow.
func newTestLab(t *testing.T) (*Lab, context.Context) {
	t.Helper()
	netnstest.Require(t)
	t.Parallel()
	l, err := New(t.Logf)
	must(t, err)
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return l, ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// labNamespaces lists the namespaces of l that `ip netns list` shows.
func labNamespaces(t *testing.T, l *Lab) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	must(t, err)
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], l.prefix()) {
			names = append(names, f[0])
		}
	}
	return names
}

// gone reports whether pid is dead: no such process, or a zombie that its
// new parent (init, after our kill orphaned it) has not reaped yet.
func gone(pid int) error {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// The state follows the command name in parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); err == nil && i > 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
		return nil
	}
	return fmt.Errorf("pid %d still running (%v)", pid, err)
}

// a ─ b on one wire.
func TestWirePingAndTransfer(t *testing.T) {
	l, ctx := newTestLab(t)
	a, err := l.NS("a")
	must(t, err)
	b, err := l.NS("b")
	must(t, err)
	must(t, l.Wire(a, "eth0", "10.1.0.1/24", b, "eth0", "10.1.0.2/24"))

	must(t, a.Ping(ctx, "10.1.0.2"))
	must(t, b.Ping(ctx, "10.1.0.1"))
	res, err := a.TCPTransfer(ctx, b, "10.1.0.2", 4<<20)
	must(t, err)
	if res.Bytes != 4<<20 || res.RemoteAddr.Addr().String() != "10.1.0.1" {
		t.Errorf("transfer: %+v, want 4 MiB from 10.1.0.1", res)
	}
	t.Logf("4 MiB over a veth in %v", res.Duration)
	if p, err := a.Addr("eth0"); err != nil || p.String() != "10.1.0.1/24" {
		t.Errorf("Addr(eth0) = %v, %v", p, err)
	}
	if out, err := a.Exec(ctx, "sysctl", "-n", "net.ipv4.ip_forward"); err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("a new namespace forwards: %q %v", out, err)
	}
}

// A transfer to an address nobody answers fails, it does not hang.
func TestTransferFailsFast(t *testing.T) {
	l, ctx := newTestLab(t)
	a, err := l.NS("a")
	must(t, err)
	b, err := l.NS("b")
	must(t, err)
	must(t, l.Wire(a, "eth0", "10.1.0.1/24", b, "eth0", "10.1.0.2/24"))
	if _, err := a.TCPTransfer(ctx, b, "10.1.0.3", 1<<10); err == nil {
		t.Fatal("transfer to an absent host succeeded")
	}
}

func TestProcStopKillAndLog(t *testing.T) {
	l, ctx := newTestLab(t)
	a, err := l.NS("a")
	must(t, err)
	p, err := a.Start("svc", "sh", "-c", "echo ready; exec sleep 100")
	must(t, err)
	must(t, Eventually(ctx, 5*time.Second, func() error {
		if !strings.Contains(p.Log(), "ready") {
			return errors.New("not ready")
		}
		return nil
	}))
	must(t, p.Stop(5*time.Second))
	if !p.Exited() {
		t.Fatal("not exited after Stop")
	}

	// Same name again: the log is appended, Log shows this run only.
	p2, err := a.Start("svc", "sh", "-c", "echo second; exit 3")
	must(t, err)
	must(t, Eventually(ctx, 5*time.Second, func() error {
		if !p2.Exited() {
			return errors.New("still running")
		}
		return nil
	}))
	if got := p2.Log(); got != "second\n" {
		t.Errorf("second run's log = %q", got)
	}
	if err := p2.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Stop of a failed process = %v, want its exit status", err)
	}
	must(t, p2.Kill())
}

// Close after a setup that failed half way removes every namespace, kills
// every process (and what they forked), removes Dir, and can be repeated.
func TestCloseAfterPartialSetup(t *testing.T) {
	netnstest.Require(t)
	t.Parallel()
	l, err := New(t.Logf)
	must(t, err)
	a, err := l.NS("a")
	must(t, err)
	b, err := l.NS("b")
	must(t, err)
	p, err := a.Start("tree", "sh", "-c", "sleep 1000 & echo $!; wait")
	must(t, err)
	if err := l.Wire(a, "eth0", "10.1.0.1/24", b, "eth0", "300.0.0.1/24"); err == nil {
		t.Fatal("Wire with a bad address succeeded")
	}
	// The host named "gw" clashes with the site's gateway namespace, after
	// the router and gateway are built.
	_, err = l.AddSite(SiteSpec{Name: "s", NAT: NATMasquerade, PublicIP: "203.0.113.10",
		LAN: "192.168.0.0/24", Hosts: map[string]string{"gw": "192.168.0.9"}})
	if err == nil {
		t.Fatal("AddSite with a clashing host name succeeded")
	}
	if n := len(labNamespaces(t, l)); n != 5 { // a, b, inet, s-r, s-gw
		t.Errorf("%d namespaces before close, want 5", n)
	}
	ctx := context.Background()
	must(t, Eventually(ctx, 5*time.Second, func() error {
		if !strings.Contains(p.Log(), "\n") {
			return errors.New("no child pid yet")
		}
		return nil
	}))
	child, err := strconv.Atoi(strings.TrimSpace(p.Log()))
	must(t, err)
	if gone(child) == nil {
		t.Fatal("the forked child is not running before Close")
	}

	must(t, l.Close())
	if left := labNamespaces(t, l); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if !p.Exited() {
		t.Error("process still running")
	}
	must(t, Eventually(ctx, 5*time.Second, func() error { return gone(child) }))
	if _, err := os.Stat(l.Dir); !os.IsNotExist(err) {
		t.Errorf("dir %s left: %v", l.Dir, err)
	}
	must(t, l.Close())
	if _, err := l.NS("c"); err == nil {
		t.Error("a closed lab made a namespace")
	}
}

// Keep leaves everything up; the printed cleanup script removes it all.
func TestKeepThenCleanupScript(t *testing.T) {
	netnstest.Require(t)
	t.Parallel()
	l, err := New(t.Logf)
	must(t, err)
	a, err := l.NS("a")
	must(t, err)
	p, err := a.Start("sleeper", "sleep", "1000")
	must(t, err)
	l.Keep()
	must(t, l.Close())
	if n := len(labNamespaces(t, l)); n != 1 || p.Exited() {
		t.Fatalf("after Close of a kept lab: %d namespaces, process exited %v", n, p.Exited())
	}
	out, err := exec.Command("sh", l.Dir+"/cleanup.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("cleanup.sh: %v\n%s", err, out)
	}
	if left := labNamespaces(t, l); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	must(t, Eventually(context.Background(), 5*time.Second, func() error {
		if !p.Exited() {
			return errors.New("sleeper still running")
		}
		return nil
	}))
	if _, err := os.Stat(l.Dir); !os.IsNotExist(err) {
		t.Errorf("dir %s left: %v", l.Dir, err)
	}
}
