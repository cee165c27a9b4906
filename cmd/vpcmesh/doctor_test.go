package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpcmesh/vpcmesh/routing/doctor"
)

// fakeDoctor answers with fixed findings and records the config file asked
// for.
func fakeDoctor(file *string, fs ...doctor.Finding) func(string) doctor.Doctor {
	return func(f string) doctor.Doctor {
		*file = f
		var d doctor.Doctor
		for _, x := range fs {
			d.Checks = append(d.Checks, func(context.Context) doctor.Finding { return x })
		}
		return d
	}
}

func runDoctor(t *testing.T, checks func(string) doctor.Doctor, args ...string) (string, int) {
	t.Helper()
	cmd := newDoctorCmd(checks)
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true // as the root command does
	code := exitCode(cmd.Execute())
	return out.String(), code
}

func TestDoctorExitAndOutput(t *testing.T) {
	ok := doctor.Finding{Name: "ip forwarding", OK: true, State: "on"}
	bad := doctor.Finding{Name: "tun device", State: "/dev/net/tun missing", Fix: "modprobe tun"}
	var file string

	out, code := runDoctor(t, fakeDoctor(&file, ok, ok))
	if code != 0 || !strings.Contains(out, "all 2 checks passed") || file != "/etc/vpcmesh/vpcmesh.toml" {
		t.Errorf("all pass: exit %d, config %q\n%s", code, file, out)
	}

	out, code = runDoctor(t, fakeDoctor(&file, ok, bad), "-c", "x.toml")
	if code != exitFailure || file != "x.toml" {
		t.Errorf("one failure: exit %d, config %q, want %d", code, file, exitFailure)
	}
	for _, want := range []string{"CHECK", "ip forwarding  ok", "tun device     FAIL    /dev/net/tun missing  modprobe tun", "1 of 2 checks failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	out, code = runDoctor(t, fakeDoctor(&file, bad), "--json")
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFailure || r.Failed != 1 || r.Findings[0] != bad {
		t.Errorf("--json: exit %d, %+v %v\n%s", code, r, err, out)
	}
}

func TestExitCode(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(usageError{context.Canceled}) != exitUsage || exitCode(context.Canceled) != exitFailure {
		t.Error("exit codes: want 0, 2, 1")
	}
}

// The real checks, as a user runs them: a missing config fails the run
// with the fix, and the other checks still report.
func TestDoctorBinaryMissingConfig(t *testing.T) {
	bin := buildBinary(t)
	missing := filepath.Join(t.TempDir(), "none.toml")
	cmd := exec.Command(bin, "doctor", "-c", missing)
	out, _ := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{missing + " does not exist", "ip forwarding", "tun device", "udp port 51820", "mtu"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
