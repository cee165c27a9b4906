package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The gateway binary runs on production routers: the namespace lab, the
// scenarios and the fake EC2 API (the demo's and the tests') stay out of it.
func TestNoTestPackagesInGateway(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/vpcmesh/vpcmesh/"
	for _, pkg := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		if rel == "e2e" || strings.HasPrefix(rel, "e2e/") || strings.HasSuffix(rel, "ec2test") {
			t.Errorf("cmd/vpcmesh depends on %s", pkg)
		}
	}
}
