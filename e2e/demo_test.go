package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// The README's demo runs end to end and exits 0 only when every scenario
// check passed.
func TestDemo(t *testing.T) {
	netnstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, vpcmeshBin, "demo").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " passed, 0 failed") || strings.Contains(string(out), "FAIL") {
		t.Fatalf("vpcmesh demo: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
