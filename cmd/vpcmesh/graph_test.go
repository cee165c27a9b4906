package main

import (
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/mesh"
)

func age(s float64) *float64 { return &s }

// refStatus is office-gw's status in the reference lab, in short.
func refStatus() mesh.Status {
	return mesh.Status{
		Node: "office-gw", Mesh: "lab", OverlayAddress: "100.96.0.1/32",
		Peers: []mesh.PeerStatus{
			{Name: "gw-c", Path: mesh.PathRelayed, Via: "gw-b", HandshakeAge: age(3)},
			{Name: "gw-a2", Path: mesh.PathDirect, HandshakeAge: age(5)},
			{Name: "gw-b", Path: mesh.PathDirect, HandshakeAge: age(1)},
			{Name: "gw-a1", Path: mesh.PathDirect, HandshakeAge: age(2)},
		},
		RouteTable: []mesh.RouteStatus{
			{Prefix: "100.96.0.0/16"},
			{Prefix: "172.24.0.0/24", Peer: "gw-c", Projects: []string{"alpha"}},
			{Prefix: "100.100.0.0/24", Peer: "gw-a1", Projects: []string{"alpha"}},
			{Prefix: "100.100.1.0/25", Peer: "gw-b", Projects: []string{"beta"}},
		},
		Projects: []mesh.ProjectStatus{
			{Project: "beta", Members: []string{"192.168.0.11/32"}},
			{Project: "alpha", Members: []string{"192.168.0.10/32"}},
		},
		HA:     []mesh.HAStatus{{HAGroup: mesh.HAGroup{Site: "vpc-a", Members: []string{"gw-a2", "gw-a1"}, Active: "gw-a1"}, Failovers: 1}},
		Gossip: &mesh.GossipStats{Members: []string{"gw-b", "gw-a1", "gw-a2", "gw-c"}},
	}
}

func TestGraphDOT(t *testing.T) {
	for _, tc := range []struct {
		name   string
		st     mesh.Status
		want   []string // lines of the output, each exactly
		absent []string // substrings
	}{{
		name: "reference lab from office-gw",
		st:   refStatus(),
		want: []string{
			`digraph "mesh lab" {`,
			`	label="mesh lab, as office-gw sees it";`,
			`	"gw-b" [label="gw-b\n(relay)", shape=box3d];`,
			`	"gw-c" [label="gw-c"];`,
			`	"office-gw" [label="office-gw\n(this gateway)\n100.96.0.1/32\nalpha members: 192.168.0.10/32\nbeta members: 192.168.0.11/32", style="rounded,filled,bold", fillcolor=lightblue, penwidth=2];`,
			`	subgraph "cluster_ha_vpc-a" {`,
			`		label="HA site vpc-a, 1 failover";`,
			`		"gw-a1" [label="gw-a1\nactive for vpc-a", style="rounded,bold", penwidth=2];`,
			`		"gw-a2" [label="gw-a2"];`,
			`	"site gw-c 172.24.0.0/24" [label="172.24.0.0/24\nprojects: alpha", shape=folder, style="", color=gray40];`,
			`	"gw-a1" -> "site gw-a1 100.100.0.0/24" [style=dotted, arrowhead=none, color=gray40];`,
			`	"office-gw" -> "gw-a1" [label="direct"];`,
			`	"office-gw" -> "gw-b" [label="direct"];`,
			`	"office-gw" -> "gw-b" [label="relayed to gw-c", style=dashed];`,
			`	"gw-b" -> "gw-c" [label="relayed via gw-b", style=dashed];`,
		},
		absent: []string{`"office-gw" -> "gw-c"`, `100.96.0.0/16`},
	}, {
		name: "no handshake, standby, no name, this gateway relays",
		st: mesh.Status{Node: "gw-b", Relay: &mesh.RelayStats{},
			Peers: []mesh.PeerStatus{
				{Name: "gw-x", Path: mesh.PathDirect, Standby: true},
				{PublicKey: "abcdefghijklmnop=", Path: mesh.PathDirect, HandshakeAge: age(1)},
			}},
		want: []string{
			`digraph "vpcmesh" {`,
			`	"gw-b" [label="gw-b\n(this gateway, relay)", style="rounded,filled,bold", fillcolor=lightblue, penwidth=2, shape=box3d];`,
			`	"gw-x" [label="gw-x\n(standby)", style="rounded,dashed", color=gray50];`,
			`	"gw-b" -> "gw-x" [label="direct\n(no handshake)", color=red];`,
			`	"gw-b" -> "key abcdefgh…" [label="direct"];`,
		},
		absent: []string{"subgraph"},
	}, {
		name: "HA site with no active member; quotes in names",
		st: mesh.Status{Node: `a"b`,
			HA: []mesh.HAStatus{{HAGroup: mesh.HAGroup{Site: "s", Members: []string{"m1", "m2"}}}}},
		want: []string{
			`	"a\"b" [label="a\"b\n(this gateway)", style="rounded,filled,bold", fillcolor=lightblue, penwidth=2];`,
			`		label="HA site s (no active member)";`,
			`		"m1" [label="m1"];`,
		},
		absent: []string{"active for"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := graphDOT(tc.st)
			lines := strings.Split(got, "\n")
			for _, w := range tc.want {
				if !containsLine(lines, w) {
					t.Errorf("no line %s in\n%s", w, got)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("has %s:\n%s", a, got)
				}
			}
			if !strings.HasSuffix(got, "}\n") || strings.Count(got, "{") != strings.Count(got, "}") {
				t.Errorf("unbalanced:\n%s", got)
			}
		})
	}
}

// The same status, its lists in another order, gives the same graph.
func TestGraphDOTDeterministic(t *testing.T) {
	a := refStatus()
	b := refStatus()
	reverse := func(s []string) {
		for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
			s[i], s[j] = s[j], s[i]
		}
	}
	b.Peers[0], b.Peers[3] = b.Peers[3], b.Peers[0]
	b.RouteTable[1], b.RouteTable[3] = b.RouteTable[3], b.RouteTable[1]
	reverse(b.Gossip.Members)
	reverse(b.HA[0].Members)
	b.Projects[0], b.Projects[1] = b.Projects[1], b.Projects[0]
	if ga, gb := graphDOT(a), graphDOT(b); ga != gb {
		t.Errorf("order changed the graph:\n%s\n----\n%s", ga, gb)
	}
}

// Graphviz reads the graph (when it is installed).
func TestGraphDOTRenders(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("no Graphviz dot on PATH")
	}
	for _, st := range []mesh.Status{refStatus(), {}} {
		c := exec.Command(dot, "-Tsvg")
		c.Stdin = strings.NewReader(graphDOT(st))
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "</svg>") {
			t.Errorf("dot -Tsvg: %v\n%s\n%s", err, out, graphDOT(st))
		}
	}
}

func TestGraphFormatFlag(t *testing.T) {
	quiet := func(c *cobra.Command) *cobra.Command {
		c.SilenceUsage, c.SilenceErrors = true, true
		c.SetOut(io.Discard)
		c.SetErr(io.Discard)
		return c
	}
	cmd := quiet(graphCmd())
	cmd.SetArgs([]string{"--format", "png", "-s", "/nonexistent"})
	err := cmd.Execute()
	if _, ok := err.(usageError); !ok {
		t.Errorf("--format png: %v, want a usage error", err)
	}
	cmd = quiet(graphCmd())
	cmd.SetArgs([]string{"--format", "svg", "-s", "/nonexistent"})
	t.Setenv("PATH", t.TempDir())
	err = cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "needs Graphviz's dot on PATH") {
		t.Errorf("--format svg without dot: %v", err)
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
