package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shipped systemd unit passes `systemd-analyze verify` with the real
// binary at the path it names, and keeps what the gateway relies on.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze not installed (apt-get install systemd)")
		}
		t.Skip("no systemd-analyze")
	}
	unit, err := os.ReadFile("../../systemd/vpcmesh.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "After=network-online.target", "ExecReload=/bin/kill -HUP $MAINPID",
		"StateDirectory=vpcmesh", "StateDirectoryMode=0700", "CapabilityBoundingSet=CAP_NET_ADMIN", "DeviceAllow=/dev/net/tun rw"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "vpcmesh.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/vpcmesh", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestValiditySpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond: "2s", 90 * time.Minute: "1h30m0s", 36 * time.Hour: "2 days", 365 * 24 * time.Hour: "365 days",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}
