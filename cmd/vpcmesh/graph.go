package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/mesh"
)

// graphCmd prints the mesh as the running gateway sees it, as Graphviz
// DOT (or SVG through Graphviz's dot), like Kilo's `kgctl graph`.
func graphCmd() *cobra.Command {
	var format string
	cmd := fetchCmd("graph", "Draw the mesh as the running gateway sees it, as Graphviz DOT or SVG", func(w io.Writer, st mesh.Status, asJSON bool) error {
		if asJSON {
			return usageError{errors.New("graph has no --json: use --format dot|svg")}
		}
		dot := graphDOT(st)
		if format == "svg" {
			return renderSVG(w, dot)
		}
		_, err := io.WriteString(w, dot)
		return err
	})
	cmd.Use = "graph [-c FILE | -s SOCKET] [--format dot|svg]"
	cmd.Long = "Draw the mesh as the running gateway sees it: gateways (this one in bold and blue), the sites\n" +
		"they carry and their projects, HA sites as clusters with the active member in bold, and this\n" +
		"gateway's path to each peer: a solid edge labelled direct, or dashed edges through the relay.\n" +
		"Render it with `dot -Tsvg`, or use --format svg, which needs Graphviz's dot on PATH."
	cmd.Flags().StringVar(&format, "format", "dot", "output format: dot, or svg (needs Graphviz's dot)")
	_ = cmd.Flags().MarkHidden("json")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		switch format {
		case "dot":
		case "svg":
			if _, err := exec.LookPath("dot"); err != nil {
				return errors.New("--format svg needs Graphviz's dot on PATH (Debian: apt-get install graphviz); or print DOT with --format dot and render it elsewhere")
			}
		default:
			return usageError{fmt.Errorf("--format %q: want dot or svg", format)}
		}
		return nil
	}
	return cmd
}

