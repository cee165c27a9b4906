package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// leave is Close after Keep: it writes Dir/cleanup.sh, which does what
// Close would have done, and prints how to explore and remove the lab.
func (l *Lab) leave() error {
	names, err := l.listNamespaces()
	if err != nil {
		return err
	}
	// A kept lab is the operator's now: never swept as stale.
	if err := os.Remove(filepath.Join(l.Dir, ownerFile)); err != nil {
		return err
	}
	script := filepath.Join(l.Dir, "cleanup.sh")
	if err := os.WriteFile(script, []byte(l.cleanupScript(names)), 0o700); err != nil {
		return err
	}
	msg := fmt.Sprintf("lab %s kept: namespaces %s\n"+
		"  explore: ip netns exec %s<role> <command>; logs and configs in %s\n"+
		"  remove:  sh %s\n", l.ID, strings.Join(names, " "), l.prefix(), l.Dir, script)
	l.logf("%s", msg)
	fmt.Fprint(os.Stdout, msg)
	return nil
}

// cleanupScript kills everything running in the lab's namespaces (what the
// lab started runs there; a kept lab may run a while, so a recorded pid may
// have been reused and is not trusted), then removes the sockets, the
// namespaces and Dir.
func (l *Lab) cleanupScript(names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# Removes vpcmesh lab %s.\n", l.ID)
	for _, n := range names {
		fmt.Fprintf(&b, "ip netns pids %s | xargs -r kill -9\n", n)
	}
	l.mu.Lock()
	for _, f := range slices.Backward(l.files) {
		fmt.Fprintf(&b, "rm -fd %s\n", shellQuote(f))
	}
	l.mu.Unlock()
	for _, n := range names {
		fmt.Fprintf(&b, "ip netns del %s\n", n)
	}
	fmt.Fprintf(&b, "rm -rf %s\n", shellQuote(l.Dir))
	return b.String()
}

// shellQuote quotes a path for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
