// Command vpcmesh is the gateway binary: it checks configs, makes keys, runs
// a gateway and shows its status. The lab demo is cmd/vpcmesh-demo: the
// namespace lab and the EC2 stand-in stay out of this binary.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes: 0 success, 1 failure (including an invalid config), 2 wrong
// usage.
const (
	exitFailure = 1
	exitUsage   = 2
)

type usageError struct{ error }

func main() {
	version = buildVersion()
	root := &cobra.Command{
		Version:       version, // --version prints "vpcmesh version <version>", as `vpcmesh version` does
		Use:           "vpcmesh",
		Short:         "Overlay mesh router linking VPCs and office networks over WireGuard",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(checkCmd(), keygenCmd(), runCmd(), statusCmd(), routesCmd(), graphCmd(), pingCmd(), doctorCmd(), caCmd(), versionCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vpcmesh:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit status for a command's error.
func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return exitUsage
	}
	return exitFailure
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
