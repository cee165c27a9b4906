package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/vpcmesh/vpcmesh/mesh"
)

// PingResult is what `vpcmesh ping` reports.
type PingResult struct {
	Gateway  string    `json:"gateway"`
	Address  string    `json:"address"`            // its overlay address
	Path     string    `json:"path"`               // "direct" or "relayed"
	Via      string    `json:"via,omitempty"`      // the relay gateway of a relayed path
	Endpoint string    `json:"endpoint,omitempty"` // where its tunnel goes
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	RTTs     []float64 `json:"rtt_ms"`
}

func pingCmd() *cobra.Command {
	var file, socket string
	var asJSON bool
	var count int
	cmd := &cobra.Command{
		Use:   "ping GATEWAY|OVERLAY-ADDRESS [-n COUNT] [-c FILE | -s SOCKET] [--json]",
		Short: "Ping another gateway through its tunnel: the path taken and the round-trip times (root)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("ping: give one gateway name or overlay address")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 {
				return usageError{fmt.Errorf("ping: -n %d: want at least 1", count)}
			}
			if err := configFlagFile(cmd, file); err != nil {
				return err
			}
			path, err := controlSocket(file, socket)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Duration(count+5)*time.Second)
			defer cancel()
			st, err := mesh.FetchStatus(ctx, path)
			if err != nil {
				return err
			}
			res, err := target(st, args[0])
			if err != nil {
				return err
			}
			res.Sent = count
			if err := echo(ctx, netip.MustParseAddr(res.Address), count, &res); err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(cmd.OutOrStdout(), res)
			} else {
				printPing(cmd.OutOrStdout(), res)
			}
			if err == nil && res.Received == 0 {
				err = fmt.Errorf("no reply from %s (%s)", res.Gateway, res.Address)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "/etc/vpcmesh/vpcmesh.toml", "config file naming the control socket")
	cmd.Flags().StringVarP(&socket, "socket", "s", "", "control socket (overrides the config)")
	cmd.Flags().IntVarP(&count, "count", "n", 3, "echo requests to send, one a second apart at most")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// configFlagFile refuses a -c that names no file, such as `-c 2` meant as
// a count: said as wrong usage naming the flag, even when -s makes the
// config unneeded, rather than as a failure to open "2".
func configFlagFile(cmd *cobra.Command, file string) error {
	if !cmd.Flags().Changed("config") {
		return nil
	}
	fi, err := os.Stat(file)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return usageError{fmt.Errorf("ping: -c %s: no such config file (-c is --config, the config file naming the control socket; the count is -n COUNT)", file)}
	case err == nil && !fi.Mode().IsRegular():
		return usageError{fmt.Errorf("ping: -c %s: not a config file (-c is --config, the config file naming the control socket; the count is -n COUNT)", file)}
	}
	return nil
}

// target finds the peer named, or the one whose overlay address is given.
func target(st mesh.Status, arg string) (PingResult, error) {
	overlay := netip.MustParsePrefix(st.OverlayAddress).Addr()
	for _, p := range st.Peers {
		for _, s := range p.Prefixes {
			pfx, err := netip.ParsePrefix(s)
			if err != nil || pfx.Bits() != 32 || !sameSlash16(pfx.Addr(), overlay) {
				continue
			}
			if p.Name == arg || pfx.Addr().String() == arg {
				return PingResult{Gateway: p.Name, Address: pfx.Addr().String(), Path: p.Path, Via: p.Via, Endpoint: p.Endpoint}, nil
			}
		}
	}
	var names []string
	for _, p := range st.Peers {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return PingResult{}, fmt.Errorf("no gateway %q among the peers of %s: %s", arg, st.Node, strings.Join(names, ", "))
}

// sameSlash16 tells overlay addresses from site prefixes: both gateways'
// overlay addresses come from one mesh range.
func sameSlash16(a, b netip.Addr) bool {
	x, y := a.As4(), b.As4()
	return x[0] == y[0] && x[1] == y[1]
}

// echo sends ICMP echo requests to dst, one at a time, each waiting up to
// a second, and records the round trips.
func echo(ctx context.Context, dst netip.Addr, count int, res *PingResult) error {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("ping needs root (raw ICMP socket): %w", err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	buf := make([]byte, 1500)
	for seq := 1; seq <= count && ctx.Err() == nil; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("vpcmesh ping")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		sent := time.Now()
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("send to %s: %w", dst, err)
		}
		if rtt, ok := awaitReply(c, buf, dst, id, seq, sent); ok {
			res.Received++
			res.RTTs = append(res.RTTs, float64(rtt.Microseconds())/1000)
		}
	}
	return nil
}

// awaitReply reads until the echo reply for seq arrives or a second passes.
func awaitReply(c *icmp.PacketConn, buf []byte, dst netip.Addr, id, seq int, sent time.Time) (time.Duration, bool) {
	c.SetReadDeadline(sent.Add(time.Second))
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 0, false
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && from.String() == dst.String() {
			return time.Since(sent), true
		}
	}
}

func printPing(w io.Writer, r PingResult) {
	fmt.Fprintf(w, "%s (%s), path %s", r.Gateway, r.Address, r.Path)
	switch {
	case r.Via != "":
		fmt.Fprintf(w, " via %s (%s)", r.Via, r.Endpoint)
	case r.Endpoint != "":
		fmt.Fprintf(w, " to %s", r.Endpoint)
	}
	fmt.Fprintf(w, ": %d of %d answered", r.Received, r.Sent)
	if len(r.RTTs) > 0 {
		fmt.Fprintf(w, ", rtt min/avg/max %.3f/%.3f/%.3f ms", slices.Min(r.RTTs), avg(r.RTTs), slices.Max(r.RTTs))
	}
	fmt.Fprintln(w)
}

func avg(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
