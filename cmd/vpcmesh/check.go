package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/configs"
)

func checkCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "check -c FILE [-c FILE...]",
		Short: "Validate config files without touching the system",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError{errors.New("check: give at least one -c FILE")}
			}
			bad := 0
			for _, f := range files {
				cfg, err := configs.Load(f)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				for _, w := range cfg.Warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), w)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", f)
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d config files invalid", bad, len(files))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "config", "c", nil, "config file to check (repeatable)")
	return cmd
}