// renderSVG pipes dot through `dot -Tsvg` into w.
func renderSVG(w io.Writer, dot string) error {
	path, err := exec.LookPath("dot")
	if err != nil {
		return errors.New("--format svg needs Graphviz's dot on PATH (Debian: apt-get install graphviz)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, stderr strings.Builder
	c := exec.CommandContext(ctx, path, "-Tsvg")
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(dot), &out, &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	_, err = io.WriteString(w, out.String())
	return err
}

// gwNode is a gateway of the graph.
type gwNode struct {
	name    string
	this    bool
	relay   bool
	standby bool
	lines   []string // more label lines
	active  []string // HA sites it carries
}

// graphDOT draws st as Graphviz DOT. It depends on st alone and sorts
// everything, so one status gives one graph.
func graphDOT(st mesh.Status) string {
	gws := map[string]*gwNode{}
	gw := func(name string) *gwNode {
		if gws[name] == nil {
			gws[name] = &gwNode{name: name}
		}
		return gws[name]
	}
	self := st.Node
	if self == "" {
		self = "this gateway"
	}
	me := gw(self)
	me.this = true
	me.relay = st.Relay != nil
	if st.OverlayAddress != "" {
		me.lines = append(me.lines, st.OverlayAddress)
	}
	projects := slices.Clone(st.Projects)
	slices.SortFunc(projects, func(a, b mesh.ProjectStatus) int { return strings.Compare(a.Project, b.Project) })
	for _, p := range projects {
		if len(p.Members) > 0 {
			me.lines = append(me.lines, fmt.Sprintf("%s members: %s", p.Project, strings.Join(p.Members, ", ")))
		}
	}
	for _, p := range st.Peers {
		n := gw(peerName(p))
		n.standby = p.Standby
		if p.Via != "" {
			gw(p.Via).relay = true
		}
	}
	if st.Gossip != nil {
		for _, m := range st.Gossip.Members {
			gw(m)
		}
	}
	// HA groups: a cluster per site; their members are drawn there.
	inHA := map[string]string{}
	has := slices.Clone(st.HA)
	slices.SortFunc(has, func(a, b mesh.HAStatus) int { return strings.Compare(a.Site, b.Site) })
	for _, h := range has {
		for _, m := range h.Members {
			gw(m)
			if _, ok := inHA[m]; !ok {
				inHA[m] = h.Site
			}
		}
		if h.Active != "" {
			a := gw(h.Active)
			a.active = append(a.active, h.Site)
		}
	}

	// Sites: the remote prefixes of the route table, by gateway.
	type site struct {
		prefix, peer string
		projects     []string
	}
	var sites []site
	for _, r := range st.RouteTable {
		if r.Peer == "" {
			continue // the overlay range
		}
		gw(r.Peer)
		sites = append(sites, site{r.Prefix, r.Peer, slices.Sorted(slices.Values(r.Projects))})
	}
	slices.SortFunc(sites, func(a, b site) int {
		return cmpStrings(a.peer, b.peer, a.prefix, b.prefix)
	})

	var b strings.Builder
	title := "vpcmesh"
	if st.Mesh != "" {
		title = "mesh " + st.Mesh
	}
	fmt.Fprintf(&b, "digraph %s {\n", quote(title))
	fmt.Fprintf(&b, "\tlabel=%s;\n\tlabelloc=t;\n\trankdir=LR;\n\tfontname=\"Helvetica\";\n", quote(title+", as "+self+" sees it"))
	b.WriteString("\tnode [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	b.WriteString("\tedge [fontname=\"Helvetica\", fontsize=10];\n")

	// Gateways outside HA groups, then one cluster per HA site.
	for _, name := range slices.Sorted(maps.Keys(gws)) {
		if _, ok := inHA[name]; !ok {
			writeGateway(&b, "\t", gws[name])
		}
	}
	for _, h := range has {
		label := "HA site " + h.Site
		if h.Active == "" {
			label += " (no active member)"
		}
		switch {
		case h.Failovers == 1:
			label += ", 1 failover"
		case h.Failovers > 1:
			label += fmt.Sprintf(", %d failovers", h.Failovers)
		}
		fmt.Fprintf(&b, "\tsubgraph %s {\n\t\tlabel=%s;\n\t\tstyle=dashed;\n", quote("cluster_ha_"+h.Site), quote(label))
		for _, m := range slices.Sorted(slices.Values(h.Members)) {
			if inHA[m] == h.Site {
				writeGateway(&b, "\t\t", gws[m])
			}
		}
		b.WriteString("\t}\n")
	}

	// Sites: the remote prefixes, on the gateway carrying them, with
	// their projects.
	for _, s := range sites {
		id := "site " + s.peer + " " + s.prefix
		label := s.prefix
		if len(s.projects) > 0 {
			label += "\nprojects: " + strings.Join(s.projects, ", ")
		}
		fmt.Fprintf(&b, "\t%s [label=%s, shape=folder, style=\"\", color=gray40];\n", quote(id), quote(label))
		fmt.Fprintf(&b, "\t%s -> %s [style=dotted, arrowhead=none, color=gray40];\n", quote(s.peer), quote(id))
	}

	// This gateway's path to each peer.
	peers := slices.Clone(st.Peers)
	slices.SortFunc(peers, func(a, b mesh.PeerStatus) int { return strings.Compare(peerName(a), peerName(b)) })
	for _, p := range peers {
		name := peerName(p)
		if p.Path == mesh.PathRelayed && p.Via != "" {
			fmt.Fprintf(&b, "\t%s -> %s [label=%s, style=dashed];\n", quote(self), quote(p.Via), quote("relayed to "+name))
			fmt.Fprintf(&b, "\t%s -> %s [label=%s, style=dashed];\n", quote(p.Via), quote(name), quote("relayed via "+p.Via))
			continue
		}
		label := p.Path
		if label == "" {
			label = mesh.PathDirect
		}
		attrs := ""
		if p.HandshakeAge == nil {
			label += "\n(no handshake)"
			attrs = ", color=red"
		}
		fmt.Fprintf(&b, "\t%s -> %s [label=%s%s];\n", quote(self), quote(name), quote(label), attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

func writeGateway(b *strings.Builder, indent string, n *gwNode) {
	lines := []string{n.name}
	var tags []string
	if n.this {
		tags = append(tags, "this gateway")
	}
	if n.relay {
		tags = append(tags, "relay")
	}
	if n.standby {
		tags = append(tags, "standby")
	}
	if len(tags) > 0 {
		lines = append(lines, "("+strings.Join(tags, ", ")+")")
	}
	for _, s := range n.active {
		lines = append(lines, "active for "+s)
	}
	lines = append(lines, n.lines...)
	attrs := ""
	switch {
	case n.this:
		attrs = `, style="rounded,filled,bold", fillcolor=lightblue, penwidth=2`
	case len(n.active) > 0:
		attrs = `, style="rounded,bold", penwidth=2`
	case n.standby:
		attrs = `, style="rounded,dashed", color=gray50`
	}
	if n.relay {
		attrs += ", shape=box3d"
	}
	fmt.Fprintf(b, "%s%s [label=%s%s];\n", indent, quote(n.name), quote(strings.Join(lines, "\n")), attrs)
}

// peerName is the peer's gateway name, or its key when it has none.
func peerName(p mesh.PeerStatus) string {
	if p.Name != "" {
		return p.Name
	}
	if len(p.PublicKey) > 8 {
		return "key " + p.PublicKey[:8] + "…"
	}
	return "key " + p.PublicKey
}

// quote is s as a DOT quoted string; newlines become DOT's \n.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// cmpStrings compares pairs in order: the first pair that differs decides.
func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}
