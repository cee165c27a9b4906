package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// `vpcmesh doctor` in a gateway's namespace, as an operator runs it: before
// `vpcmesh run` forwarding is off (the lab leaves it to vpcmesh) and we make
// reverse-path filtering strict; doctor says so with the fixes and exits 1.
// Once the gateway runs, forwarding is on, filtering loose, the port is the
// gateway's own and doctor exits 0.
func TestDoctorReportsForwardingBeforeAndAfterRun(t *testing.T) {
	l, ctx := newLab(t)
	ts, err := scenario.BuildTwoSites(l, vpcmeshBin)
	must(t, err)
	gw := ts.OfficeGW
	must(t, gw.NS.Sysctl("net.ipv4.conf.all.rp_filter=1"))

	out, code := doctorIn(t, ctx, gw)
	if code != 1 {
		t.Errorf("before run: exit %d, want 1\n%s", code, out)
	}
	row := tableRow(t, out, "ip forwarding")
	for _, want := range []string{"FAIL", "off (net.ipv4.ip_forward=0)", "sysctl -w net.ipv4.ip_forward=1"} {
		if !strings.Contains(row, want) {
			t.Errorf("before run: forwarding row lacks %q: %q", want, row)
		}
	}
	row = tableRow(t, out, "rp_filter lan")
	for _, want := range []string{"FAIL", "strict (all=1, lan=0)", "sysctl -w net.ipv4.conf.lan.rp_filter=2"} {
		if !strings.Contains(row, want) {
			t.Errorf("before run: rp_filter row lacks %q: %q", want, row)
		}
	}

	must(t, gw.Start(ctx))
	if !strings.Contains(gw.Log(), "key=net.ipv4.ip_forward was=0 now=1") {
		t.Errorf("the gateway did not log turning forwarding on:\n%s", gw.Log())
	}
	out, code = doctorIn(t, ctx, gw)
	if code != 0 || !strings.Contains(out, "checks passed") {
		t.Errorf("after run: exit %d, want 0\n%s", code, out)
	}
	if row := tableRow(t, out, "ip forwarding"); !strings.Contains(row, "ok      on (net.ipv4.ip_forward=1)") {
		t.Errorf("after run: forwarding row %q", row)
	}
	for _, link := range []string{"lan", "vpcmesh0"} {
		if row := tableRow(t, out, "rp_filter "+link); !strings.Contains(row, "ok      loose (all=2") {
			t.Errorf("after run: rp_filter row %q", row)
		}
	}
	if row := tableRow(t, out, "udp port 51820"); !strings.Contains(row, "in use by the running vpcmesh gateway office-gw") {
		t.Errorf("after run: port row %q", row)
	}
	t.Logf("doctor after run:\n%s", out)
}

// doctorIn runs `vpcmesh doctor -c` in the gateway's namespace and returns
// its output and exit status.
func doctorIn(t *testing.T, ctx context.Context, gw *scenario.Gateway) (string, int) {
	t.Helper()
	out, err := gw.NS.Exec(ctx, gw.Bin, "doctor", "-c", gw.ConfigPath)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &exit):
		return out, exit.ExitCode()
	}
	t.Fatal(err)
	return "", 0
}

// tableRow is the line of doctor's table for the named check.
func tableRow(t *testing.T, out, name string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	t.Fatalf("no %q row in:\n%s", name, out)
	return ""
}
