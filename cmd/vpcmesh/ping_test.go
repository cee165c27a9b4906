package main

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// The help shows the count as -n: -c is the config file.
func TestPingHelpNamesCountFlag(t *testing.T) {
	var out strings.Builder
	cmd := pingCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	if strings.Contains(help, "-c COUNT") || !strings.Contains(help, "[-n COUNT]") {
		t.Errorf("help does not show the count as -n COUNT:\n%s", help)
	}
	if !strings.Contains(help, "-c, --config") || !strings.Contains(help, "-n, --count") {
		t.Errorf("help lacks the flags:\n%s", help)
	}
}

// ping GW -c 2, meaning a count, is refused as wrong usage naming -c,
// with or without -s, before anything is sent.
func TestPingConfigFlagNotAFile(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no.sock")
	for _, args := range [][]string{
		{"gw", "-c", "2", "-s", sock},
		{"gw", "-c", "2"},
		{"gw", "--config", "2", "-n", "1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := pingCmd()
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(args)
			err := cmd.Execute()
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("error %v, want a usage error", err)
			}
			msg := err.Error()
			for _, want := range []string{"-c 2", "config file", "-n COUNT"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
	t.Run("count below 1", func(t *testing.T) {
		cmd := pingCmd()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"gw", "-n", "0", "-s", sock})
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "-n 0") {
			t.Errorf("error %v, want one naming -n 0", err)
		}
	})
}
