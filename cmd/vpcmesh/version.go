package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the gateway's version: set at build with
// -ldflags "-X main.version=v1.2.3" (cmd/release.sh does), else the module
// version Go recorded in the binary, else "devel". See buildVersion.
var version string

// buildVersion is version when stamped, else the main module's version
// from the build info, else "devel".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vpcmesh version %s\n", version)
			return err
		},
	}
}
