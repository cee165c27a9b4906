package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// The README's demo runs end to end and exits 0 only when every scenario
// check passed. It is its own binary, vpcmesh-demo, driving the vpcmesh
// gateway binary that the other tests use.
func TestDemo(t *testing.T) {
	netnstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	demoBin := filepath.Join(t.TempDir(), "vpcmesh-demo")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", demoBin, "../cmd/vpcmesh-demo").CombinedOutput(); err != nil {
		t.Fatalf("build vpcmesh-demo: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, demoBin, "--vpcmesh", vpcmeshBin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " passed, 0 failed") || strings.Contains(string(out), "FAIL") {
		t.Fatalf("vpcmesh-demo: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
