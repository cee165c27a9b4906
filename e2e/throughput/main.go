// Command throughput measures one TCP stream with iperf3 over paths built
// alike in a namespace lab (docs/ARCHITECTURE.md, Measuring): raw veth, the
// reference wireguard-go binary, vpcmesh with translation and the
// per-project ACL on the path, OpenVPN, Nebula, and Tailscale with headscale
// as its control server. Every leg is its own pair of namespaces "left" and
// "right" joined by one veth; all legs are built first, then the rounds run
// interleaved (each round visits every leg, starting one leg further on), so
// that drift of the machine hits every leg alike. It prints every run as it
// ends, then the medians, every leg's ratios to the reference wireguard-go
// (Gbit/s and CPU per GiB), and the verdict on vpcmesh / reference.
//
// A run lasts -seconds, or with -bytes sends a fixed byte count, so that
// CPU per GiB is over the same bytes on every leg.
//
// -legs chooses the legs; vpcmesh-plain, not among the default ones, is
// vpcmesh as a plain site-to-site link without translation; -vs BINARY adds
// the leg vpcmesh-vs, a second build measured beside the first, to judge
// a change to the data path. The Nebula and
// Tailscale legs need e2e/setup-peers.sh; where their binaries are missing
// they are skipped, not failed.
//
// Needs root and bin/vpcmesh; e2e/throughput.sh installs what it needs,
// builds both and runs it. By hand:
//
//	go build -o bin/vpcmesh ./cmd/vpcmesh && go run ./e2e/throughput -rounds 5 -seconds 5
//
// It exits 1 when a leg could not be set up or a run carried no traffic,
// 2 on wrong usage; a low ratio is a measurement, not a failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	o := options{Out: os.Stdout}
	fs := flag.NewFlagSet("throughput", flag.ContinueOnError)
	fs.IntVar(&o.Rounds, "rounds", 5, "interleaved rounds; each measures every leg once")
	fs.IntVar(&o.Seconds, "seconds", 5, "length of one iperf3 run")
	bytesFlag := fs.String("bytes", "", "send this many bytes per run instead of running -seconds (iperf3 -n), e.g. 4G; K, M, G, T are powers of 1024")
	fs.StringVar(&o.VPCMesh, "vpcmesh", "bin/vpcmesh", "the vpcmesh binary")
	fs.StringVar(&o.VPCMeshVs, "vs", "", "a second vpcmesh build, measured beside the first as the leg vpcmesh-vs (added to -legs)")
	fs.StringVar(&o.WireGuard, "wireguard-go", "", "the reference wireguard-go binary (default: found as the e2e tests find it)")
	fs.StringVar(&o.Cipher, "openvpn-cipher", "AES-256-GCM", "OpenVPN data channel cipher (AES-256-GCM or CHACHA20-POLY1305)")
	fs.IntVar(&o.TailscaleMTU, "tailscale-mtu", 0, "Tailscale's TUN MTU through TS_DEBUG_MTU; 0 keeps Tailscale's default, 1280")
	fs.IntVar(&o.NebulaBuffer, "nebula-udp-buffer", nebulaUDPBuffer, "Nebula's listen.read_buffer and write_buffer, bytes, as wireguard-go and tailscaled set theirs; 0 keeps the system's")
	fs.BoolVar(&o.Keep, "keep", false, "leave the lab up after the run, for exploring")
	legs := fs.String("legs", strings.Join(defaultLegs, ","), "the legs to measure, comma-separated, from "+strings.Join(legKeys(), ","))
	verbose := fs.Bool("v", false, "log every setup step to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: throughput [flags]   (as root)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || o.Rounds < 1 || o.Seconds < 1 || o.TailscaleMTU < 0 || o.NebulaBuffer < 0 {
		fmt.Fprintln(os.Stderr, "throughput: want -rounds ≥ 1, -seconds ≥ 1, -tailscale-mtu ≥ 0, -nebula-udp-buffer ≥ 0 and no arguments")
		return 2
	}
	if *bytesFlag != "" {
		seconds := false
		fs.Visit(func(f *flag.Flag) { seconds = seconds || f.Name == "seconds" })
		if seconds {
			fmt.Fprintln(os.Stderr, "throughput: -bytes and -seconds exclude each other")
			return 2
		}
		var err error
		if o.Bytes, err = parseBytes(*bytesFlag); err != nil {
			fmt.Fprintln(os.Stderr, "throughput: -bytes:", err)
			return 2
		}
	}
	for _, k := range strings.Split(*legs, ",") {
		if newLeg(k) == nil {
			fmt.Fprintf(os.Stderr, "throughput: unknown leg %q in -legs (legs: %s)\n", k, strings.Join(legKeys(), ","))
			return 2
		}
		o.Legs = append(o.Legs, k)
	}
	if o.VPCMeshVs != "" && !slices.Contains(o.Legs, "vpcmesh-vs") {
		o.Legs = append(o.Legs, "vpcmesh-vs")
	}
	if *verbose {
		o.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}

	// Ctrl-C or SIGTERM cancels the run; run's deferred Close then removes
	// the lab. A second Ctrl-C kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	start := time.Now()
	res, err := run(ctx, o)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "throughput: interrupted; the lab is removed")
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "throughput:", err)
		return 1
	}
	fmt.Fprintf(o.Out, "\nthe run took %v\n", time.Since(start).Round(time.Second))
	if failed := res.failed(); len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "throughput: no traffic measured on %v\n", failed)
		return 1
	}
	return 0
}
