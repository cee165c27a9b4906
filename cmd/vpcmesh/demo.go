package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

func demoCmd() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo [--keep]",
		Short: "Build the lab in network namespaces, start gateways, show the scenario working (root)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return errors.New("demo: run as root (it creates network namespaces)")
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), bin, keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running for exploring (prints how to remove it)")
	return cmd
}

type demo struct {
	w      io.Writer
	passed int
	failed int
}

func (d *demo) check(name string, err error) {
	if err != nil {
		d.failed++
		fmt.Fprintf(d.w, "  FAIL  %s: %v\n", name, err)
		return
	}
	d.passed++
	fmt.Fprintf(d.w, "  ok    %s\n", name)
}

func runDemo(ctx context.Context, w io.Writer, bin string, keep bool) error {
	if _, err := lab.SweepStale(func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) }); err != nil {
		return fmt.Errorf("remove stale labs: %w", err)
	}
	l, err := lab.New(func(string, ...any) {})
	if err != nil {
		return err
	}
	defer func() {
		if keep {
			l.Keep()
		}
		l.Close()
	}()
	fmt.Fprintf(w, "vpcmesh demo: an office behind masquerade NAT linked to a VPC behind 1:1 NAT (lab %s)\n\n", l.ID)
	t0 := time.Now()
	ts, err := scenario.BuildTwoSites(l, bin)
	if err != nil {
		return fmt.Errorf("build lab: %w", err)
	}
	fmt.Fprintf(w, "lab built in %v: office 192.168.0.0/24 (pc-a %s), VPC 10.0.0.0/24 (host-a %s)\n",
		time.Since(t0).Round(time.Millisecond), scenario.PCA, scenario.HostA)
	t0 = time.Now()
	if err := ts.StartAll(ctx); err != nil {
		return fmt.Errorf("start gateways: %w", err)
	}
	fmt.Fprintf(w, "gateways office-gw and vpc-gw up, tunnel handshake done in %v\n\n", time.Since(t0).Round(time.Millisecond))
	d := &demo{w: w}
	demoChecks(ctx, d, ts)
	fmt.Fprintf(w, "\n$ vpcmesh status   (on office-gw)\n")
	if st, err := ts.OfficeGW.Status(ctx); err == nil {
		printStatus(w, st)
	}
	fmt.Fprintf(w, "\n%d passed, %d failed\n", d.passed, d.failed)
	if d.failed > 0 {
		return fmt.Errorf("demo: %d checks failed", d.failed)
	}
	return nil
}

func demoChecks(ctx context.Context, d *demo, ts *scenario.TwoSites) {
	d.check("pc-a pings host-a across both NATs", lab.Eventually(ctx, 10*time.Second, func() error {
		return ts.PC.Ping(ctx, scenario.HostA)
	}))
	d.check("host-a pings pc-a back (the VPC side never dials: the office keeps the NAT open)", ts.Host.Ping(ctx, scenario.PCA))
	res, err := ts.PC.TCPTransfer(ctx, ts.Host, scenario.HostA, 16<<20)
	if err == nil && res.RemoteAddr.Addr().String() != scenario.PCA {
		err = fmt.Errorf("host-a saw source %s, want %s", res.RemoteAddr.Addr(), scenario.PCA)
	}
	d.check(fmt.Sprintf("TCP 16 MiB pc-a → host-a, sha256 matched, %.0f Mbit/s", mbits(res)), err)
}

func mbits(r lab.TransferResult) float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds() / 1e6
}
