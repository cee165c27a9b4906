// Package lab builds throw-away networks out of Linux network namespaces for
// vpcmesh's end-to-end tests, benchmarks and demo (docs/ARCHITECTURE.md, The
// lab): namespaces stand for the internet, NAT routers, gateways and hosts,
// veth pairs are the wires, bridges are the LANs and nftables is the NAT.
//
// Everything a lab creates lives inside namespaces named "vm<ID>-<role>",
// with a random ID per run, so that parallel runs never collide and nothing
// is ever created in, or routed through, the machine's own namespace. Close
// removes all of it, also after a setup that failed half way.
//
// Needs root.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// setupTimeout bounds one setup command (ip, nft, sysctl); they take
// milliseconds, so hitting it means something hangs.
const setupTimeout = 30 * time.Second

// Lab is one run's set of namespaces and processes.
type Lab struct {
	ID  string // random, 6 hex digits; part of every namespace name
	Dir string // configs, keys and process logs of this run

	logf func(format string, args ...any)

	mu         sync.Mutex // guards what follows up to inetMu
	namespaces []*NS
	procs      []*Proc
	files      []string // outside Dir, removed by Close (UAPI sockets)
	ports      int      // numbers bridge ports, so their names stay unique
	keep       bool
	closed     bool

	inetMu sync.Mutex
	inet   *NS // made by the first Internet call
}

// New makes an empty lab with a fresh ID and temp dir. logf receives a line
// per setup step; it may be nil.
func New(logf func(format string, args ...any)) (*Lab, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(b[:])
	dir, err := os.MkdirTemp("", "vpcmesh-lab-"+id+"-")
	if err != nil {
		return nil, fmt.Errorf("lab dir: %w", err)
	}
	l := &Lab{ID: id, Dir: dir, logf: logf}
	if err := l.writeOwner(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lab owner: %w", err)
	}
	return l, nil
}

// prefix starts the name of every namespace of this lab.
func (l *Lab) prefix() string { return "vm" + l.ID + "-" }

// Keep makes Close leave the namespaces, processes and Dir in place for
// exploring (demo --keep); Close then prints how to remove them.
func (l *Lab) Keep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keep = true
}

// Close kills every process the lab started, deletes every namespace whose
// name carries this lab's prefix (also ones whose setup failed before they
// were recorded) and removes Dir. It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs, files, keep := l.procs, l.files, l.keep
	l.mu.Unlock()
	if keep {
		return l.leave()
	}
	var errs []error
	for _, p := range procs {
		if err := p.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range slices.Backward(files) { // a directory after what is in it
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, l.deleteNamespaces()...)
	if err := os.RemoveAll(l.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteNamespaces removes this lab's namespaces, newest first, and checks
// that none is left.
func (l *Lab) deleteNamespaces() []error {
	names, err := l.listNamespaces()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if _, err := run("ip", "netns", "del", names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if left, err := l.listNamespaces(); err != nil || len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left after close: %v %v", left, err))
	}
	return errs
}

// listNamespaces returns this lab's namespaces in creation order as far as
// the lab recorded them, then any it did not record.
func (l *Lab) listNamespaces() ([]string, error) {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], l.prefix()) {
			present[f[0]] = true
		}
	}
	var names []string
	l.mu.Lock()
	for _, n := range l.namespaces {
		if present[n.Name] {
			names = append(names, n.Name)
			delete(present, n.Name)
		}
	}
	l.mu.Unlock()
	for name := range present {
		names = append(names, name)
	}
	return names, nil
}

// setupCtx bounds a setup step that has no context of its own.
func setupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), setupTimeout)
}
