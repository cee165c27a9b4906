package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Proc is a long-running process inside a namespace. Its stdout and stderr
// go to Dir/<name>.log; a process started again under the same name appends
// to that file, and Log returns only its own part.
type Proc struct {
	Name    string
	cmd     *exec.Cmd
	logPath string
	logFrom int64
	done    chan struct{} // closed once the process has been reaped
	err     error         // Wait's result, valid after done
}

// Start runs a long-running process inside the namespace. The lab kills it
// on Close.
func (n *NS) Start(name string, args ...string) (*Proc, error) {
	return n.start(name, nil, args...)
}

// StartEnv is Start with extra environment variables ("K=V").
func (n *NS) StartEnv(name string, env []string, args ...string) (*Proc, error) {
	return n.start(name, env, args...)
}

// start is Start with extra environment variables ("K=V").
func (n *NS) start(name string, env []string, args ...string) (*Proc, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || len(args) == 0 {
		return nil, fmt.Errorf("start %q %q: want a plain name and a command", name, args)
	}
	p := &Proc{Name: name, logPath: filepath.Join(n.lab.Dir, name+".log"), done: make(chan struct{})}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child keeps its own copy
	if st, err := log.Stat(); err == nil {
		p.logFrom = st.Size()
	}
	// `ip netns exec` execs the command, so the pid is the command's own.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.Env = append(os.Environ(), env...)
	// Its own process group, so that Kill also reaches what it forks.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.lab.addProc(p); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", n.Role, name, err)
	}
	go p.wait()
	n.lab.logf("lab %s: %s started in %s (pid %d): %s", n.lab.ID, name, n.Role, p.Pid(), strings.Join(args, " "))
	return p, nil
}

// addProc records p so Close kills it; a closed lab starts nothing.
func (l *Lab) addProc(p *Proc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("lab %s is closed", l.ID)
	}
	l.procs = append(l.procs, p)
	return nil
}

func (p *Proc) wait() {
	p.err = p.cmd.Wait()
	close(p.done)
}

// Pid is the process id (0 before it started).
func (p *Proc) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	if p.cmd.Process == nil {
		return true // never started
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill is kill -9 of the process group; it returns once the process is
// reaped. Killing an ended process is not an error.
func (p *Proc) Kill() error {
	if p.Exited() {
		return nil
	}
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", p.Name, p.Pid())
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to end, then
// kills it. It returns nil only for a clean end: exit status 0, or death by
// that SIGTERM. A process that had already failed is reported as such.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return p.endError("had already exited")
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.endError("stopped")
	case <-time.After(timeout):
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not stop within %v of SIGTERM; killed\n%s", p.Name, timeout, p.tail())
}

// Signal sends sig to the process group, e.g. SIGHUP to reload.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return p.endError("had already exited")
	}
	p.signal(sig)
	return nil
}

// signal signals the whole process group.
func (p *Proc) signal(sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid(), sig); err != nil {
		p.cmd.Process.Signal(sig) // group gone: the leader alone
	}
}

// endError judges how an ended process ended.
func (p *Proc) endError(what string) error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	if p.err != nil {
		return fmt.Errorf("%s %s: %w\n%s", p.Name, what, p.err, p.tail())
	}
	return nil
}

// Log returns what the process wrote to stdout and stderr so far.
func (p *Proc) Log() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if _, err := f.Seek(p.logFrom, io.SeekStart); err != nil {
		return fmt.Sprintf("(log: %v)", err)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// tail is the end of the log, for error messages.
func (p *Proc) tail() string { return cut(p.Log(), 4000) }

// cut keeps the last max bytes of s.
func cut(s string, max int) string {
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

// Tails is the end of every process's log, for a failed test to show what
// its processes said last. Each process's part is cut to max bytes.
func (l *Lab) Tails(max int) string {
	l.mu.Lock()
	procs := slices.Clone(l.procs)
	l.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "--- %s (pid %d) ---\n%s", p.Name, p.Pid(), cut(p.Log(), max))
	}
	return b.String()
}
