package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

var vpcmeshBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vpcmesh-throughput-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vpcmeshBin = filepath.Join(dir, "vpcmesh")
	build := exec.Command("go", "build", "-o", vpcmeshBin, "../../cmd/vpcmesh")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vpcmesh:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The smoke test of the throughput script: one round of one second per
// leg (and the -vs leg, with the same build); every leg carries traffic
// and the table shows them all.
func TestThroughputSmoke(t *testing.T) {
	netnstest.Require(t)
	for _, tool := range []string{"iperf3", "openvpn", "wg"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, fmt.Errorf("%s not found: run e2e/setup.sh", tool))
		}
	}
	wg, err := lab.FindReferenceWireGuard()
	if err != nil {
		skipOrFail(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	// The same build as -vs too: the side-by-side leg must carry traffic.
	res, err := run(ctx, options{Rounds: 1, Seconds: 1, VPCMesh: vpcmeshBin, VPCMeshVs: vpcmeshBin, WireGuard: wg,
		Cipher: "AES-256-GCM", NebulaBuffer: nebulaUDPBuffer, Out: &out, Logf: t.Logf,
		Legs: append(slices.Clone(defaultLegs), "vpcmesh-vs")})
	t.Logf("took %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if failed := res.failed(); len(failed) > 0 {
		t.Errorf("legs without traffic: %v", failed)
	}
	for _, lg := range res.legs {
		if lg.skipped {
			continue // not built here: e2e/setup-peers.sh
		}
		if lg.median() <= 0 {
			t.Errorf("%s: median %v bit/s, want > 0", lg.name, lg.median())
		}
	}

	_, table, ok := strings.Cut(out.String(), "\nleg ")
	if !ok {
		t.Fatal("no table of medians in the output")
	}
	// Nebula and Tailscale are default legs too: measured where
	// e2e/setup-peers.sh built them, else a "skipped" row.
	for _, name := range []string{legRaw, legRefWG, legVPCMesh, legOpenVPN, legNebula, legTailscale, legVPCMeshVs} {
		if !strings.Contains(table, "\n"+name+" ") {
			t.Errorf("the table has no row for %q", name)
		}
	}
	if !strings.Contains(table, "\nagainst "+legRefWG+": ") {
		t.Error("no table of ratios to the reference")
	}
	if !strings.Contains(table, "ratio "+legVPCMesh+" / "+legRefWG+": ") || !strings.Contains(table, "verdict: ") {
		t.Error("no ratio and verdict after the table")
	}
	if !strings.Contains(table, "ratio "+legVPCMeshVs+" / "+legRefWG+": ") {
		t.Error("no ratio of the -vs build after the table")
	}
}

// skipOrFail skips outside CI; CI must have everything (e2e/setup.sh).
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// A leg whose binaries are missing is skipped before it builds anything,
// says how to install them, and is not a failure.
func TestPeerNotInstalled(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty) // no go to ask, no binaries
	t.Setenv("GOPATH", empty)
	for _, setup := range []func(context.Context, *env, *leg) error{setupNebula, setupTailscale} {
		// A nil lab: the setup must not get as far as using it.
		err := setup(context.Background(), &env{}, &leg{key: "x"})
		if !errors.Is(err, errNotInstalled) || !strings.Contains(err.Error(), "not installed: run e2e/setup-peers.sh") {
			t.Errorf("setup without binaries: %v, want errNotInstalled", err)
		}
	}
	res := &result{legs: []*leg{
		{name: legRaw, runs: []*sample{{bps: 1e9, bytes: 1 << 30}}},
		{name: legNebula, skipped: true, err: fmt.Errorf("nebula %w", errNotInstalled)},
	}}
	if f := res.failed(); len(f) > 0 {
		t.Errorf("failed() = %v, want none: a skipped leg is not a failure", f)
	}
	var out bytes.Buffer
	report(&out, res, options{Rounds: 1, Seconds: 1})
	if !strings.Contains(out.String(), "skipped: nebula not installed: run e2e/setup-peers.sh") {
		t.Errorf("report does not say the leg was skipped:\n%s", out.String())
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"4G": 4 << 30, "512m": 512 << 20, "1073741824": 1 << 30, "3K": 3 << 10, "1T": 1 << 40} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, err := parseBytes(strings.TrimSuffix(strings.ReplaceAll(formatBytes(got), " ", ""), "iB")); err != nil || back != got {
			t.Errorf("formatBytes(%d) = %q does not read back", got, formatBytes(got))
		}
	}
	for _, in := range []string{"", "0", "-1G", "1.5G", "4X", "G", "9999999999T"} {
		if n, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, n)
		}
	}
	if s := formatBytes(1000); s != "1000 B" {
		t.Errorf("formatBytes(1000) = %q", s)
	}
}
