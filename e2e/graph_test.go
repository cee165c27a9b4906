package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// `vpcmesh graph` against office-gw in the reference lab: every gateway
// is named, the office's path to VPC-C goes through gw-b, and Graphviz
// renders the DOT.
func TestGraphReferenceLab(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz's dot is not on PATH (e2e/setup.sh installs it)")
	}
	l, ctx := newLab(t)
	r, err := scenario.BuildReference(l, vpcmeshBin)
	must(t, err)
	t.Cleanup(r.Close)
	must(t, r.Start(ctx))
	// office-gw and gw-c cannot punch through: wait for their relayed
	// path, so the graph has it.
	if _, _, err := scenario.WaitRelayed(ctx, r.OfficeGW, r.GWC, "gw-b", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, vpcmeshBin, "graph", "-s", r.OfficeGW.Socket).Output()
	if err != nil {
		t.Fatalf("vpcmesh graph: %v\n%s", err, stderrOf(err))
	}
	graph := string(out)
	t.Logf("vpcmesh graph:\n%s", graph)
	if !strings.HasPrefix(graph, "digraph ") {
		t.Errorf("not a DOT digraph")
	}
	for _, g := range r.Gateways() {
		if !strings.Contains(graph, "\t\""+g.Name+"\" [label=\""+g.Name) {
			t.Errorf("no node for gateway %s", g.Name)
		}
	}
	for _, want := range []string{
		`"office-gw" [label="office-gw\n(this gateway)`,
		`subgraph "cluster_ha_vpc-a"`,
		`"gw-a1" [label="gw-a1\nactive for vpc-a"`,
		`"gw-c" -> "site gw-c ` + scenario.RefVPCCLAN + `"`,
		`"office-gw" -> "gw-b" [label="relayed to gw-c", style=dashed];`,
		`"gw-b" -> "gw-c" [label="relayed via gw-b", style=dashed];`,
		`"office-gw" -> "gw-b" [label="direct"];`,
	} {
		if !strings.Contains(graph, want) {
			t.Errorf("graph lacks %s", want)
		}
	}
	svg := exec.CommandContext(ctx, dot, "-Tsvg")
	svg.Stdin = strings.NewReader(graph)
	img, err := svg.Output()
	if err != nil || !strings.Contains(string(img), "<svg") {
		t.Fatalf("dot -Tsvg: %v (%d bytes)\n%s", err, len(img), stderrOf(err))
	}
	// --format svg does the same through the gateway's status.
	img2, err := exec.CommandContext(ctx, vpcmeshBin, "graph", "--format", "svg", "-s", r.OfficeGW.Socket).Output()
	if err != nil || !strings.Contains(string(img2), "</svg>") {
		t.Fatalf("vpcmesh graph --format svg: %v (%d bytes)\n%s", err, len(img2), stderrOf(err))
	}
}

func stderrOf(err error) string {
	if e, ok := err.(*exec.ExitError); ok {
		return string(e.Stderr)
	}
	return ""
}
