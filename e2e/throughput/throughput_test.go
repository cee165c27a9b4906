package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// leg; every leg carries traffic and the table shows all four.
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
	res, err := run(ctx, options{Rounds: 1, Seconds: 1, VPCMesh: vpcmeshBin, WireGuard: wg,
		Cipher: "AES-256-GCM", Out: &out, Logf: t.Logf})
	t.Logf("took %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if failed := res.failed(); len(failed) > 0 {
		t.Errorf("legs without traffic: %v", failed)
	}
	for _, lg := range res.legs {
		if lg.median() <= 0 {
			t.Errorf("%s: median %v bit/s, want > 0", lg.name, lg.median())
		}
	}

	_, table, ok := strings.Cut(out.String(), "\nleg ")
	if !ok {
		t.Fatal("no table of medians in the output")
	}
	for _, name := range []string{legRaw, legRefWG, legVPCMesh, legOpenVPN} {
		if !strings.Contains(table, "\n"+name+" ") {
			t.Errorf("the table has no row for %q", name)
		}
	}
	if !strings.Contains(table, "ratio "+legVPCMesh+" / "+legRefWG+": ") || !strings.Contains(table, "verdict: ") {
		t.Error("no ratio and verdict after the table")
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
