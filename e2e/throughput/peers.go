package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// errNotInstalled marks a leg whose binaries are not on this machine: the
// leg is skipped, not failed, since e2e/setup.sh (and so CI) does not build
// them.
var errNotInstalled = errors.New("not installed: run e2e/setup-peers.sh")

// findPeer finds a peer's binary the way lab.FindReferenceWireGuard finds
// wireguard-go: $(go env GOPATH)/bin/<name>, where e2e/setup-peers.sh
// installs it, else <name> on PATH.
func findPeer(name string) (string, error) {
	if p := filepath.Join(lab.GoPath(), "bin", name); isExecutable(p) {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s %w", name, errNotInstalled)
}

// findPeers finds every one of names, in order.
func findPeers(names ...string) ([]string, error) {
	paths := make([]string, len(names))
	for i, n := range names {
		p, err := findPeer(n)
		if err != nil {
			return nil, err
		}
		paths[i] = p
	}
	return paths, nil
}

// peerVersion is the version e2e/setup-peers.sh recorded beside the binary
// as .<stamp>-version (a `go install`ed binary has no VCS stamp, so its own
// --version may not say), else the first line the binary prints for args.
func peerVersion(bin, stamp string, args ...string) string {
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "."+stamp+"-version")); err == nil {
		return strings.TrimSpace(string(b))
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
