package lab

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile in a lab's Dir holds the pid of the process that made it, so a
// later lab can tell a run that died without closing (SIGKILL, go test
// -timeout) from one still running. A kept lab drops the file: it is the
// operator's until its cleanup.sh runs.
const ownerFile = "owner.pid"

func (l *Lab) writeOwner() error {
	return os.WriteFile(filepath.Join(l.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// SweepStale removes every lab whose owner process is gone: it kills what
// still runs in its namespaces, then closes it as its owner would have.
// It returns how many labs it removed.
func SweepStale(logf func(format string, args ...any)) (int, error) {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "vpcmesh-lab-*"))
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, dir := range dirs {
		id, ok := staleLab(dir)
		if !ok {
			continue
		}
		stale := &Lab{ID: id, Dir: dir, logf: logf}
		errs = append(errs, stale.killResidents())
		errs = append(errs, stale.Close())
		logf("removed stale lab %s", id)
		n++
	}
	return n, errors.Join(errs...)
}

// staleLab reports the lab ID of dir when its owner pid is dead.
func staleLab(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return "", false // kept, or not a lab
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
		return "", false
	}
	id, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), "vpcmesh-lab-"), "-")
	return id, ok && id != ""
}

// killResidents kills every process inside the lab's namespaces; deleting a
// namespace alone would leave them running.
func (l *Lab) killResidents() error {
	names, err := l.listNamespaces()
	if err != nil {
		return err
	}
	for _, name := range names {
		out, _ := run("ip", "netns", "pids", name)
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return nil
}
