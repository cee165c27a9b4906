package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/routing/doctor"
)

// doctorTimeout bounds a whole doctor run; a check that waits on something
// (the control socket, later a cloud API) gives up with it.
const doctorTimeout = 30 * time.Second

func doctorCmd() *cobra.Command { return newDoctorCmd(localDoctor) }

// newDoctorCmd builds `doctor` around a function listing the checks for a
// config file, so tests can give it fakes.
func newDoctorCmd(checks func(file string) doctor.Doctor) *cobra.Command {
	var file string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [-c FILE] [--json]",
		Short: "Check this machine's prerequisites for a gateway and print the fix for each failure",
		Long: "Checks, without changing anything: the config loads, IPv4 forwarding, reverse-path\n" +
			"filtering on the links the gateway forwards across, the TUN device, the WireGuard UDP\n" +
			"port and the tunnel MTU against the underlay's. Exits 1 when any check fails.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), doctorTimeout)
			defer cancel()
			r := checks(file).Run(ctx)
			write := r.WriteTable
			if asJSON {
				write = r.WriteJSON
			}
			if err := write(cmd.OutOrStdout()); err != nil {
				return err
			}
			return r.Err()
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "/etc/vpcmesh/vpcmesh.toml", "config file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
