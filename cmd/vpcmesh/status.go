package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/mesh"
)

func statusCmd() *cobra.Command {
	return fetchCmd("status", "Show the running gateway's peers and routes", func(w io.Writer, st mesh.Status, asJSON bool) error {
		if asJSON {
			return writeJSON(w, st)
		}
		printStatus(w, st)
		return nil
	})
}

func routesCmd() *cobra.Command {
	return fetchCmd("routes", "Show the running gateway's remote prefixes: the peer, the projects, whether the kernel has the route", func(w io.Writer, st mesh.Status, asJSON bool) error {
		if asJSON {
			return writeJSON(w, st.RouteTable)
		}
		printRoutes(w, st.RouteTable)
		return nil
	})
}

// fetchCmd is a command that reads the running gateway's status over its
// control socket and prints part of it.
func fetchCmd(name, short string, print func(w io.Writer, st mesh.Status, asJSON bool) error) *cobra.Command {
	var file, socket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   name + " [-c FILE | -s SOCKET] [--json]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := controlSocket(file, socket)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			st, err := mesh.FetchStatus(ctx, path)
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), st, asJSON)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "/etc/vpcmesh/vpcmesh.toml", "config file naming the control socket")
	cmd.Flags().StringVarP(&socket, "socket", "s", "", "control socket (overrides the config)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printRoutes(w io.Writer, rt []mesh.RouteStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tPEER\tPROJECTS\tINSTALLED")
	for _, r := range rt {
		installed := "yes"
		if !r.Installed {
			installed = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Prefix, orDash(r.Peer), orDash(strings.Join(r.Projects, ",")), installed)
	}
	tw.Flush()
}

func controlSocket(file, socket string) (string, error) {
	if socket != "" {
		return socket, nil
	}
	cfg, err := configs.Load(file)
	if err != nil {
		return "", err
	}
	return cfg.Node.ControlSocket, nil
}

func printStatus(w io.Writer, st mesh.Status) {
	fmt.Fprintf(w, "node %s  mesh %s  interface %s  port %d  overlay %s\npublic key %s  version %s\n\n",
		st.Node, st.Mesh, st.Interface, st.ListenPort, st.OverlayAddress, st.PublicKey, orDash(st.Version))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tPATH\tENDPOINT\tNAT\tHANDSHAKE\tRX\tTX\tPREFIXES")
	for _, p := range st.Peers {
		path := p.Path
		if p.Via != "" {
			path += " via " + p.Via
		}
		if p.Standby {
			path += " (standby)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, path, orDash(p.Endpoint), orDash(p.NAT), handshake(p.HandshakeAge),
			bytes(p.RxBytes), bytes(p.TxBytes), strings.Join(p.Prefixes, ", "))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nroutes: %s\n", orDash(strings.Join(st.Routes, ", ")))
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKETS\tPASSED\tDROPPED: ACL\tNO ROUTE\tINVALID")
	for _, d := range []struct {
		name string
		c    mesh.PacketCounters
	}{{"to mesh", st.Packets.Outbound}, {"from mesh", st.Packets.Inbound}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", d.name, d.c.Passed, d.c.DroppedACL, d.c.DroppedNoRoute, d.c.DroppedInvalid)
	}
	tw.Flush()
	if st.Gossip != nil {
		fmt.Fprintf(w, "gossip members: %s\n", orDash(strings.Join(st.Gossip.Members, ", ")))
		for reason, n := range st.Gossip.Refused {
			fmt.Fprintf(w, "refused records (%s): %d\n", reason, n)
		}
		for _, reason := range slices.Sorted(maps.Keys(st.Gossip.Dropped)) {
			if n := st.Gossip.Dropped[reason]; n > 0 {
				fmt.Fprintf(w, "dropped control packets (%s): %d\n", reason, n)
			}
		}
	}
	if h := st.Health; h != nil {
		fmt.Fprintf(w, "health probes: %d gateways every probe interval (HA), %d every 2 s; %d sent, %d answered; down: %s\n",
			h.FastTargets, h.SlowTargets, h.ProbesSent, h.Replies, orDash(strings.Join(h.Down, ", ")))
	}
	if d := st.DNS; d != nil {
		fmt.Fprintf(w, "dns: on %s; %d questions, %d records rewritten, %d refused, %d malformed, %d upstream errors; cache %d entries, %d hits; %d asked of this gateway's sites\n",
			orDash(strings.Join(d.Listen, ", ")), d.Queries, d.Rewritten, d.Refused, d.Malformed, d.UpstreamErrors, d.CacheEntries, d.CacheHits, d.SiteQueries)
		for _, z := range d.Zones {
			fmt.Fprintf(w, "dns zone: %s\n", z)
		}
		for _, c := range d.Conflicts {
			fmt.Fprintf(w, "dns: %s\n", c)
		}
	}
	for _, c := range st.Conflicts {
		fmt.Fprintf(w, "conflict: %s\n", c)
	}
	if st.NAT != "" {
		fmt.Fprintf(w, "nat: %s\n", st.NAT)
	}
	if r := st.Relay; r != nil {
		fmt.Fprintf(w, "relay: %d packets forwarded for other gateways, %d refused\n", r.Forwarded, r.Refused)
	}
	for _, p := range st.Projects {
		fmt.Fprintf(w, "project %s: reaches %s; members here %s\n", p.Project, orDash(strings.Join(p.Routes, ", ")), orDash(strings.Join(p.Members, ", ")))
		if len(p.Transparent) > 0 {
			fmt.Fprintf(w, "project %s: its members alone reach %s at real addresses\n", p.Project, strings.Join(p.Transparent, ", "))
		}
	}
	for _, h := range st.HA {
		fmt.Fprintf(w, "HA site %s: active %s of %s; %d failovers", h.Site, orDash(h.Active), strings.Join(h.Members, ", "), h.Failovers)
		if h.LastFailover != nil {
			fmt.Fprintf(w, ", last %s", h.LastFailover.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	for _, v := range st.Virtual {
		switch {
		case v.Held:
			fmt.Fprintf(w, "virtual address %s (site %s): held here on %s since %s\n", v.Address, v.Site, v.Interface, v.Since.Format(time.RFC3339))
		default:
			fmt.Fprintf(w, "virtual address %s (site %s): held by %s, not here\n", v.Address, v.Site, orDash(v.Holder))
		}
		if v.Error != "" {
			fmt.Fprintf(w, "virtual address %s (site %s): %s\n", v.Address, v.Site, v.Error)
		}
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func handshake(age *float64) string {
	if age == nil {
		return "never"
	}
	return (time.Duration(*age) * time.Second).String() + " ago"
}

func bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
