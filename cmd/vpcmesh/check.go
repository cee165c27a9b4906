package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/configs"
)

func checkCmd() *cobra.Command {
	var args []string
	cmd := &cobra.Command{
		Use:   "check -c FILE|DIR [-c FILE|DIR...]",
		Short: "Validate config files without touching the system",
		Long: `Validate config files without touching the system. -c DIR takes every *.toml
in DIR. Given several files, check also reports what they get wrong together:
the same node name or overlay address, overlapping wire prefixes, gateways of
one site declaring different cidrs, and (a warning) mesh.join addresses that
are no gateway's node.public_endpoint among them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(args) == 0 {
				return usageError{errors.New("check: give at least one -c FILE or -c DIR")}
			}
			files, err := configFiles(args)
			if err != nil {
				return err
			}
			bad := 0
			var loaded []*configs.Config
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
				loaded = append(loaded, cfg)
			}
			var conflicts []*configs.FieldError
			if len(loaded) > 1 {
				var warns []*configs.FieldError
				conflicts, warns = configs.Conflicts(loaded)
				for _, e := range append(warns, conflicts...) {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
			}
			switch {
			case bad > 0:
				return fmt.Errorf("%d of %d config files invalid", bad, len(files))
			case len(conflicts) > 0:
				return fmt.Errorf("%d conflicts between the %d config files", len(conflicts), len(files))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&args, "config", "c", nil, "config file, or directory of *.toml files, to check (repeatable)")
	return cmd
}

// configFiles expands each directory among args into the *.toml files in
// it, in name order, and drops files named twice.
func configFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil || !fi.IsDir() {
			files = append(files, a) // Load reports what is wrong with it
			continue
		}
		matches, err := filepath.Glob(filepath.Join(a, "*.toml"))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("check: %s: a directory without *.toml files", a)
		}
		files = append(files, matches...) // Glob sorts them
	}
	var out []string
	for _, f := range files {
		if !slices.ContainsFunc(out, func(o string) bool { return filepath.Clean(o) == filepath.Clean(f) }) {
			out = append(out, f)
		}
	}
	return out, nil
}
