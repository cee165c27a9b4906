package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// command runs argv with stdin as its input and returns the combined output;
// the error names the command and carries the output.
func command(ctx context.Context, stdin string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	// A child that outlives a cancelled command must not hold us on its
	// output pipe.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// run is a setup command, bounded by setupTimeout.
func run(argv ...string) (string, error) {
	ctx, cancel := setupCtx()
	defer cancel()
	return command(ctx, "", argv...)
}
